/* The ring reader and writer over arbitrary shared memory: the input is the control page
 * and data area as a hostile peer left them. Nothing may be read or written outside the
 * region, and whatever is accepted must satisfy the ring's invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/vmbus_ring.h"

#define CTRL 128u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct vmbus_ring r;
        struct vmbus_packet pkt;
        uint8_t payload[4096];
        size_t dsize, bufsize;
        uint32_t n;
        uint8_t *mem;

        if (size < CTRL + 2 || size > CTRL + 1 + 8192)
                return 0;
        /* First byte: receive buffer size, so -ENOBUFS paths are reached too. */
        bufsize = (size_t)data[0] * 16;
        data++;
        size--;
        dsize = (size - CTRL) / 8 * 8;
        if (dsize == 0)
                return 0;

        /* Exactly the region's size, so ASan sees any access past it. */
        mem = aligned_alloc(8, CTRL + dsize);
        if (!mem)
                return 0;
        memcpy(mem, data, CTRL + dsize);
        if (vmbus_ring_init(&r, mem, CTRL + dsize, CTRL) < 0)
                abort();

        for (int i = 0; i < 64; i++) {
                int k = vmbus_ring_recv(&r, &pkt, payload, bufsize);
                if (k <= 0)
                        break;
                if (pkt.payload_len > bufsize || pkt.payload_len % 8 != 0)
                        abort();
                if (r.priv_read >= r.dsize || r.priv_read % 8 != 0)
                        abort();
        }
        (void) vmbus_ring_recv_commit(&r);
        (void) vmbus_ring_unmask(&r);
        (void) vmbus_ring_bytes_to_read(&r, &n);

        /* The same memory as a TX ring: a send must either fail or leave a packet that
         * reads back identically. */
        {
                struct vmbus_ring w, rd;
                size_t len = bufsize % (dsize + 1);
                struct iovec iov = { .iov_base = (void *)data, .iov_len = len < sizeof payload ? len : sizeof payload };

                vmbus_ring_init(&w, mem, CTRL + dsize, CTRL);
                vmbus_ring_init(&rd, mem, CTRL + dsize, CTRL);
                uint32_t before = r.ctrl->write_index;
                if (vmbus_ring_send(&w, VMBUS_PKT_DATA_INBAND, 0, 99, &iov, 1) >= 0) {
                        /* Read it back from where it starts. */
                        r.ctrl->read_index = before;
                        rd.in_batch = false;
                        if (vmbus_ring_recv(&rd, &pkt, payload, sizeof payload) != 1 ||
                            pkt.trans_id != 99 || pkt.payload_len < iov.iov_len ||
                            memcmp(payload, data, iov.iov_len) != 0)
                                abort();
                }
        }

        free(mem);
        return 0;
}
