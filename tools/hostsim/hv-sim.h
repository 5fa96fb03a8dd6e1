/* pvic-hostsim hyperv: a simulated Hyper-V host (docs/hostsim-hyperv.md). Per guest: a
 * fake sysfs tree with the IC channels bound to uio_hv_generic (VSS only with
 * --uio-vss), their ring files and interrupt sockets, and the /dev/vmbus/hv_kvp and hv_vss relay sockets where we
 * play the kernel; the host side of each IC behaves as spec/hyperv-ic.md §9 describes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "pvic/hostmsg.h"
#include "pvic/kvp_msg.h"
#include "pvic/vmbus_ic.h"
#include "pvic/vmbus_ring.h"

enum hv_ic { HV_IC_HEARTBEAT, HV_IC_SHUTDOWN, HV_IC_TIMESYNC, HV_IC_KVP, HV_IC_VSS, _HV_IC_MAX };

struct hv_client;
struct hv_guest;

/* A control request waiting for the guest's answer. */
enum hv_wait_kind { HV_WAIT_NONE, HV_WAIT_HEARTBEAT, HV_WAIT_SHUTDOWN, HV_WAIT_TIME, HV_WAIT_KVP, HV_WAIT_VSS };

struct hv_wait {
        enum hv_wait_kind kind;
        struct hv_client *client;
        uint64_t deadline_usec;
        /* heartbeat series */
        unsigned long count, sent, answered, bad;
        /* Round trips of a heartbeat series, for the benchmark's percentiles. */
        uint64_t sent_at_usec;
        uint32_t *rtt_us;
        size_t n_rtt, cap_rtt;
        uint32_t app_state;
        enum host_kvp_op kvp_op;
        uint8_t vss_op;
};

struct hv_channel {
        struct hv_guest *g;
        enum hv_ic ic;
        char uio[16];               /* "uio0" */
        char *dev_path;             /* ROOT/dev/uioN (listening socket) */
        char *ring_path;
        int lfd, fd;
        sd_event_source *accept_src, *io_src;
        void *mem;
        size_t ring_size;
        struct vmbus_channel_rings rings; /* guest view: we send into rx, receive from tx */
        bool negotiated;
        struct vmbus_ic_version fw, msgver;
        unsigned connects;
        uint64_t seq;               /* heartbeat */
        unsigned long replies, bad_replies;
        /* Periodic heartbeats: one outstanding at a time, as a host waits for it; a tick
         * that finds it unanswered counts as missed (what Hyper-V shows as lost). */
        bool hb_outstanding;
        unsigned long hb_periodic_sent, hb_missed;
        uint32_t last_status;
        struct hv_wait wait;
        uint8_t buf[VMBUS_IC_MAX_PAYLOAD];
};

struct hv_relay {
        char *path;
        int lfd, fd;
        sd_event_source *accept_src, *io_src;
        bool registered;
        unsigned connects;
        struct hv_wait wait;
        uint8_t msg[KVP_MSG_SIZE];
};

/* The hv_vss relay (hv-vss.c): the kernel's side of /dev/vmbus/hv_vss. */
struct hv_vss {
        char *path;                 /* NULL with --no-vss: hv_utils without VSS */
        int lfd, fd;
        sd_event_source *accept_src, *io_src;
        bool registered;
        unsigned connects;
        struct hv_wait wait;
};

struct hv_guest {
        struct hv_sim *sim;
        unsigned index;
        char *name;
        char *root;
        struct hv_channel ch[_HV_IC_MAX];
        struct hv_relay relay;
        struct hv_vss vss;
        sd_event_source *hb_timer, *time_timer;
};

struct hv_sim {
        sd_event *event;
        char *dir;
        struct hv_guest *guests;
        unsigned n_guests;
        uint64_t heartbeat_interval_usec; /* 0: only on request */
        uint64_t time_interval_usec;      /* 0: only on request */
        size_t ring_size;                 /* per direction */
        unsigned kernel_ics;              /* bit per enum hv_ic: bound to hv_utils, not uio
                                           * (VSS by default: only --uio-vss moves it) */
        bool no_vss;                      /* no dev/vmbus/hv_vss */
        int ctl_fd;
        sd_event_source *ctl_src;
        char *ctl_path;
};

const char *hv_ic_name(enum hv_ic ic);
int hv_ic_from_name(const char *s);

int hv_guest_init(struct hv_guest *g, struct hv_sim *sim, unsigned index, const char *name);
void hv_guest_done(struct hv_guest *g);

/* Host -> guest requests. Each returns 0 or a negative errno (-ENOTCONN: channel not
 * open/negotiated, -EBUSY: a request is outstanding, -EAGAIN: ring full). */
int hv_send_heartbeat(struct hv_channel *c);
int hv_send_shutdown(struct hv_channel *c, uint32_t flags, uint32_t reason, uint32_t timeout, const char *message);
int hv_send_time(struct hv_channel *c, unsigned flags, uint8_t icflags);
int hv_send_kvp(struct hv_channel *c, const struct host_kvp_request *req);
int hv_relay_send(struct hv_relay *r, const struct host_kvp_request *req);
/* op: VSS_OP_FREEZE, _THAW or _HOT_BACKUP (the only ones the kernel passes on);
 * -ENOTCONN when no daemon has registered (the kernel then answers HV_E_FAIL itself). */
int hv_vss_send(struct hv_vss *v, uint8_t op);
/* The same request on a uio-bound VSS channel (the host's own packet, as the kernel
 * receives it: FREEZE with its LUN-list body). */
int hv_send_vss(struct hv_channel *c, uint8_t op);
int hv_corrupt(struct hv_channel *c, const char *how);
/* Rescind: the channel is gone (guest connection closed, device node removed) until
 * hv_offer() creates it again. -EALREADY when it already is. */
int hv_rescind(struct hv_channel *c);
int hv_offer(struct hv_channel *c);

/* hv-guest.c: a listening SEQPACKET socket at path (replacing what is there). */
int hv_listen_seqpacket(const char *path);
/* hv-vss.c: the guest's dev/vmbus/hv_vss (nothing with --no-vss), and its teardown. */
int hv_vss_init(struct hv_guest *g);
void hv_vss_done(struct hv_guest *g);

/* Control socket (hv-control.c). */
int hv_control_open(struct hv_sim *sim);
void hv_control_close(struct hv_sim *sim);
/* Completes a waiting control request with a JSON reply built by the caller. */
struct json_object;
void hv_client_reply(struct hv_client *cl, struct json_object *o);
/* Called by the guest side when an answer arrived or a channel went away. */
void hv_wait_done_channel(struct hv_channel *c, int error, const uint8_t *pkt, size_t len);
void hv_wait_done_relay(struct hv_relay *r, int error, const struct host_kvp_reply *reply);
/* The daemon's VSS answer: its error (the host's status) and flags. */
void hv_wait_done_vss(struct hv_vss *v, int error, uint32_t status, uint32_t flags);
