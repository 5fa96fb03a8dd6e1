/* VMBus ring buffers (spec/hyperv-ic.md §2): one channel = a TX ring (guest -> host) and
 * an RX ring (host -> guest), each a control page followed by a data area. Pure code over
 * a memory region (the uio mmap, a file shared with pvic-hostsim, or a test buffer); the
 * caller does the signalling these functions ask for. Everything the peer writes into the
 * shared memory is treated as hostile: indices and lengths are checked before use and a
 * corrupt ring yields -EBADMSG, never an access outside the region. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The first 68 bytes of each control page (§2.2). Accessed only with atomics. */
struct vmbus_ring_ctrl {
        uint32_t write_index;     /* producer: next packet starts here */
        uint32_t read_index;      /* consumer: next unread packet */
        uint32_t interrupt_mask;  /* consumer: 1 = do not signal me */
        uint32_t pending_send_sz; /* producer: free bytes it waits for, or 0 */
        uint32_t reserved1[12];
        uint32_t feature_bits;    /* bit 0: pending_send_sz is honoured */
};

#define VMBUS_RING_FEAT_PENDING_SEND_SZ 0x1u
#define VMBUS_RING_CTRL_MIN 72u /* smallest control area accepted (tests use small ones) */

#define VMBUS_PKT_DESC_SIZE 16u
#define VMBUS_PKT_TRAILER_SIZE 8u
/* Descriptor + trailer: no packet consumes less. */
#define VMBUS_PKT_MIN_SIZE (VMBUS_PKT_DESC_SIZE + VMBUS_PKT_TRAILER_SIZE)

enum {
        VMBUS_PKT_DATA_INBAND = 6,
        VMBUS_PKT_DATA_USING_XFER_PAGES = 7,
        VMBUS_PKT_DATA_USING_GPA_DIRECT = 9,
        VMBUS_PKT_COMPLETION = 11,
};
#define VMBUS_PKT_FLAG_COMPLETION_REQUESTED 0x1u

struct vmbus_ring {
        struct vmbus_ring_ctrl *ctrl;
        uint8_t *data;
        uint32_t dsize;
        /* Consumer only: private read offset of the batch in progress (§2.4 step 4), and
         * how many bytes the batch consumed since the last commit. */
        uint32_t priv_read;
        uint32_t batch_bytes;
        bool in_batch;
};

/* A received packet's descriptor, decoded. */
struct vmbus_packet {
        uint16_t type;
        uint16_t flags;
        uint64_t trans_id;
        uint32_t payload_len; /* (len8 - offset8) * 8: includes the sender's padding */
};

/* Sets up one ring over mem[0..ring_size): control area of ctrl_size bytes (the guest
 * page size; smaller values only in tests), then data. ctrl_size >= VMBUS_RING_CTRL_MIN,
 * both sizes multiples of 8, data size <= 2^31, mem 8-byte aligned; else -EINVAL. */
int vmbus_ring_init(struct vmbus_ring *r, void *mem, size_t ring_size, size_t ctrl_size);
/* What Linux does when it opens a channel (§2.2): zero the control fields, indices 0,
 * feature_bits = 1. Only for the side that owns the ring's setup (hostsim, tests). */
void vmbus_ring_reset(struct vmbus_ring *r);

/* Byte counts of §2.2 from the current shared indices. -EBADMSG if an index is corrupt. */
int vmbus_ring_bytes_to_read(const struct vmbus_ring *r, uint32_t *ret);
int vmbus_ring_bytes_to_write(const struct vmbus_ring *r, uint32_t *ret);

/* Consumer. Copies the next packet's payload into buf and advances the private read
 * offset; nothing is visible to the producer until vmbus_ring_recv_commit().
 * Returns 1 with a packet, 0 when the ring is empty, -ENOBUFS when the payload is larger
 * than bufsize (the packet stays unread, pkt->payload_len says how much is needed),
 * -EBADMSG when an index or the descriptor is corrupt (stop using the channel). */
int vmbus_ring_recv(struct vmbus_ring *r, struct vmbus_packet *pkt, void *buf, size_t bufsize);
/* Publishes the batch's read offset (§2.4 step 5) and applies the signal-on-read rule
 * (step 6). Returns 1 when the producer must be signalled, else 0. */
int vmbus_ring_recv_commit(struct vmbus_ring *r);

/* Consumer interrupt mask (§2.6). vmbus_ring_unmask() clears the mask and then re-checks
 * the ring: it returns 1 when data arrived meanwhile (drain again instead of sleeping),
 * 0 when it is safe to sleep, -EBADMSG if the ring is corrupt. */
void vmbus_ring_mask(struct vmbus_ring *r);
int vmbus_ring_unmask(struct vmbus_ring *r);

/* Producer. Writes one packet (offset8 = 2) whose payload is the concatenation of iov,
 * zero-padded to 8 bytes, followed by the trailer (§2.5). Returns 1 when the consumer
 * must be signalled, 0 when not, -EAGAIN when the ring has no room now (pending_send_sz
 * is then set if the ring has FEAT_PENDING_SEND_SZ, so the consumer signals when it
 * frees enough), -EMSGSIZE when the packet can never fit, -EBADMSG for a corrupt
 * read_index. */
int vmbus_ring_send(struct vmbus_ring *r, uint16_t type, uint16_t flags, uint64_t trans_id,
                    const struct iovec *iov, size_t n_iov);

/* A channel's two rings as uio maps them: TX at offset 0, RX at ring_size (§2.1). */
struct vmbus_channel_rings {
        struct vmbus_ring tx;
        struct vmbus_ring rx;
};
int vmbus_channel_rings_init(struct vmbus_channel_rings *c, void *mem, size_t ring_size,
                             size_t ctrl_size);
