/* One IC channel owned in user space (spec/hyperv-ic.md §1.3, §2.6, §3): opens the uio
 * node (or, under pvic-hostsim, a SEQPACKET socket at the same path carrying the 4-byte
 * interrupt counts, decision 6), maps the ring memory, negotiates versions, drains the
 * RX ring from the sd-event loop and sends the replies a handler builds in place.
 * Anything wrong in the ring or the framing resets only this channel: it is closed
 * (the host then restarts the IC protocol) and reopened with backoff. A full TX ring
 * drops the reply; we never wait for the host. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "pvic/vmbus_ic.h"

struct vmbus_channel;

/* Called for every message after negotiation, with the packet payload in pkt (len bytes,
 * pipe header at 0) and its decoded IC header. Returns 1 when pkt now holds the reply
 * (same length), 0 to send nothing, -EBADMSG to reset the channel. */
typedef int (*vmbus_channel_fn)(struct vmbus_channel *c, uint8_t *pkt, size_t len,
                                const struct vmbus_ic_header *h, void *userdata);

struct vmbus_channel_config {
        const char *name;           /* "heartbeat", for logs */
        enum vmbus_ic_type type;    /* the only icmsgtype accepted besides negotiation */
        const struct vmbus_ic_versions *versions;
        const char *dev_path;       /* ROOT/dev/uioN */
        /* Ring memory when dev_path is a socket (simulation): the channel's sysfs
         * `ring` file. A real uio node is mapped itself (map 0 at offset 0). */
        const char *ring_path;
        size_t ring_size;           /* per direction */
        size_t page_size;           /* control page; 0: the system page size */
        uint64_t backoff_min_usec;  /* first reopen delay after a reset; 0: default (fuzzing
                                     * uses 1) */
};

#define VMBUS_CHANNEL_BACKOFF_MIN_USEC (100u * 1000u)
#define VMBUS_CHANNEL_BACKOFF_MAX_USEC (10u * 1000u * 1000u)

int vmbus_channel_new(struct vmbus_channel **ret, sd_event *e, const struct vmbus_channel_config *cfg,
                      vmbus_channel_fn fn, void *userdata);
struct vmbus_channel *vmbus_channel_free(struct vmbus_channel *c);

/* For handlers that answer later (shutdown waits for its acknowledgement): the VMBus
 * transaction id of the packet being handled, and the open it arrived on. */
uint64_t vmbus_channel_trans_id(const struct vmbus_channel *c);
unsigned vmbus_channel_generation(const struct vmbus_channel *c);
/* Sends a reply built earlier; dropped (0) when the channel was reopened since
 * `generation` (the host restarted the protocol and no longer waits for it), -ENOTCONN
 * while closed. */
int vmbus_channel_send_reply(struct vmbus_channel *c, unsigned generation, uint64_t trans_id,
                             const uint8_t *pkt, size_t len);

const char *vmbus_channel_name(const struct vmbus_channel *c);
bool vmbus_channel_is_negotiated(const struct vmbus_channel *c);
/* The negotiated service (message) version; 0.0 before negotiation. */
struct vmbus_ic_version vmbus_channel_msgver(const struct vmbus_channel *c);
/* Counters: times the channel was (re)opened, reset for garbage, replies dropped. */
unsigned vmbus_channel_n_opens(const struct vmbus_channel *c);
unsigned vmbus_channel_n_resets(const struct vmbus_channel *c);
unsigned long long vmbus_channel_n_dropped(const struct vmbus_channel *c);
