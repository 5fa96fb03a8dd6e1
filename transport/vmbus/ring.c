#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/vmbus_ring.h"
#include "vmbus_wire.h"

_Static_assert(offsetof(struct vmbus_ring_ctrl, write_index) == 0, "write_index");
_Static_assert(offsetof(struct vmbus_ring_ctrl, read_index) == 4, "read_index");
_Static_assert(offsetof(struct vmbus_ring_ctrl, interrupt_mask) == 8, "interrupt_mask");
_Static_assert(offsetof(struct vmbus_ring_ctrl, pending_send_sz) == 12, "pending_send_sz");
_Static_assert(offsetof(struct vmbus_ring_ctrl, feature_bits) == 64, "feature_bits");
_Static_assert(sizeof(struct vmbus_ring_ctrl) == 68, "control fields");

/* The peer runs concurrently on another CPU: every control word goes through atomics,
 * and the barriers sit exactly where §2.4/§2.5 put them. */
static uint32_t load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static uint32_t load_relaxed(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static void full_barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static bool index_valid(const struct vmbus_ring *r, uint32_t idx) {
        return idx < r->dsize && idx % 8 == 0;
}

int vmbus_ring_init(struct vmbus_ring *r, void *mem, size_t ring_size, size_t ctrl_size) {
        if (!mem || (uintptr_t)mem % 8 != 0)
                return -EINVAL;
        if (ctrl_size < VMBUS_RING_CTRL_MIN || ctrl_size % 8 != 0 || ring_size % 8 != 0)
                return -EINVAL;
        if (ring_size <= ctrl_size || ring_size - ctrl_size > (size_t)1 << 31)
                return -EINVAL;

        *r = (struct vmbus_ring) {
                .ctrl = mem,
                .data = (uint8_t *)mem + ctrl_size,
                .dsize = (uint32_t)(ring_size - ctrl_size),
        };
        return 0;
}

void vmbus_ring_reset(struct vmbus_ring *r) {
        store_release(&r->ctrl->write_index, 0);
        store_release(&r->ctrl->read_index, 0);
        store_release(&r->ctrl->interrupt_mask, 0);
        store_release(&r->ctrl->pending_send_sz, 0);
        for (size_t i = 0; i < ELEMENTSOF(r->ctrl->reserved1); i++)
                store_release(&r->ctrl->reserved1[i], 0);
        store_release(&r->ctrl->feature_bits, VMBUS_RING_FEAT_PENDING_SEND_SZ);
        r->priv_read = 0;
        r->batch_bytes = 0;
        r->in_batch = false;
}

int vmbus_channel_rings_init(struct vmbus_channel_rings *c, void *mem, size_t ring_size,
                             size_t ctrl_size) {
        int r;

        r = vmbus_ring_init(&c->tx, mem, ring_size, ctrl_size);
        if (r < 0)
                return r;
        return vmbus_ring_init(&c->rx, (uint8_t *)mem + ring_size, ring_size, ctrl_size);
}

static uint32_t avail_read(uint32_t dsize, uint32_t r, uint32_t w) {
        return w >= r ? w - r : dsize - r + w;
}

static uint32_t avail_write(uint32_t dsize, uint32_t r, uint32_t w) {
        return w >= r ? dsize - (w - r) : r - w;
}

/* The consumer's read position: the private one while a batch is open. */
static int current_read(const struct vmbus_ring *r, uint32_t *ret) {
        uint32_t rd = r->in_batch ? r->priv_read : load_relaxed(&r->ctrl->read_index);

        if (!index_valid(r, rd))
                return -EBADMSG;
        *ret = rd;
        return 0;
}

int vmbus_ring_bytes_to_read(const struct vmbus_ring *r, uint32_t *ret) {
        uint32_t rd, w;
        int k;

        k = current_read(r, &rd);
        if (k < 0)
                return k;
        w = load_acquire(&r->ctrl->write_index);
        if (!index_valid(r, w))
                return -EBADMSG;
        *ret = avail_read(r->dsize, rd, w);
        return 0;
}

int vmbus_ring_bytes_to_write(const struct vmbus_ring *r, uint32_t *ret) {
        uint32_t rd = load_acquire(&r->ctrl->read_index);
        uint32_t w = load_relaxed(&r->ctrl->write_index);

        if (!index_valid(r, rd) || !index_valid(r, w))
                return -EBADMSG;
        *ret = avail_write(r->dsize, rd, w);
        return 0;
}

/* Callers guarantee off < dsize and len <= dsize, so at most one wrap. */
static uint32_t copy_from_ring(const struct vmbus_ring *r, uint32_t off, void *dst, size_t len) {
        size_t first = MIN(len, (size_t)(r->dsize - off));

        memcpy(dst, r->data + off, first);
        memcpy((uint8_t *)dst + first, r->data, len - first);
        return (uint32_t)(((uint64_t)off + len) % r->dsize);
}

static uint32_t copy_to_ring(struct vmbus_ring *r, uint32_t off, const void *src, size_t len) {
        size_t first = MIN(len, (size_t)(r->dsize - off));

        memcpy(r->data + off, src, first);
        memcpy(r->data, (const uint8_t *)src + first, len - first);
        return (uint32_t)(((uint64_t)off + len) % r->dsize);
}

int vmbus_ring_recv(struct vmbus_ring *r, struct vmbus_packet *pkt, void *buf, size_t bufsize) {
        uint8_t desc[VMBUS_PKT_DESC_SIZE];
        uint32_t rd, w, avail, offset8, len8, total;
        int k;

        k = current_read(r, &rd);
        if (k < 0)
                return k;
        /* Acquire: the packet bytes below must not be read before the index that
         * publishes them. */
        w = load_acquire(&r->ctrl->write_index);
        if (!index_valid(r, w))
                return -EBADMSG;

        avail = avail_read(r->dsize, rd, w);
        if (avail == 0)
                return 0;
        if (avail < VMBUS_PKT_MIN_SIZE)
                return -EBADMSG;

        /* One private copy of the descriptor: the peer may rewrite the ring under us,
         * so validate and use only this copy. */
        copy_from_ring(r, rd, desc, sizeof desc);
        *pkt = (struct vmbus_packet) {
                .type = wire_get16(desc + 0),
                .flags = wire_get16(desc + 6),
                .trans_id = wire_get64(desc + 8),
        };
        offset8 = wire_get16(desc + 2);
        len8 = wire_get16(desc + 4);

        if (offset8 < 2 || len8 < offset8 || (pkt->flags & ~VMBUS_PKT_FLAG_COMPLETION_REQUESTED))
                return -EBADMSG;
        total = len8 * 8 + VMBUS_PKT_TRAILER_SIZE;
        if (total > avail)
                return -EBADMSG;

        pkt->payload_len = (len8 - offset8) * 8;
        if (pkt->payload_len > bufsize)
                return -ENOBUFS;

        copy_from_ring(r, (uint32_t)(((uint64_t)rd + offset8 * 8) % r->dsize), buf, pkt->payload_len);

        if (!r->in_batch) {
                r->in_batch = true;
                r->batch_bytes = 0;
        }
        r->priv_read = (uint32_t)(((uint64_t)rd + total) % r->dsize);
        r->batch_bytes += total;
        return 1;
}

int vmbus_ring_recv_commit(struct vmbus_ring *r) {
        uint32_t consumed, p, w, free_now;
        int64_t free_before;

        if (!r->in_batch)
                return 0;

        /* Our reads of the packets must complete before the producer may reuse the space. */
        full_barrier();
        store_release(&r->ctrl->read_index, r->priv_read);
        consumed = r->batch_bytes;
        r->in_batch = false;
        r->batch_bytes = 0;

        if (consumed == 0)
                return 0;
        if (!(load_relaxed(&r->ctrl->feature_bits) & VMBUS_RING_FEAT_PENDING_SEND_SZ))
                return 0;

        /* Order our read_index store before the load of pending_send_sz; the producer
         * orders them the other way round, so one of us sees the other. */
        full_barrier();
        p = load_relaxed(&r->ctrl->pending_send_sz);
        if (p == 0)
                return 0;

        w = load_acquire(&r->ctrl->write_index);
        if (!index_valid(r, w))
                return -EBADMSG;
        free_now = avail_write(r->dsize, r->priv_read, w);
        free_before = (int64_t)free_now - consumed;

        /* Signal only on the transition from "not enough" to "enough" room. */
        return free_before <= (int64_t)p && free_now > p;
}

void vmbus_ring_mask(struct vmbus_ring *r) {
        store_release(&r->ctrl->interrupt_mask, 1);
        full_barrier();
}

int vmbus_ring_unmask(struct vmbus_ring *r) {
        uint32_t n;
        int k;

        store_release(&r->ctrl->interrupt_mask, 0);
        /* The producer only signals on empty -> non-empty while unmasked: anything it
         * wrote while we were masked must be found by looking again (§2.6). */
        full_barrier();
        k = vmbus_ring_bytes_to_read(r, &n);
        if (k < 0)
                return k;
        return n > 0;
}

int vmbus_ring_send(struct vmbus_ring *r, uint16_t type, uint16_t flags, uint64_t trans_id,
                    const struct iovec *iov, size_t n_iov) {
        static const uint8_t zeros[8];
        uint8_t desc[VMBUS_PKT_DESC_SIZE], trailer[VMBUS_PKT_TRAILER_SIZE];
        uint64_t payload = 0, len8, total;
        uint32_t old_w, w, rd, room;
        bool feat;

        if (flags & ~VMBUS_PKT_FLAG_COMPLETION_REQUESTED)
                return -EINVAL;
        for (size_t i = 0; i < n_iov; i++) {
                payload += iov[i].iov_len;
                if (payload > UINT32_MAX)
                        return -EMSGSIZE;
        }

        len8 = (VMBUS_PKT_DESC_SIZE + payload + 7) / 8;
        total = len8 * 8 + VMBUS_PKT_TRAILER_SIZE;
        /* The ring is never filled completely, so a packet of dsize bytes never fits. */
        if (len8 > UINT16_MAX || total >= r->dsize)
                return -EMSGSIZE;

        old_w = load_relaxed(&r->ctrl->write_index);
        rd = load_acquire(&r->ctrl->read_index);
        if (!index_valid(r, old_w) || !index_valid(r, rd))
                return -EBADMSG;

        feat = load_relaxed(&r->ctrl->feature_bits) & VMBUS_RING_FEAT_PENDING_SEND_SZ;
        room = avail_write(r->dsize, rd, old_w);
        if (room <= total) {
                if (!feat)
                        return -EAGAIN;
                /* Ask to be woken, then look again: the consumer may have drained the
                 * ring between our check and the store and would not signal. */
                store_release(&r->ctrl->pending_send_sz, (uint32_t)total);
                full_barrier();
                rd = load_acquire(&r->ctrl->read_index);
                if (!index_valid(r, rd))
                        return -EBADMSG;
                room = avail_write(r->dsize, rd, old_w);
                if (room <= total)
                        return -EAGAIN;
        }
        if (feat && load_relaxed(&r->ctrl->pending_send_sz) != 0)
                store_release(&r->ctrl->pending_send_sz, 0);

        wire_put16(desc + 0, type);
        wire_put16(desc + 2, VMBUS_PKT_DESC_SIZE / 8);
        wire_put16(desc + 4, (uint16_t)len8);
        wire_put16(desc + 6, flags);
        wire_put64(desc + 8, trans_id);
        w = copy_to_ring(r, old_w, desc, sizeof desc);
        for (size_t i = 0; i < n_iov; i++)
                if (iov[i].iov_len > 0)
                        w = copy_to_ring(r, w, iov[i].iov_base, iov[i].iov_len);
        w = copy_to_ring(r, w, zeros, len8 * 8 - VMBUS_PKT_DESC_SIZE - payload);
        wire_put64(trailer, (uint64_t)old_w << 32);
        w = copy_to_ring(r, w, trailer, sizeof trailer);

        /* The packet must be complete in memory before the index publishes it. */
        full_barrier();
        store_release(&r->ctrl->write_index, w);

        /* Signal only if the consumer wants interrupts and the ring was empty before this
         * packet: hosts throttle guests that signal needlessly (§2.5). */
        full_barrier();
        return load_relaxed(&r->ctrl->interrupt_mask) == 0 &&
               load_relaxed(&r->ctrl->read_index) == old_w;
}
