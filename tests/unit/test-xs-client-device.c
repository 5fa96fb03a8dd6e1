/* The xenstore client on the kernel device (/dev/xen/xenbus): one request out at a time.
 * Linux sends a request's payload later, from its per-file buffer, and the next write()
 * reuses that buffer, so a second request before the first one's reply can mangle it
 * (found on a real Xen host, docs/e2e.md). A SEQPACKET socketpair stands in for the
 * device: one write() is one message, as there. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "pvic/macro.h"
#include "pvic/xs_client.h"
#include "pvic/xs_wire.h"

struct fixture {
        sd_event *e;
        struct xs_client *c;
        int peer;
        int replies[8];
        unsigned n_replies;
};

static void on_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct fixture *f = userdata;
        ck_assert_uint_lt(f->n_replies, ELEMENTSOF(f->replies));
        f->replies[f->n_replies++] = r->error;
}

static void settle(struct fixture *f) {
        /* Run what is ready; nothing here waits on a timer. */
        for (int i = 0; i < 20; i++)
                ck_assert_int_ge(sd_event_run(f->e, 0), 0);
}

/* The messages the "device" received since the last call; the last one's header in *h. */
static int take_requests(struct fixture *f, struct xs_header *h) {
        int n = 0;
        uint8_t buf[XS_HEADER_SIZE + XS_PAYLOAD_MAX];
        for (;;) {
                ssize_t k = recv(f->peer, buf, sizeof buf, MSG_DONTWAIT);
                if (k < 0) {
                        ck_assert_int_eq(errno, EAGAIN);
                        return n;
                }
                ck_assert_int_ge(k, XS_HEADER_SIZE);
                xs_header_decode(buf, h);
                ck_assert_uint_eq(XS_HEADER_SIZE + h->len, (size_t)k);
                n++;
        }
}

static void answer(struct fixture *f, const struct xs_header *req, uint32_t type, const char *payload) {
        uint8_t buf[XS_HEADER_SIZE + 64];
        struct xs_header h = { type, req->req_id, req->tx_id, (uint32_t)strlen(payload) + 1 };
        xs_header_encode(buf, &h);
        memcpy(buf + XS_HEADER_SIZE, payload, h.len);
        ck_assert_int_eq(send(f->peer, buf, XS_HEADER_SIZE + h.len, 0), (ssize_t)(XS_HEADER_SIZE + h.len));
}

static void setup(struct fixture *f, bool is_device) {
        *f = (struct fixture){ 0 };
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        ck_assert_int_ge(sd_event_new(&f->e), 0);
        ck_assert_int_eq(xs_client_new_fd(&f->c, f->e, sv[0], is_device, NULL, NULL), 0);
        f->peer = sv[1];
}

static void teardown(struct fixture *f) {
        xs_client_free(f->c);
        close(f->peer);
        sd_event_unref(f->e);
}

START_TEST(test_device_one_request_at_a_time) {
        struct fixture f;
        setup(&f, true);
        const char *paths[] = { "data/os_name", "data/os_distro", "attr/vif/0/ipv4/0" };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                ck_assert_int_eq(xs_write(f.c, 0, paths[i], "v", on_reply, &f), 0);
        struct xs_header h;
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                settle(&f);
                ck_assert_int_eq(take_requests(&f, &h), 1); /* never the next before this reply */
                ck_assert_uint_eq(h.type, XS_WRITE);
                ck_assert_uint_eq(f.n_replies, i);
                answer(&f, &h, i == 1 ? XS_ERROR : XS_WRITE, i == 1 ? "EACCES" : "OK");
        }
        settle(&f);
        ck_assert_int_eq(take_requests(&f, &h), 0);
        ck_assert_uint_eq(f.n_replies, 3);
        ck_assert_int_eq(f.replies[0], 0);
        ck_assert_int_eq(f.replies[1], EACCES);
        ck_assert_int_eq(f.replies[2], 0);
        teardown(&f);
}
END_TEST

START_TEST(test_socket_pipelines) {
        /* xenstored's socket has no such buffer: requests go out together there. */
        struct fixture f;
        setup(&f, false);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(xs_write(f.c, 0, "data/x", "v", on_reply, &f), 0);
        settle(&f);
        uint8_t buf[1024];
        ssize_t k = recv(f.peer, buf, sizeof buf, MSG_DONTWAIT);
        ck_assert_int_gt(k, 0);
        int frames = 0;
        struct xs_header h;
        for (size_t off = 0; off < (size_t)k; frames++) {
                ssize_t m = xs_frame_next(buf + off, (size_t)k - off, XS_PAYLOAD_MAX, &h);
                ck_assert_int_gt(m, 0);
                off += (size_t)m;
        }
        ck_assert_int_eq(frames, 3);
        teardown(&f);
}
END_TEST

int main(void) {
        Suite *s = suite_create("xs_client_device");
        TCase *tc = tcase_create("device");
        tcase_add_test(tc, test_device_one_request_at_a_time);
        tcase_add_test(tc, test_socket_pipelines);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
