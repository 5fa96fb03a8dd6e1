/* One uio-owned IC channel against a host played by the test (a SEQPACKET socket at the
 * uio path and a ring file, decision 6): negotiation, replies in place with the
 * request's transaction id, foreign message types failed, garbage resetting the
 * channel (which then reopens and renegotiates), and a full TX ring dropping replies
 * instead of blocking. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvic/log.h"
#include "pvic/vmbus_channel.h"
#include "pvic/vmbus_ic.h"
#include "pvic/vmbus_ring.h"

#define RING 16384u
#define PAGE 4096u

static char dir[64], dev[128], ringp[128];
static int lfd = -1, conn = -1;
static sd_event *ev;
static struct vmbus_channel *ch;
static void *mem;
static struct vmbus_channel_rings rings; /* guest view: host sends into rx, reads tx */
static unsigned handled;
static uint8_t buf[VMBUS_IC_MAX_PAYLOAD];

static int handler(struct vmbus_channel *c, uint8_t *pkt, size_t len, const struct vmbus_ic_header *h,
                   void *userdata) {
        struct host_heartbeat hb;
        handled++;
        if (vmbus_ic_heartbeat_decode(pkt, len, &hb) < 0)
                return -EBADMSG;
        vmbus_ic_heartbeat_reply(pkt, len, vmbus_channel_msgver(c), &hb, HOST_APP_HEALTHY);
        return 1;
}

static void setup(void) {
        log_set_target_journal(0);
        log_set_max_level(LOG_CRIT);
        strcpy(dir, "/tmp/pvic-test-chan.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(dev, sizeof dev, "%s/uio0", dir);
        snprintf(ringp, sizeof ringp, "%s/ring", dir);
        int fd = open(ringp, O_RDWR | O_CREAT, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 2 * RING), 0);
        mem = mmap(NULL, 2 * RING, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert_ptr_ne(mem, MAP_FAILED);
        ck_assert_int_eq(vmbus_channel_rings_init(&rings, mem, RING, PAGE), 0);
        vmbus_ring_reset(&rings.tx);
        vmbus_ring_reset(&rings.rx);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, dev);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
        ck_assert_int_eq(listen(lfd, 4), 0);
        ck_assert_int_ge(sd_event_new(&ev), 0);
        handled = 0;
        struct vmbus_channel_config cfg = {
                .name = "heartbeat", .type = VMBUS_IC_HEARTBEAT, .versions = &vmbus_ic_heartbeat_versions,
                .dev_path = dev, .ring_path = ringp, .ring_size = RING, .page_size = PAGE,
        };
        ck_assert_int_eq(vmbus_channel_new(&ch, ev, &cfg, handler, NULL), 0);
}

static void teardown(void) {
        ch = vmbus_channel_free(ch);
        ev = sd_event_unref(ev);
        if (conn >= 0)
                close(conn);
        conn = -1;
        close(lfd);
        munmap(mem, 2 * RING);
        unlink(dev);
        unlink(ringp);
        rmdir(dir);
}

static void spin(int n) {
        for (int i = 0; i < n; i++)
                sd_event_run(ev, 2000);
}

/* The host side of "open": accept, fresh rings. */
static void host_accept(void) {
        for (int i = 0; i < 300 && conn < 0; i++) {
                conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (conn < 0)
                        sd_event_run(ev, 10000);
        }
        ck_assert_int_ge(conn, 0);
        vmbus_ring_reset(&rings.tx);
        vmbus_ring_reset(&rings.rx);
}

static void host_send(const uint8_t *p, size_t len, uint64_t trans_id) {
        struct iovec iov = { (void *)p, len };
        ck_assert_int_ge(vmbus_ring_send(&rings.rx, VMBUS_PKT_DATA_INBAND, 0, trans_id, &iov, 1), 0);
        uint32_t one = 1;
        ck_assert_int_eq(write(conn, &one, 4), 4); /* always signal: simpler than the rule */
}

/* Next reply from the guest, 0 if none within a few loop turns. */
static size_t host_recv(uint64_t *trans_id) {
        struct vmbus_packet pkt;
        for (int i = 0; i < 50; i++) {
                int r = vmbus_ring_recv(&rings.tx, &pkt, buf, sizeof buf);
                ck_assert_int_ge(r, 0);
                if (r > 0) {
                        vmbus_ring_recv_commit(&rings.tx);
                        if (trans_id)
                                *trans_id = pkt.trans_id;
                        return pkt.payload_len;
                }
                sd_event_run(ev, 10000);
        }
        return 0;
}

static void negotiate(void) {
        static const struct vmbus_ic_version fw[] = { { 1, 0 }, { 3, 0 } }, mv[] = { { 1, 0 }, { 3, 0 } };
        uint8_t req[256];
        ssize_t len = vmbus_ic_negotiate_request(req, sizeof req, fw, 2, mv, 2);
        ck_assert_int_gt(len, 0);
        host_send(req, (size_t)len, 7);
        uint64_t tid = 0;
        size_t n = host_recv(&tid);
        ck_assert_uint_eq(n, (size_t)((len + 7) & ~7));
        ck_assert_uint_eq(tid, 7);
        struct vmbus_ic_version f, m;
        ck_assert_int_eq(vmbus_ic_negotiate_reply_decode(buf, n, &f, &m), 1);
        ck_assert_uint_eq(m.major, 3);
        ck_assert(vmbus_channel_is_negotiated(ch));
}

static uint64_t heartbeat(uint64_t seq, bool expect_reply) {
        uint8_t req[128];
        ssize_t len = vmbus_ic_heartbeat_request(req, sizeof req, VMBUS_IC_VERSION(3, 0), seq);
        host_send(req, (size_t)len, seq);
        if (!expect_reply) {
                spin(3);
                return 0;
        }
        uint64_t tid, got;
        uint32_t app;
        size_t n = host_recv(&tid);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_eq(tid, seq);
        ck_assert_int_ge(vmbus_ic_heartbeat_reply_decode(buf, n, &got, &app), 0);
        return got;
}

START_TEST(test_negotiate_and_answer) {
        host_accept();
        negotiate();
        for (uint64_t s = 100; s < 150; s++)
                ck_assert_uint_eq(heartbeat(s, true), s + 1);
        ck_assert_uint_eq(handled, 50);

        /* A message of another IC's type is failed, not handed to the handler. */
        uint8_t req[128];
        struct host_kvp_request kr = { .op = HOST_KVP_ENUMERATE, .pool = 2 };
        static uint8_t kbuf[4096];
        ssize_t len = vmbus_ic_kvp_request(kbuf, sizeof kbuf, VMBUS_IC_VERSION(4, 0), &kr);
        ck_assert_int_gt(len, 0);
        host_send(kbuf, (size_t)len, 1);
        size_t n = host_recv(NULL);
        struct vmbus_ic_header h;
        ck_assert_int_eq(vmbus_ic_header_decode(buf, n, &h), 0);
        ck_assert_uint_eq(h.status, VMBUS_IC_E_FAIL);
        ck_assert_uint_eq(handled, 50);
        (void)req;
        ck_assert_uint_eq(vmbus_channel_n_resets(ch), 0);
}
END_TEST

START_TEST(test_garbage_resets_and_reopens) {
        host_accept();
        negotiate();
        /* Index beyond the data area. */
        __atomic_store_n(&rings.rx.ctrl->write_index, rings.rx.dsize + 8, __ATOMIC_RELEASE);
        uint32_t one = 1;
        ck_assert_int_eq(write(conn, &one, 4), 4);
        spin(3);
        ck_assert_uint_eq(vmbus_channel_n_resets(ch), 1);
        ck_assert(!vmbus_channel_is_negotiated(ch));
        /* The guest closed its end: the host sees EOF, then the reopen after backoff. */
        char c;
        for (int i = 0; i < 50 && read(conn, &c, 1) != 0; i++)
                spin(1);
        close(conn);
        conn = -1;
        /* uio's open() gives fresh control pages synchronously; ours is asynchronous,
         * so clean the rings before the guest can reopen (as pvic-hostsim does). */
        vmbus_ring_reset(&rings.tx);
        vmbus_ring_reset(&rings.rx);
        host_accept();
        ck_assert_uint_eq(vmbus_channel_n_opens(ch), 2);
        negotiate();
        ck_assert_uint_eq(heartbeat(5, true), 6);

        /* A body too short for a heartbeat: the handler says -EBADMSG, channel resets. */
        uint8_t req[64];
        ssize_t len = vmbus_ic_heartbeat_request(req, sizeof req, VMBUS_IC_VERSION(3, 0), 1);
        struct vmbus_ic_header h;
        vmbus_ic_header_decode(req, (size_t)len, &h);
        h.msgsize = 0;
        h.pipe_size = VMBUS_IC_HDR_SIZE - VMBUS_PIPE_HDR_SIZE;
        vmbus_ic_header_encode(req, &h);
        host_send(req, VMBUS_IC_HDR_SIZE, 9);
        spin(3);
        ck_assert_uint_eq(vmbus_channel_n_resets(ch), 2);
}
END_TEST

START_TEST(test_full_tx_drops) {
        host_accept();
        negotiate();
        /* The host stops reading our replies: we keep consuming requests, drop replies. */
        unsigned before = handled;
        for (uint64_t s = 1; s <= 400; s++) {
                uint8_t req[128];
                ssize_t len = vmbus_ic_heartbeat_request(req, sizeof req, VMBUS_IC_VERSION(3, 0), s);
                struct iovec iov = { req, (size_t)len };
                if (vmbus_ring_send(&rings.rx, VMBUS_PKT_DATA_INBAND, 0, s, &iov, 1) < 0) {
                        spin(2);
                        continue;
                }
                uint32_t one = 1;
                /* Counts may coalesce (EAGAIN), as uio's do. */
                ck_assert(write(conn, &one, 4) == 4 || errno == EAGAIN);
                if (s % 8 == 0)
                        spin(2);
        }
        spin(5);
        ck_assert_uint_gt(handled - before, 300);
        ck_assert_uint_gt(vmbus_channel_n_dropped(ch), 0);
        ck_assert_uint_eq(vmbus_channel_n_resets(ch), 0);
        /* Once the host reads again, replies flow again. */
        while (host_recv(NULL) > 0)
                ;
        ck_assert_uint_eq(heartbeat(1000, true), 1001);
}
END_TEST

static Suite *channel_suite(void) {
        Suite *s = suite_create("vmbus-channel");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_negotiate_and_answer);
        tcase_add_test(tc, test_garbage_resets_and_reopens);
        tcase_add_test(tc, test_full_tx_drops);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(channel_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
