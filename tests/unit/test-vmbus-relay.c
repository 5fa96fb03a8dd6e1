/* The KVP relay runtime against a simulated kernel end (a SEQPACKET socket at the device
 * path, decision 6): registration, one answer per request, failure answers for
 * undecodable messages, and reopen + re-registration after hang-ups and short reads. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvic/kvp_msg.h"
#include "pvic/log.h"
#include "pvic/vmbus_ic.h"
#include "pvic/vmbus_relay.h"

static char dir[64], path[128];
static int lfd = -1;
static sd_event *ev;
static struct vmbus_relay *relay;
static unsigned calls;
static uint8_t msg[KVP_MSG_SIZE];

static void handler(void *userdata, const struct host_kvp_request *req, struct host_kvp_reply *reply) {
        calls++;
        ck_assert_ptr_eq(userdata, &calls);
        if (req->op == HOST_KVP_ENUMERATE && req->index == 0) {
                reply->status = HOST_STATUS_OK;
                snprintf(reply->key, sizeof reply->key, "k%u", req->pool);
                snprintf(reply->value, sizeof reply->value, "v");
        } else
                reply->status = HOST_STATUS_NOT_FOUND;
}

static void setup(void) {
        log_set_target_journal(0);
        log_set_max_level(LOG_ERR);
        strcpy(dir, "/tmp/pvic-test-relay.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/hv_kvp", dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(lfd, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(listen(lfd, 4), 0);
        ck_assert_int_ge(sd_event_new(&ev), 0);
        calls = 0;
        ck_assert_int_eq(vmbus_relay_new(&relay, ev, path, handler, &calls), 0);
}

static void teardown(void) {
        relay = vmbus_relay_free(relay);
        ev = sd_event_unref(ev);
        close(lfd);
        unlink(path);
        rmdir(dir);
}

/* Turns the loop until fd is readable (the relay did something), at most ~3 s. */
static void loop_until_readable(int fd) {
        for (int i = 0; i < 300; i++) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 0) == 1)
                        return;
                ck_assert_int_ge(sd_event_run(ev, 10000), 0);
        }
        ck_abort_msg("nothing arrived");
}

static int accept_registered(void) {
        loop_until_readable(lfd);
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(c, 0);
        loop_until_readable(c);
        ck_assert_int_eq(read(c, msg, sizeof msg), KVP_MSG_SIZE);
        ck_assert_int_eq(kvp_msg_decode_register(msg, sizeof msg), KVP_MSG_OP_REGISTER1);
        ck_assert_int_eq(kvp_msg_encode_registered(msg, "3.1"), 0);
        ck_assert_int_eq(write(c, msg, sizeof msg), KVP_MSG_SIZE);
        for (int i = 0; i < 50 && !vmbus_relay_is_registered(relay); i++)
                sd_event_run(ev, 10000);
        ck_assert(vmbus_relay_is_registered(relay));
        ck_assert_str_eq(vmbus_relay_version(relay), "3.1");
        return c;
}

static void request(int c, const struct host_kvp_request *req, struct host_kvp_reply *reply) {
        ck_assert_int_eq(kvp_msg_encode_request(msg, req), 0);
        ck_assert_int_eq(write(c, msg, sizeof msg), KVP_MSG_SIZE);
        loop_until_readable(c);
        ck_assert_int_eq(read(c, msg, sizeof msg), KVP_MSG_SIZE);
        ck_assert_int_eq(kvp_msg_decode_reply(msg, sizeof msg, req->op, reply), 0);
}

START_TEST(test_register_and_answer) {
        static struct host_kvp_request req = { .op = HOST_KVP_ENUMERATE, .pool = 1 };
        static struct host_kvp_reply reply;
        int c = accept_registered();
        request(c, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_OK);
        ck_assert_str_eq(reply.key, "k1");
        req.index = 1;
        request(c, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_NOT_FOUND);
        ck_assert_uint_eq(calls, 2);
        ck_assert_uint_eq(vmbus_relay_n_requests(relay), 2);
        close(c);
}
END_TEST

START_TEST(test_undecodable_gets_failure) {
        int c = accept_registered();
        /* A SET whose key has no NUL inside its field. */
        memset(msg, 'A', sizeof msg);
        msg[0] = HOST_KVP_SET;
        msg[1] = 0;
        ck_assert_int_eq(write(c, msg, sizeof msg), KVP_MSG_SIZE);
        loop_until_readable(c);
        ck_assert_int_eq(read(c, msg, sizeof msg), KVP_MSG_SIZE);
        ck_assert_uint_eq(msg[0] | msg[1] << 8 | msg[2] << 16 | (uint32_t)msg[3] << 24, VMBUS_IC_E_FAIL);
        ck_assert_uint_eq(calls, 0);
        /* An unknown operation too; the relay keeps going. */
        memset(msg, 0, sizeof msg);
        msg[0] = 42;
        ck_assert_int_eq(write(c, msg, sizeof msg), KVP_MSG_SIZE);
        loop_until_readable(c);
        ck_assert_int_eq(read(c, msg, sizeof msg), KVP_MSG_SIZE);
        ck_assert_uint_eq(msg[3], 0x80);
        ck_assert_uint_eq(vmbus_relay_n_opens(relay), 1);
        close(c);
}
END_TEST

START_TEST(test_reopen_after_hangup_and_short_read) {
        static struct host_kvp_request req = { .op = HOST_KVP_ENUMERATE, .pool = 3 };
        static struct host_kvp_reply reply;
        int c = accept_registered();
        close(c); /* the kernel side goes away (rescind, resume) */
        c = accept_registered();
        ck_assert_uint_eq(vmbus_relay_n_opens(relay), 2);
        /* Out of step: a short message. */
        ck_assert_int_eq(write(c, msg, 100), 100);
        int c2 = accept_registered();
        ck_assert_uint_eq(vmbus_relay_n_opens(relay), 3);
        close(c);
        request(c2, &req, &reply);
        ck_assert_str_eq(reply.key, "k3");
        close(c2);
}
END_TEST

START_TEST(test_missing_device_is_retried) {
        /* No listener yet: the relay keeps trying with backoff instead of failing. */
        struct vmbus_relay *r2 = NULL;
        char p2[160];
        snprintf(p2, sizeof p2, "%s/absent", dir);
        ck_assert_int_eq(vmbus_relay_new(&r2, ev, p2, handler, &calls), 0);
        for (int i = 0; i < 5; i++)
                sd_event_run(ev, 1000);
        ck_assert(!vmbus_relay_is_registered(r2));
        ck_assert_uint_eq(vmbus_relay_n_opens(r2), 0);
        vmbus_relay_free(r2);
        int c = accept_registered();
        close(c);
}
END_TEST

static Suite *relay_suite(void) {
        Suite *s = suite_create("vmbus-relay");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_register_and_answer);
        tcase_add_test(tc, test_undecodable_gets_failure);
        tcase_add_test(tc, test_reopen_after_hangup_and_short_read);
        tcase_add_test(tc, test_missing_device_is_retried);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(relay_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
