/* VMBus ring buffer (spec §2): packets of every padding class written and read at every
 * 8-byte start offset of a small ring (so each wrap position of descriptor, payload and
 * trailer is crossed), batch commit, the never-full rule, both signalling rules, the
 * uio unmask race, and rejection of corrupt indices and descriptors. The producer and
 * consumer are two views of the same memory, as the guest and the host are. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/vmbus_ring.h"

#define CTRL 128u
#define DSIZE 256u

static void *mem;
static struct vmbus_ring prod, cons;

static void setup(void) {
        mem = aligned_alloc(8, CTRL + DSIZE);
        ck_assert_ptr_nonnull(mem);
        memset(mem, 0xa5, CTRL + DSIZE); /* stale bytes must never leak into packets */
        ck_assert_int_eq(vmbus_ring_init(&prod, mem, CTRL + DSIZE, CTRL), 0);
        ck_assert_int_eq(vmbus_ring_init(&cons, mem, CTRL + DSIZE, CTRL), 0);
        vmbus_ring_reset(&prod);
}

static void teardown(void) {
        free(mem);
}

static struct vmbus_ring_ctrl *ctl(void) { return mem; }
static uint8_t *data(void) { return (uint8_t *)mem + CTRL; }

static void set_indices(uint32_t r, uint32_t w) {
        ctl()->read_index = r;
        ctl()->write_index = w;
}

static uint64_t le64_at(uint32_t off) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | data()[(off + i) % DSIZE];
        return v;
}

static int send_bytes(const void *p, size_t n, uint64_t trans_id) {
        struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
        return vmbus_ring_send(&prod, VMBUS_PKT_DATA_INBAND, 0, trans_id, &iov, 1);
}

/* Writes a raw 16-byte descriptor at off (for corrupt-packet cases). */
static void put_desc(uint32_t off, uint16_t type, uint16_t offset8, uint16_t len8, uint16_t flags) {
        uint8_t d[16] = { (uint8_t)type, (uint8_t)(type >> 8), (uint8_t)offset8, (uint8_t)(offset8 >> 8),
                          (uint8_t)len8, (uint8_t)(len8 >> 8), (uint8_t)flags, (uint8_t)(flags >> 8) };
        for (int i = 0; i < 16; i++)
                data()[(off + i) % DSIZE] = d[i];
}

START_TEST(test_init_rejects) {
        struct vmbus_ring r;
        uint8_t *m = mem;

        ck_assert_int_eq(vmbus_ring_init(&r, m + 4, CTRL + DSIZE - 8, CTRL), -EINVAL);
        ck_assert_int_eq(vmbus_ring_init(&r, m, CTRL + DSIZE, 64), -EINVAL);
        ck_assert_int_eq(vmbus_ring_init(&r, m, CTRL + DSIZE, CTRL + 4), -EINVAL);
        ck_assert_int_eq(vmbus_ring_init(&r, m, CTRL, CTRL), -EINVAL);
        ck_assert_int_eq(vmbus_ring_init(&r, m, CTRL + 12, CTRL), -EINVAL);
        ck_assert_int_eq(vmbus_ring_init(&r, NULL, CTRL + DSIZE, CTRL), -EINVAL);
        ck_assert_int_eq(vmbus_ring_init(&r, m, CTRL + 8, CTRL), 0);
        ck_assert_uint_eq(r.dsize, 8);
}
END_TEST

START_TEST(test_reset_layout) {
        ck_assert_uint_eq(ctl()->write_index, 0);
        ck_assert_uint_eq(ctl()->read_index, 0);
        ck_assert_uint_eq(ctl()->interrupt_mask, 0);
        ck_assert_uint_eq(ctl()->pending_send_sz, 0);
        ck_assert_uint_eq(ctl()->feature_bits, 1);
        /* feature_bits lives at byte 64 of the control page */
        ck_assert_uint_eq(((uint8_t *)mem)[64], 1);
}
END_TEST

START_TEST(test_every_offset_every_size) {
        static const size_t sizes[] = { 0, 1, 7, 8, 9, 15, 16, 17, 63, 100, 224 };
        uint8_t in[232], out[232];

        for (size_t k = 0; k < ELEMENTSOF(sizes); k++)
                for (uint32_t start = 0; start < DSIZE; start += 8) {
                        size_t n = sizes[k], padded = (n + 7) / 8 * 8;
                        uint32_t total = (uint32_t)(16 + padded + 8);
                        struct vmbus_packet pkt;

                        memset(data(), 0xa5, DSIZE);
                        set_indices(start, start);
                        for (size_t i = 0; i < n; i++)
                                in[i] = (uint8_t)(start + i * 7 + k);

                        /* empty ring, consumer listening: signal */
                        ck_assert_int_eq(send_bytes(in, n, 0x1122334455667788ull + start), 1);
                        ck_assert_uint_eq(ctl()->write_index, (start + total) % DSIZE);
                        /* trailer: start offset in the high half */
                        ck_assert_uint_eq(le64_at((start + 16 + (uint32_t)padded) % DSIZE), (uint64_t)start << 32);

                        memset(out, 0xee, sizeof out);
                        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
                        ck_assert_uint_eq(pkt.type, VMBUS_PKT_DATA_INBAND);
                        ck_assert_uint_eq(pkt.flags, 0);
                        ck_assert(pkt.trans_id == 0x1122334455667788ull + start);
                        ck_assert_uint_eq(pkt.payload_len, padded);
                        if (n > 0)
                                ck_assert_mem_eq(out, in, n);
                        for (size_t i = n; i < padded; i++)
                                ck_assert_msg(out[i] == 0, "padding byte %zu at start %u", i, start);

                        /* Not visible to the producer before the commit. */
                        ck_assert_uint_eq(ctl()->read_index, start);
                        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 0);
                        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 0);
                        ck_assert_uint_eq(ctl()->read_index, ctl()->write_index);
                }
}
END_TEST

START_TEST(test_batch) {
        uint8_t out[64];
        struct vmbus_packet pkt;
        uint32_t n;

        set_indices(200, 200);
        ck_assert_int_eq(send_bytes("one", 3, 1), 1);
        ck_assert_int_eq(send_bytes("two!", 4, 2), 0);    /* not empty before: no signal */
        ck_assert_int_eq(send_bytes("three", 5, 3), 0);
        ck_assert_int_eq(vmbus_ring_bytes_to_read(&cons, &n), 0);
        ck_assert_uint_eq(n, 3 * 32);

        for (uint64_t id = 1; id <= 3; id++) {
                ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
                ck_assert(pkt.trans_id == id);
        }
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 0);
        ck_assert_uint_eq(ctl()->read_index, 200);
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 0);
        ck_assert_uint_eq(ctl()->read_index, (200 + 96) % DSIZE);
        /* A commit without a batch is a no-op. */
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 0);
}
END_TEST

START_TEST(test_full_ring_never_filled) {
        uint8_t p[40] = { 0 }, out[64];
        struct vmbus_packet pkt;
        uint32_t n;

        /* 64 bytes per packet: 3 fit in 256, a 4th would fill the ring completely. */
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(send_bytes(p, sizeof p, (uint64_t)i) >= 0, 1);
        ck_assert_int_eq(vmbus_ring_bytes_to_write(&prod, &n), 0);
        ck_assert_uint_eq(n, 64);
        ck_assert_int_eq(send_bytes(p, sizeof p, 9), -EAGAIN);
        ck_assert_uint_eq(ctl()->write_index, 192);
        /* FEAT_PENDING_SEND_SZ: the producer says how much room it waits for. */
        ck_assert_uint_eq(ctl()->pending_send_sz, 64);
        /* A smaller packet still fits. */
        ck_assert_int_eq(send_bytes(p, 32, 9), 0);
        ck_assert_uint_eq(ctl()->pending_send_sz, 0);

        /* The largest packet that can ever fit, and one byte more. */
        set_indices(0, 0);
        uint8_t big[240] = { 0 };
        ck_assert_int_eq(send_bytes(big, 232, 0), -EMSGSIZE);
        ck_assert_int_eq(send_bytes(big, 225, 0), -EMSGSIZE);
        ck_assert_int_eq(send_bytes(big, 224, 0), 1);
        uint8_t out2[240];
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out2, sizeof out2), 1);
        ck_assert_uint_eq(pkt.payload_len, 224);
        (void) out;
}
END_TEST

START_TEST(test_pending_send_sz_signal_on_read) {
        uint8_t p[40] = { 0 }, out[64];
        struct vmbus_packet pkt;

        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(send_bytes(p, sizeof p, 0) >= 0, 1);
        ck_assert_int_eq(send_bytes(p, sizeof p, 0), -EAGAIN);
        ck_assert_uint_eq(ctl()->pending_send_sz, 64);

        /* free 64 -> 128: crosses "more than 64", so wake the producer. */
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 1);
        /* free 128 -> 192: the producer already had enough, no second signal. */
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 0);

        /* Not enough yet: free 64 -> 128 while waiting for 128 bytes. */
        teardown();
        setup();
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(send_bytes(p, sizeof p, 0) >= 0, 1);
        ctl()->pending_send_sz = 128;
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 0);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 1);

        /* Without the feature bit: never signal on read, never set pending_send_sz. */
        teardown();
        setup();
        ctl()->feature_bits = 0;
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(send_bytes(p, sizeof p, 0) >= 0, 1);
        ck_assert_int_eq(send_bytes(p, sizeof p, 0), -EAGAIN);
        ck_assert_uint_eq(ctl()->pending_send_sz, 0);
        ctl()->pending_send_sz = 64;
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_int_eq(vmbus_ring_recv_commit(&cons), 0);
}
END_TEST

START_TEST(test_signal_on_write_rules) {
        uint8_t out[64];
        struct vmbus_packet pkt;

        /* Masked consumer: never signal. */
        ctl()->interrupt_mask = 1;
        ck_assert_int_eq(send_bytes("x", 1, 0), 0);
        /* Unmasked but not empty before: no signal. */
        ctl()->interrupt_mask = 0;
        ck_assert_int_eq(send_bytes("y", 1, 0), 0);
        /* Drained, unmasked, empty: signal. */
        while (vmbus_ring_recv(&cons, &pkt, out, sizeof out) == 1)
                ;
        vmbus_ring_recv_commit(&cons);
        ck_assert_int_eq(send_bytes("z", 1, 0), 1);
}
END_TEST

START_TEST(test_unmask_recheck) {
        uint8_t out[64];
        struct vmbus_packet pkt;

        vmbus_ring_mask(&cons);
        ck_assert_uint_eq(ctl()->interrupt_mask, 1);
        ck_assert_int_eq(vmbus_ring_unmask(&cons), 0);
        ck_assert_uint_eq(ctl()->interrupt_mask, 0);

        /* The host writes while we are masked: no signal for it, so the unmask must
         * report it or the packet would sit there forever (§2.6). */
        vmbus_ring_mask(&cons);
        ck_assert_int_eq(send_bytes("late", 4, 7), 0);
        ck_assert_int_eq(vmbus_ring_unmask(&cons), 1);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        /* Inside a batch the private offset counts: nothing left to read. */
        ck_assert_int_eq(vmbus_ring_unmask(&cons), 0);
        vmbus_ring_recv_commit(&cons);

        ctl()->write_index = 3;
        ck_assert_int_eq(vmbus_ring_unmask(&cons), -EBADMSG);
}
END_TEST

START_TEST(test_enobufs_keeps_packet) {
        uint8_t in[40], out[40];
        struct vmbus_packet pkt;

        memset(in, 0x5a, sizeof in);
        ck_assert_int_eq(send_bytes(in, sizeof in, 5), 1);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, 39), -ENOBUFS);
        ck_assert_uint_eq(pkt.payload_len, 40);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_mem_eq(out, in, sizeof in);
}
END_TEST

START_TEST(test_corrupt_indices) {
        uint8_t out[256];
        struct vmbus_packet pkt;
        uint32_t n;

        static const uint32_t bad[] = { DSIZE, DSIZE + 8, 4, 1, 0xfffffff8u, 0x80000000u };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                set_indices(0, bad[i]);
                ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), -EBADMSG);
                ck_assert_int_eq(vmbus_ring_bytes_to_read(&cons, &n), -EBADMSG);
                set_indices(bad[i], 0);
                ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), -EBADMSG);
                ck_assert_int_eq(send_bytes("x", 1, 0), -EBADMSG);
                ck_assert_int_eq(vmbus_ring_bytes_to_write(&prod, &n), -EBADMSG);
        }
        /* The consumer never published anything for the corrupt rings. */
        ck_assert(!cons.in_batch);
}
END_TEST

START_TEST(test_corrupt_packets) {
        uint8_t out[256];
        struct vmbus_packet pkt;

        /* Fewer bytes than a descriptor + trailer. */
        set_indices(248, 8);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), -EBADMSG);
        set_indices(0, 16);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), -EBADMSG);

        /* A packet that claims more than was written (partial packet). */
        set_indices(240, 240 + 32 - DSIZE);
        put_desc(240, 6, 2, 4, 0); /* 32 + 8 bytes claimed, 32 available */
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), -EBADMSG);
        put_desc(240, 6, 2, 3, 0); /* 24 + 8 = 32: exactly what is there */
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_uint_eq(pkt.payload_len, 8);
        vmbus_ring_recv_commit(&cons);

        /* offset8 < 2, len8 < offset8, undefined flag bits, oversize len8. */
        static const uint16_t descs[][3] = { { 1, 4, 0 }, { 0, 4, 0 }, { 5, 4, 0 },
                                             { 2, 4, 2 }, { 2, 4, 0x8000 }, { 2, 0xffff, 0 } };
        for (size_t i = 0; i < ELEMENTSOF(descs); i++) {
                set_indices(64, 64 + 40);
                put_desc(64, 6, descs[i][0], descs[i][1], descs[i][2]);
                ck_assert_msg(vmbus_ring_recv(&cons, &pkt, out, sizeof out) == -EBADMSG, "desc %zu", i);
        }
        /* Completion-requested is the one legal flag. */
        set_indices(64, 64 + 40);
        put_desc(64, 6, 2, 4, 1);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_uint_eq(pkt.flags, 1);
}
END_TEST

START_TEST(test_send_args) {
        struct iovec iov[3] = { { (void *)"ab", 2 }, { NULL, 0 }, { (void *)"cdefghij", 8 } };
        uint8_t out[64];
        struct vmbus_packet pkt;

        ck_assert_int_eq(vmbus_ring_send(&prod, 6, 2, 0, iov, 3), -EINVAL);
        ck_assert_int_eq(vmbus_ring_send(&prod, 6, 1, 42, iov, 3), 1);
        ck_assert_int_eq(vmbus_ring_recv(&cons, &pkt, out, sizeof out), 1);
        ck_assert_uint_eq(pkt.payload_len, 16);
        ck_assert_uint_eq(pkt.flags, 1);
        ck_assert_mem_eq(out, "abcdefghij\0\0\0\0\0\0", 16);
}
END_TEST

START_TEST(test_channel_rings) {
        struct vmbus_channel_rings c;
        void *m = aligned_alloc(8, 2 * (CTRL + DSIZE));

        ck_assert_int_eq(vmbus_channel_rings_init(&c, m, CTRL + DSIZE, CTRL), 0);
        ck_assert_ptr_eq(c.tx.ctrl, m);
        ck_assert_ptr_eq(c.rx.ctrl, (uint8_t *)m + CTRL + DSIZE);
        ck_assert_ptr_eq(c.rx.data, (uint8_t *)m + 2 * CTRL + DSIZE);
        free(m);
}
END_TEST

static Suite *ring_suite(void) {
        Suite *s = suite_create("vmbus_ring");
        TCase *tc = tcase_create("ring");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_init_rejects);
        tcase_add_test(tc, test_reset_layout);
        tcase_add_test(tc, test_every_offset_every_size);
        tcase_add_test(tc, test_batch);
        tcase_add_test(tc, test_full_ring_never_filled);
        tcase_add_test(tc, test_pending_send_sz_signal_on_read);
        tcase_add_test(tc, test_signal_on_write_rules);
        tcase_add_test(tc, test_unmask_recheck);
        tcase_add_test(tc, test_enobufs_keeps_packet);
        tcase_add_test(tc, test_corrupt_indices);
        tcase_add_test(tc, test_corrupt_packets);
        tcase_add_test(tc, test_send_args);
        tcase_add_test(tc, test_channel_rings);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(ring_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
