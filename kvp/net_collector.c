/* The rtnetlink collector: one socket subscribed to link and address events, one dump
 * at start (and after lost events), changes coalesced by a timer into snapshots. No
 * polling: between changes it costs nothing. */
#include <errno.h>
#include <stddef.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "net_table.h"
#include "pvic/log.h"

#define SOCK_RCVBUF (4u * 1024u * 1024u)
#define RETRY_USEC (1000u * 1000u)
/* Per wakeup, so a storm of events cannot starve the rest of the loop. */
#define RECV_BATCH 64

enum dump_state {
        DUMP_NONE,
        DUMP_LINKS,
        DUMP_ADDRS,
};

struct net_collector {
        sd_event *event;
        sd_event_source *io;
        sd_event_source *timer;        /* debounce, and retry after a failed dump */
        int fd;
        uint32_t portid;               /* ours: dump replies carry it */
        uint32_t seq;
        enum dump_state dump;
        uint32_t dump_seq;
        bool resync_pending;           /* events lost or a dump was inconsistent */
        bool retry;                    /* the timer restarts a failed dump */
        bool initial_done;
        bool dirty;                    /* table changed since the last snapshot */
        char *root;
        net_classify_fn classify;      /* NULL: sysfs under root */
        void *classify_userdata;
        uint64_t debounce_usec;
        struct net_table *table;
        struct net_snapshot *snapshot;
        net_change_fn fn;
        void *userdata;
        uint8_t *buf;
};

size_t net_dump_request(uint16_t type, uint32_t seq, void *buf, size_t size) {
        struct {
                struct nlmsghdr h;
                union {
                        struct ifinfomsg ifi;
                        struct ifaddrmsg ifa;
                };
                struct rtattr rta;
                uint32_t ext_mask;
        } req = {};
        _Static_assert(sizeof req <= NET_DUMP_REQUEST_MAX, "NET_DUMP_REQUEST_MAX too small");

        req.h.nlmsg_type = type;
        req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        req.h.nlmsg_seq = seq;
        if (type == RTM_GETLINK) {
                /* We never read statistics. This drops IPv6's (a quarter of a link message);
                 * the kernel sends the generic ones whatever the mask says. */
                req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi) + RTA_LENGTH(sizeof req.ext_mask);
                req.ifi.ifi_family = AF_UNSPEC;
                req.rta.rta_type = IFLA_EXT_MASK;
                req.rta.rta_len = RTA_LENGTH(sizeof req.ext_mask);
                req.ext_mask = RTEXT_FILTER_SKIP_STATS;
                _Static_assert(offsetof(__typeof__(req), rta) == NLMSG_LENGTH(sizeof(struct ifinfomsg)),
                               "IFLA_EXT_MASK must follow the ifinfomsg");
        } else {
                req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
                req.ifa.ifa_family = AF_UNSPEC;
        }
        if (size < req.h.nlmsg_len)
                return 0;
        memcpy(buf, &req, req.h.nlmsg_len);
        return req.h.nlmsg_len;
}

static int send_dump(struct net_collector *c, uint16_t type) {
        uint8_t req[NET_DUMP_REQUEST_MAX];
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        size_t len = net_dump_request(type, c->dump_seq = ++c->seq, req, sizeof req);

        if (sendto(c->fd, req, len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
                return log_warning_errno(errno, "Cannot request a netlink dump: %m");
        return 0;
}

static int arm_timer(struct net_collector *c, uint64_t usec) {
        int r = sd_event_source_set_time_relative(c->timer, usec);
        if (r < 0)
                return log_warning_errno(r, "Cannot arm the network debounce timer: %m");
        return sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int start_dump(struct net_collector *c) {
        int r;

        if (c->dump != DUMP_NONE) {
                c->resync_pending = true;
                return 0;
        }
        c->resync_pending = false;
        net_table_mark_links(c->table);
        r = send_dump(c, RTM_GETLINK);
        if (r < 0) {
                c->retry = true;
                return arm_timer(c, RETRY_USEC);
        }
        c->dump = DUMP_LINKS;
        return 0;
}

static void emit(struct net_collector *c) {
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = NULL;
        int r;

        c->dirty = false;
        if (c->classify)
                r = net_table_snapshot(c->table, c->classify, c->classify_userdata, &s);
        else {
                /* Opened per snapshot rather than held: one open per debounced change is
                 * nothing, and a missing directory just means no link is a NIC. */
                _cleanup_close_ int dir = net_sysfs_open(c->root);
                if (dir < 0)
                        log_debug_errno(dir, "Cannot open %s/sys/class/net: %m", c->root ?: "");
                r = net_table_snapshot(c->table, net_sysfs_classify, &dir, &s);
        }
        if (r < 0) {
                log_warning_errno(r, "Cannot build the network snapshot: %m");
                return;
        }
        if (c->snapshot && net_snapshot_equal(c->snapshot, s))
                return;
        net_snapshot_free(c->snapshot);
        c->snapshot = TAKE_PTR(s);
        if (c->fn)
                c->fn(c, c->snapshot, c->userdata);
}

/* Coalesce: the first change arms the timer, later ones ride along, so a burst costs
 * one snapshot and a steady stream still produces one per period. */
static void changed(struct net_collector *c) {
        c->dirty = true;
        if (!c->initial_done || c->dump != DUMP_NONE)
                return;        /* the end of the dump decides */
        int enabled = SD_EVENT_OFF;
        (void) sd_event_source_get_enabled(c->timer, &enabled);
        if (enabled == SD_EVENT_OFF)
                (void) arm_timer(c, c->debounce_usec);
}

static void dump_done(struct net_collector *c) {
        int r;

        if (c->dump == DUMP_LINKS) {
                if (net_table_sweep_links(c->table) > 0)
                        c->dirty = true;
                net_table_mark_addrs(c->table);
                r = send_dump(c, RTM_GETADDR);
                if (r < 0) {
                        c->dump = DUMP_NONE;
                        c->retry = true;
                        (void) arm_timer(c, RETRY_USEC);
                        return;
                }
                c->dump = DUMP_ADDRS;
                return;
        }
        if (net_table_sweep_addrs(c->table) > 0)
                c->dirty = true;
        c->dump = DUMP_NONE;
        if (c->resync_pending) {
                (void) start_dump(c);
                return;
        }
        if (!c->initial_done) {
                /* The first snapshot goes out at once: hosts wait for it. */
                c->initial_done = true;
                emit(c);
                return;
        }
        if (c->dirty) {
                c->dirty = false;
                changed(c);
        }
}

static int on_msg(const struct net_msg *m, void *userdata) {
        struct net_collector *c = userdata;
        /* Notifications carry the seq of whoever caused them; only our port id tells our
         * dump's replies apart. */
        bool ours = c->dump != DUMP_NONE && m->seq == c->dump_seq && m->pid == c->portid;
        int r;

        if (ours && (m->nlflags & NLM_F_DUMP_INTR))
                c->resync_pending = true;      /* the kernel saw changes mid-dump */

        switch (m->type) {
        case NLMSG_DONE:
        case NLMSG_ERROR:
                if (ours && m->error < 0) {
                        log_warning_errno(m->error, "Netlink dump failed, retrying: %m");
                        c->dump = DUMP_NONE;
                        c->retry = true;
                        (void) arm_timer(c, RETRY_USEC);
                } else if (ours && m->type == NLMSG_DONE)
                        dump_done(c);
                return 0;
        }
        r = net_table_apply(c->table, m);
        if (r < 0)
                return log_warning_errno(r, "Cannot track a network change: %m");
        if (r > 0)
                changed(c);
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct net_collector *c = userdata;

        for (int i = 0; i < RECV_BATCH; i++) {
                struct sockaddr_nl sender = {};
                struct iovec iov = { .iov_base = c->buf, .iov_len = NET_COLLECTOR_RECV_BUF_SIZE };
                struct msghdr mh = { .msg_name = &sender, .msg_namelen = sizeof sender, .msg_iov = &iov, .msg_iovlen = 1 };
                unsigned bad = 0;

                ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        if (errno == ENOBUFS) {
                                /* The kernel dropped events for us: only a re-dump says
                                 * what the state is now. */
                                log_info("Netlink receive queue overflowed; re-reading links and addresses.");
                                (void) start_dump(c);
                                continue;
                        }
                        /* Returning an error would disable this source for good. */
                        log_warning_errno(errno, "Cannot read from netlink: %m");
                        return 0;
                }
                /* Only the kernel speaks rtnetlink to us; other sockets could try. */
                if (mh.msg_namelen != sizeof sender || sender.nl_pid != 0)
                        continue;
                if (mh.msg_flags & MSG_TRUNC) {
                        log_warning("Truncated netlink message; re-reading links and addresses.");
                        (void) start_dump(c);
                        continue;
                }
                if (net_parse_buffer(c->buf, (size_t) n, on_msg, c, &bad) < 0 || bad > 0)
                        log_debug("Ignored %u malformed netlink message(s).", bad ? bad : 1);
        }
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct net_collector *c = userdata;

        if (c->retry) {
                c->retry = false;
                (void) start_dump(c);
                return 0;
        }
        if (c->dump != DUMP_NONE)
                return 0;      /* the end of the dump emits */
        emit(c);
        return 0;
}

static int open_socket(int rcvbuf, int *ret, uint32_t *ret_portid) {
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open an rtnetlink socket: %m");

        /* A large queue makes overflows (and re-dumps) rare during link storms;
         * FORCE needs CAP_NET_ADMIN, the plain option is capped by rmem_max. */
        int size = rcvbuf > 0 ? rcvbuf : (int) SOCK_RCVBUF;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);

        struct sockaddr_nl sa = {
                .nl_family = AF_NETLINK,
                .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
        };
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return log_error_errno(errno, "Cannot subscribe to rtnetlink events: %m");
        socklen_t len = sizeof sa;
        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return log_error_errno(errno, "Cannot read the rtnetlink port id: %m");
        *ret_portid = sa.nl_pid;
        *ret = TAKE_FD(fd);
        return 0;
}

int net_collector_new(struct net_collector **ret, sd_event *e, const struct net_collector_options *o,
                      net_change_fn fn, void *userdata) {
        struct net_collector_options def = NET_COLLECTOR_OPTIONS_DEFAULT;
        _cleanup_(net_collector_freep) struct net_collector *c = NULL;
        int r;

        if (!o)
                o = &def;
        c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        c->fd = -1;
        c->fn = fn;
        c->userdata = userdata;
        c->debounce_usec = o->debounce_usec ?: NET_DEBOUNCE_USEC_DEFAULT;
        c->classify = o->classify;
        c->classify_userdata = o->classify_userdata;
        c->event = sd_event_ref(e);
        c->buf = malloc(NET_COLLECTOR_RECV_BUF_SIZE);
        if (o->root && o->root[0] && !(c->root = strdup(o->root)))
                return log_oom();
        if (!c->buf)
                return log_oom();
        struct net_table_options to = o->table;
        /* The kernel describes the real /sys only; a test root's fake one is the truth there. */
        if (!o->classify)
                to.parents_from_netlink = !c->root;
        r = net_table_new(&c->table, &to);
        if (r < 0)
                return log_oom();

        r = open_socket(o->rcvbuf, &c->fd, &c->portid);
        if (r < 0)
                return r;
        r = sd_event_add_io(e, &c->io, c->fd, EPOLLIN, on_io, c);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the rtnetlink socket: %m");
        /* Accuracy 0 would mean sd-event's default slack of 250 ms on top of the debounce. */
        r = sd_event_add_time_relative(e, &c->timer, CLOCK_MONOTONIC, UINT64_MAX / 2, 1, on_timer, c);
        if (r < 0)
                return log_error_errno(r, "Cannot create the network debounce timer: %m");
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(c->io, "net-netlink");
        (void) sd_event_source_set_description(c->timer, "net-debounce");

        r = start_dump(c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

struct net_collector *net_collector_free(struct net_collector *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        sd_event_unref(c->event);
        net_table_free(c->table);
        net_snapshot_free(c->snapshot);
        free(c->root);
        free(c->buf);
        free(c);
        return NULL;
}

const struct net_snapshot *net_collector_snapshot(const struct net_collector *c) {
        return c ? c->snapshot : NULL;
}

int net_collector_resync(struct net_collector *c) {
        return start_dump(c);
}
