/* One simulated Hyper-V guest: fake sysfs, IC channels (ring file + interrupt socket,
 * decision 6) and the hv_kvp relay socket, with the host's side of each protocol
 * (spec/hyperv-ic.md §9). The hv_vss relay is in hv-vss.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hv-sim.h"
#include "pvic/freeze.h"
#include "pvic/macro.h"

static const struct {
        const char *name, *class_guid, *instance_guid;
        enum vmbus_ic_type type;
        unsigned relid;
} ic_info[_HV_IC_MAX] = {
        [HV_IC_HEARTBEAT] = { "heartbeat", "57164f39-9115-4e78-ab55-382f3bd5422d",
                              "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0", VMBUS_IC_HEARTBEAT, 11 },
        [HV_IC_SHUTDOWN] = { "shutdown", "0e0b6031-5213-4934-818b-38d90ced39db",
                             "b6650ff7-33bc-4840-8048-e0676786f393", VMBUS_IC_SHUTDOWN, 12 },
        [HV_IC_TIMESYNC] = { "timesync", "9527e630-d0ae-497b-adce-e80ab0175caf",
                             "2dd1ce17-079e-403c-b352-a1921ee207ee", VMBUS_IC_TIMESYNC, 13 },
        [HV_IC_KVP] = { "kvp", "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6",
                        "242ff919-07db-4180-9c2e-b86cb68c8c55", VMBUS_IC_KVP, 14 },
        [HV_IC_VSS] = { "vss", "35fa2e29-ea23-4236-96ae-3a6ebacba440",
                        "0b1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", VMBUS_IC_VSS, 15 },
};

/* What a Windows host offers (spec §3.3 "versions known to exist on the host side"). */
static const struct vmbus_ic_version host_fw[] = { { 1, 0 }, { 3, 0 } };
static const struct vmbus_ic_version host_hb[] = { { 1, 0 }, { 3, 0 }, { 3, 1 } };
static const struct vmbus_ic_version host_sd[] = { { 1, 0 }, { 3, 0 }, { 3, 1 }, { 3, 2 } };
static const struct vmbus_ic_version host_ts[] = { { 1, 0 }, { 3, 0 }, { 4, 0 } };
static const struct vmbus_ic_version host_kvp[] = { { 3, 0 }, { 4, 0 }, { 5, 0 } };
/* OpenVMM's VSS versions (hyperv_ic_protocol vss.rs): a guest speaking 5.0 picks that. */
static const struct vmbus_ic_version host_vss[] = { { 4, 0 }, { 5, 0 }, { 6, 0 }, { 7, 0 } };

const char *hv_ic_name(enum hv_ic ic) {
        return ic < _HV_IC_MAX ? ic_info[ic].name : "?";
}

int hv_ic_from_name(const char *s) {
        for (unsigned i = 0; i < _HV_IC_MAX; i++)
                if (strcmp(s, ic_info[i].name) == 0)
                        return (int)i;
        return -EINVAL;
}

static void msg(const char *fmt, ...) _printf_(1, 2);
static void msg(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "pvic-hostsim hyperv: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static char *pathjoin(const char *a, const char *b) {
        char *s;
        return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

/* snprintf for paths: too long is an error, never a cut path. */
static int pathf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static int pathf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path) {
        char buf[4096];
        if (strlen(path) >= sizeof buf)
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int write_text(const char *path, const char *fmt, ...) _printf_(2, 3);
static int write_text(const char *path, const char *fmt, ...) {
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        va_list ap;
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        return fclose(f) == 0 ? 0 : -EIO;
}

int hv_listen_seqpacket(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        unlink(path);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return fd;
}

/* ---- IC channels ---- */

static void ch_disconnect(struct hv_channel *c, const char *why) {
        if (c->fd < 0)
                return;
        msg("%s/%s: guest closed the channel (%s)", c->g->name, hv_ic_name(c->ic), why);
        c->io_src = sd_event_source_disable_unref(c->io_src);
        close(c->fd);
        c->fd = -1;
        c->negotiated = false;
        /* uio's open() hands the guest fresh control pages before it returns; our open
         * is asynchronous, so clean up at close: a reopening guest must not find the
         * old (possibly garbage) ring before we accept it. */
        vmbus_ring_reset(&c->rings.tx);
        vmbus_ring_reset(&c->rings.rx);
        hv_wait_done_channel(c, -ECONNRESET, NULL, 0);
}

static int ch_signal(struct hv_channel *c) {
        static uint32_t count;
        count++;
        /* uio_hv_generic's interrupt callback masks RX before counting (§1.3). */
        __atomic_store_n(&c->rings.rx.ctrl->interrupt_mask, 1, __ATOMIC_SEQ_CST);
        if (write(c->fd, &count, sizeof count) < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

static int ch_send(struct hv_channel *c, const uint8_t *pkt, size_t len, bool force_signal) {
        if (c->fd < 0)
                return -ENOTCONN;
        struct iovec iov = { .iov_base = (void *)pkt, .iov_len = len };
        int r = vmbus_ring_send(&c->rings.rx, VMBUS_PKT_DATA_INBAND, 0, 0, &iov, 1);
        if (r < 0)
                return r;
        return r > 0 || force_signal ? ch_signal(c) : 0;
}

static void ch_reply(struct hv_channel *c, const uint8_t *pkt, size_t len) {
        struct vmbus_ic_header h;
        if (vmbus_ic_header_decode(pkt, len, &h) < 0 ||
            (h.flags & (VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_RESPONSE)) !=
                    (VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_RESPONSE)) {
                c->bad_replies++;
                msg("%s/%s: malformed reply", c->g->name, hv_ic_name(c->ic));
                return;
        }
        c->replies++;
        c->last_status = h.status;
        if (h.msgtype == VMBUS_IC_HEARTBEAT)
                c->hb_outstanding = false;
        if (h.msgtype == VMBUS_IC_NEGOTIATE) {
                int r = vmbus_ic_negotiate_reply_decode(pkt, len, &c->fw, &c->msgver);
                c->negotiated = r > 0;
                msg("%s/%s: negotiation %s (framework %u.%u, message %u.%u)", c->g->name, hv_ic_name(c->ic),
                    r > 0 ? "done" : "failed", c->fw.major, c->fw.minor, c->msgver.major, c->msgver.minor);
                /* Timesync: one SYNC right after negotiation (§9). */
                if (c->negotiated && c->ic == HV_IC_TIMESYNC)
                        hv_send_time(c, VMBUS_IC_TIMESYNC_FLAG_SYNC, 0);
                return;
        }
        hv_wait_done_channel(c, 0, pkt, len);
}

static void ch_drain(struct hv_channel *c) {
        for (;;) {
                struct vmbus_packet pkt;
                int r;
                while ((r = vmbus_ring_recv(&c->rings.tx, &pkt, c->buf, sizeof c->buf)) > 0)
                        ch_reply(c, c->buf, pkt.payload_len);
                if (r < 0) {
                        msg("%s/%s: guest's ring is corrupt (%s); closing", c->g->name, hv_ic_name(c->ic),
                            strerror(-r));
                        ch_disconnect(c, "corrupt ring");
                        return;
                }
                vmbus_ring_recv_commit(&c->rings.tx);
                if (vmbus_ring_unmask(&c->rings.tx) <= 0)
                        return;
        }
}

static int ch_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_channel *c = userdata;
        uint32_t count;
        ssize_t n = read(fd, &count, sizeof count);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                ch_disconnect(c, n == 0 ? "closed" : strerror(errno));
                return 0;
        }
        ch_drain(c);
        return 0;
}

static int ch_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_channel *c = userdata;
        int nfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (nfd < 0)
                return 0;
        if (c->fd >= 0) {
                /* One opener per channel: a second one is refused. */
                close(nfd);
                return 0;
        }
        c->fd = nfd;
        c->connects++;
        c->hb_outstanding = false; /* a reopened channel starts a new conversation */
        c->negotiated = false;
        /* Opening the channel: fresh control pages (§1.3), then the host starts the IC
         * protocol with a negotiate request (§3.3, §9). */
        vmbus_ring_reset(&c->rings.tx);
        vmbus_ring_reset(&c->rings.rx);
        if (sd_event_add_io(c->g->sim->event, &c->io_src, c->fd, EPOLLIN, ch_on_io, c) < 0) {
                ch_disconnect(c, "no event source");
                return 0;
        }
        const struct vmbus_ic_version *mv;
        size_t nmv;
        switch (c->ic) {
        case HV_IC_HEARTBEAT: mv = host_hb; nmv = ELEMENTSOF(host_hb); break;
        case HV_IC_SHUTDOWN: mv = host_sd; nmv = ELEMENTSOF(host_sd); break;
        case HV_IC_TIMESYNC: mv = host_ts; nmv = ELEMENTSOF(host_ts); break;
        case HV_IC_VSS: mv = host_vss; nmv = ELEMENTSOF(host_vss); break;
        default: mv = host_kvp; nmv = ELEMENTSOF(host_kvp); break;
        }
        ssize_t len = vmbus_ic_negotiate_request(c->buf, sizeof c->buf, host_fw, ELEMENTSOF(host_fw), mv, nmv);
        /* Always signal: the simulated open is asynchronous, unlike uio's open(). */
        if (len < 0 || ch_send(c, c->buf, (size_t)len, true) < 0)
                ch_disconnect(c, "cannot send the negotiate request");
        msg("%s/%s: guest opened the channel (#%u)", c->g->name, hv_ic_name(c->ic), c->connects);
        return 0;
}

static int ch_init(struct hv_guest *g, enum hv_ic ic) {
        struct hv_channel *c = &g->ch[ic];
        char path[4096];
        int r;

        c->g = g;
        c->ic = ic;
        c->fd = c->lfd = -1;
        c->ring_size = g->sim->ring_size;
        snprintf(c->uio, sizeof c->uio, "uio%u", (unsigned)ic);

        if ((r = pathf(path, sizeof path, "%s/sys/bus/vmbus/devices/%s", g->root, ic_info[ic].instance_guid)) < 0)
                return r;
        char dev[4096];
        if ((r = pathf(dev, sizeof dev, "%s", path)) < 0)
                return r;
        if ((r = pathf(path, sizeof path, "%s/channels/%u", dev, ic_info[ic].relid)) < 0)
                return r;
        if ((r = mkdir_p(path)) < 0)
                return r;
        bool kernel = g->sim->kernel_ics & (1u << ic);
        if ((r = pathf(path, sizeof path, "%s/uio/%s", dev, c->uio)) < 0)
                return r;
        if (!kernel && (r = mkdir_p(path)) < 0)
                return r;
        if ((r = pathf(path, sizeof path, "%s/class_id", dev)) < 0)
                return r;
        write_text(path, "{%s}\n", ic_info[ic].class_guid);
        if ((r = pathf(path, sizeof path, "%s/device_id", dev)) < 0)
                return r;
        write_text(path, "{%s}\n", ic_info[ic].instance_guid);
        if ((r = pathf(path, sizeof path, "%s/id", dev)) < 0)
                return r;
        write_text(path, "%u\n", ic_info[ic].relid);
        if ((r = pathf(path, sizeof path, "%s/driver", dev)) < 0)
                return r;
        unlink(path);
        if (symlink(kernel ? "../../../../bus/vmbus/drivers/hv_utils" : "../../../../bus/vmbus/drivers/uio_hv_generic",
                    path) < 0)
                return -errno;
        if (kernel)
                return 0; /* hv_utils owns it: no uio node, no ring file, no device */

        if ((r = pathf(path, sizeof path, "%s/sys/class/uio/%s/maps/map0", g->root, c->uio)) < 0)
                return r;
        if ((r = mkdir_p(path)) < 0)
                return r;
        if ((r = pathf(path, sizeof path, "%s/sys/class/uio/%s/maps/map0/name", g->root, c->uio)) < 0)
                return r;
        write_text(path, "txrx_rings\n");
        if ((r = pathf(path, sizeof path, "%s/sys/class/uio/%s/maps/map0/size", g->root, c->uio)) < 0)
                return r;
        write_text(path, "0x%016zx\n", 2 * c->ring_size);

        /* The ring memory both sides map. */
        if ((r = pathf(path, sizeof path, "%s/channels/%u/ring", dev, ic_info[ic].relid)) < 0)
                return r;
        c->ring_path = strdup(path);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)(2 * c->ring_size)) < 0) {
                close(fd);
                return -errno;
        }
        c->mem = mmap(NULL, 2 * c->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (c->mem == MAP_FAILED) {
                c->mem = NULL;
                return -errno;
        }
        long ps = sysconf(_SC_PAGESIZE);
        r = vmbus_channel_rings_init(&c->rings, c->mem, c->ring_size, (size_t)(ps > 0 ? ps : 4096));
        if (r < 0)
                return r;
        vmbus_ring_reset(&c->rings.tx);
        vmbus_ring_reset(&c->rings.rx);

        if ((r = pathf(path, sizeof path, "%s/dev/%s", g->root, c->uio)) < 0)
                return r;
        c->dev_path = strdup(path);
        c->lfd = hv_listen_seqpacket(path);
        if (c->lfd < 0)
                return c->lfd;
        return sd_event_add_io(g->sim->event, &c->accept_src, c->lfd, EPOLLIN, ch_on_accept, c);
}

int hv_rescind(struct hv_channel *c) {
        if (c->lfd < 0)
                return -EALREADY;
        if (c->fd >= 0) {
                ch_disconnect(c, "rescinded by the host");
                msg("%s/%s: channel rescinded", c->g->name, hv_ic_name(c->ic));
        }
        c->accept_src = sd_event_source_disable_unref(c->accept_src);
        close(c->lfd);
        c->lfd = -1;
        unlink(c->dev_path); /* the uio node goes away with the device */
        return 0;
}

int hv_offer(struct hv_channel *c) {
        if (!c->dev_path)
                return -EOPNOTSUPP; /* kernel-owned: no uio node */
        if (c->lfd >= 0)
                return -EALREADY;
        c->lfd = hv_listen_seqpacket(c->dev_path);
        if (c->lfd < 0)
                return c->lfd;
        msg("%s/%s: channel offered again", c->g->name, hv_ic_name(c->ic));
        return sd_event_add_io(c->g->sim->event, &c->accept_src, c->lfd, EPOLLIN, ch_on_accept, c);
}

static void ch_done(struct hv_channel *c) {
        c->accept_src = sd_event_source_disable_unref(c->accept_src);
        c->io_src = sd_event_source_disable_unref(c->io_src);
        if (c->fd >= 0)
                close(c->fd);
        if (c->lfd >= 0)
                close(c->lfd);
        c->fd = c->lfd = -1;
        if (c->dev_path)
                unlink(c->dev_path);
        if (c->mem)
                munmap(c->mem, 2 * c->ring_size);
        c->mem = NULL;
        free(c->dev_path);
        free(c->ring_path);
}

static bool ch_ready(const struct hv_channel *c) {
        return c->fd >= 0 && c->negotiated;
}

int hv_send_heartbeat(struct hv_channel *c) {
        if (!ch_ready(c))
                return -ENOTCONN;
        /* Increasing sequence numbers; the guest must answer seq + 1 (§4.1). */
        ssize_t len = vmbus_ic_heartbeat_request(c->buf, sizeof c->buf, c->msgver, ++c->seq);
        return len < 0 ? (int)len : ch_send(c, c->buf, (size_t)len, false);
}

int hv_send_shutdown(struct hv_channel *c, uint32_t flags, uint32_t reason, uint32_t timeout, const char *message) {
        if (!ch_ready(c))
                return -ENOTCONN;
        ssize_t len = vmbus_ic_shutdown_request(c->buf, sizeof c->buf, c->msgver, reason, timeout, flags, message);
        return len < 0 ? (int)len : ch_send(c, c->buf, (size_t)len, false);
}

int hv_send_time(struct hv_channel *c, unsigned flags, uint8_t icflags) {
        if (!ch_ready(c))
                return -ENOTCONN;
        struct timespec rt, mono;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        struct vmbus_ic_timesync_wire t = { .flags = (uint8_t)flags };
        vmbus_unix_ns_to_filetime((int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec, &t.parent_time);
        /* The partition reference counter: 100 ns units since "boot" (our monotonic). */
        t.vm_reference_time = ((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec) / 100u;
        ssize_t len = vmbus_ic_timesync_request(c->buf, sizeof c->buf, c->msgver, icflags, &t);
        return len < 0 ? (int)len : ch_send(c, c->buf, (size_t)len, false);
}

int hv_send_kvp(struct hv_channel *c, const struct host_kvp_request *req) {
        if (!ch_ready(c))
                return -ENOTCONN;
        ssize_t len = vmbus_ic_kvp_request(c->buf, sizeof c->buf, c->msgver, req);
        return len < 0 ? (int)len : ch_send(c, c->buf, (size_t)len, false);
}

int hv_send_vss(struct hv_channel *c, uint8_t op) {
        if (!ch_ready(c))
                return -ENOTCONN;
        /* FREEZE carries the LUN list hosts send (the 6,260-byte body); the rest the
         * header and flags word. */
        size_t body = op == VSS_OP_FREEZE ? VMBUS_IC_VSS_FREEZE_BODY : VMBUS_IC_VSS_BODY;
        ssize_t len = vmbus_ic_vss_request(c->buf, sizeof c->buf, c->msgver, op, body);
        return len < 0 ? (int)len : ch_send(c, c->buf, (size_t)len, false);
}

/* Garbage a broken or hostile host could put into the guest's RX ring. */
int hv_corrupt(struct hv_channel *c, const char *how) {
        struct vmbus_ring *rx = &c->rings.rx;
        if (c->fd < 0)
                return -ENOTCONN;
        uint32_t w = __atomic_load_n(&rx->ctrl->write_index, __ATOMIC_ACQUIRE);
        if (strcmp(how, "length") == 0) {
                /* A descriptor whose length runs past what was written. */
                uint8_t d[24] = { 6, 0, 2, 0, 0xff, 0xff };
                for (unsigned i = 0; i < sizeof d; i++)
                        rx->data[(w + i) % rx->dsize] = d[i];
                __atomic_store_n(&rx->ctrl->write_index, (w + 24) % rx->dsize, __ATOMIC_RELEASE);
        } else if (strcmp(how, "offset") == 0) {
                /* An index beyond the data area. */
                __atomic_store_n(&rx->ctrl->write_index, rx->dsize + 64, __ATOMIC_RELEASE);
        } else if (strcmp(how, "oversize") == 0) {
                /* A well-formed packet larger than any IC message (§3.6). */
                static uint8_t big[20000];
                struct iovec iov = { big, sizeof big };
                int r = vmbus_ring_send(rx, VMBUS_PKT_DATA_INBAND, 0, 0, &iov, 1);
                if (r < 0)
                        return r;
        } else if (strcmp(how, "header") == 0) {
                /* A packet too short for the IC header. */
                uint8_t small[16] = { 1, 0, 0, 0, 8 };
                struct iovec iov = { small, sizeof small };
                int r = vmbus_ring_send(rx, VMBUS_PKT_DATA_INBAND, 0, 0, &iov, 1);
                if (r < 0)
                        return r;
        } else if (strcmp(how, "vss_short") == 0) {
                /* A VSS message whose body ends inside the operation header. */
                static const uint8_t body[4] = { VSS_OP_FREEZE };
                struct vmbus_ic_header h = { .framever = { 3, 0 }, .msgtype = VMBUS_IC_VSS, .msgver = c->msgver,
                                             .flags = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST };
                ssize_t len = vmbus_ic_request_encode(c->buf, sizeof c->buf, &h, body, sizeof body);
                if (len < 0)
                        return (int)len;
                struct iovec iov = { c->buf, (size_t)len };
                int r = vmbus_ring_send(rx, VMBUS_PKT_DATA_INBAND, 0, 0, &iov, 1);
                if (r < 0)
                        return r;
        } else if (strcmp(how, "pipe") == 0) {
                /* A heartbeat whose pipe header claims more bytes than the packet has. */
                ssize_t len = vmbus_ic_heartbeat_request(c->buf, sizeof c->buf, c->msgver, c->seq);
                if (len < 0)
                        return (int)len;
                c->buf[4] = 0xff;
                c->buf[5] = 0x3f;
                struct iovec iov = { c->buf, (size_t)len };
                int r = vmbus_ring_send(rx, VMBUS_PKT_DATA_INBAND, 0, 0, &iov, 1);
                if (r < 0)
                        return r;
        } else
                return -EINVAL;
        return ch_signal(c);
}

/* ---- the hv_kvp relay: we are the kernel (§5) ---- */

static void relay_disconnect(struct hv_relay *r, struct hv_guest *g, const char *why) {
        if (r->fd < 0)
                return;
        msg("%s/hv_kvp: daemon closed the device (%s)", g->name, why);
        r->io_src = sd_event_source_disable_unref(r->io_src);
        close(r->fd);
        r->fd = -1;
        r->registered = false;
        hv_wait_done_relay(r, -ECONNRESET, NULL);
}

static int relay_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_guest *g = userdata;
        struct hv_relay *r = &g->relay;
        ssize_t n = read(fd, r->msg, sizeof r->msg);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                relay_disconnect(r, g, n == 0 ? "closed" : strerror(errno));
                return 0;
        }
        if (!r->registered) {
                /* The kernel: anything but a registration is an incompatible daemon. */
                if (kvp_msg_decode_register(r->msg, (size_t)n) != KVP_MSG_OP_REGISTER1) {
                        relay_disconnect(r, g, "bad registration");
                        return 0;
                }
                kvp_msg_encode_registered(r->msg, "3.1");
                if (write(r->fd, r->msg, sizeof r->msg) != (ssize_t)sizeof r->msg) {
                        relay_disconnect(r, g, "cannot answer the registration");
                        return 0;
                }
                r->registered = true;
                msg("%s/hv_kvp: daemon registered", g->name);
                return 0;
        }
        if (r->wait.kind != HV_WAIT_KVP)
                return 0; /* a reply nobody asked for: the kernel answers EINVAL; we drop it */
        struct host_kvp_reply *reply = calloc(1, sizeof *reply);
        if (!reply)
                return 0;
        int k = kvp_msg_decode_reply(r->msg, (size_t)n, r->wait.kvp_op, reply);
        hv_wait_done_relay(r, k < 0 ? k : 0, reply);
        free(reply);
        return 0;
}

static int relay_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_guest *g = userdata;
        struct hv_relay *r = &g->relay;
        int nfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (nfd < 0)
                return 0;
        if (r->fd >= 0) {
                close(nfd); /* EBUSY: one opener */
                return 0;
        }
        r->fd = nfd;
        r->connects++;
        r->registered = false;
        if (sd_event_add_io(g->sim->event, &r->io_src, r->fd, EPOLLIN, relay_on_io, g) < 0)
                relay_disconnect(r, g, "no event source");
        return 0;
}

int hv_relay_send(struct hv_relay *r, const struct host_kvp_request *req) {
        if (r->fd < 0 || !r->registered)
                return -ENOTCONN;
        int k = kvp_msg_encode_request(r->msg, req);
        if (k < 0)
                return k;
        ssize_t n = write(r->fd, r->msg, sizeof r->msg);
        return n == (ssize_t)sizeof r->msg ? 0 : -EIO;
}

/* ---- guest ---- */

static int on_hb_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct hv_guest *g = userdata;
        struct hv_channel *c = &g->ch[HV_IC_HEARTBEAT];
        if (c->hb_outstanding)
                c->hb_missed++;
        else if (c->wait.kind == HV_WAIT_NONE && ch_ready(c) && hv_send_heartbeat(c) >= 0) {
                c->hb_outstanding = true;
                c->hb_periodic_sent++;
        }
        sd_event_source_set_time(s, usec + g->sim->heartbeat_interval_usec);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_time_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct hv_guest *g = userdata;
        struct hv_channel *c = &g->ch[HV_IC_TIMESYNC];
        /* Periodic samples carry icflags 0, as OpenVMM's do: no answer expected. */
        if (c->wait.kind == HV_WAIT_NONE)
                hv_send_time(c, VMBUS_IC_TIMESYNC_FLAG_SAMPLE, 0);
        sd_event_source_set_time(s, usec + g->sim->time_interval_usec);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

int hv_guest_init(struct hv_guest *g, struct hv_sim *sim, unsigned index, const char *name) {
        int r;
        g->sim = sim;
        g->index = index;
        g->relay.fd = g->relay.lfd = -1;
        g->vss.fd = g->vss.lfd = -1;
        for (unsigned i = 0; i < _HV_IC_MAX; i++)
                g->ch[i].fd = g->ch[i].lfd = -1;
        g->name = strdup(name);
        if (asprintf(&g->root, "%s/%s/root", sim->dir, name) < 0) {
                g->root = NULL;
                return -ENOMEM;
        }
        if (!g->name)
                return -ENOMEM;
        _cleanup_free_ char *drv = pathjoin(g->root, "/sys/bus/vmbus/drivers/uio_hv_generic");
        _cleanup_free_ char *vmbus = pathjoin(g->root, "/dev/vmbus");
        if (!drv || !vmbus)
                return -ENOMEM;
        if ((r = mkdir_p(drv)) < 0 || (r = mkdir_p(vmbus)) < 0)
                return r;
        for (unsigned i = 0; i < _HV_IC_MAX; i++)
                if ((r = ch_init(g, i)) < 0) {
                        msg("%s/%s: setup failed: %s", name, hv_ic_name(i), strerror(-r));
                        return r;
                }
        g->relay.path = pathjoin(g->root, "/dev/vmbus/hv_kvp");
        if (!g->relay.path)
                return -ENOMEM;
        g->relay.lfd = hv_listen_seqpacket(g->relay.path);
        if (g->relay.lfd < 0)
                return g->relay.lfd;
        r = sd_event_add_io(sim->event, &g->relay.accept_src, g->relay.lfd, EPOLLIN, relay_on_accept, g);
        if (r < 0)
                return r;
        if ((r = hv_vss_init(g)) < 0)
                return r;
        uint64_t now;
        sd_event_now(sim->event, CLOCK_MONOTONIC, &now);
        if (sim->heartbeat_interval_usec &&
            (r = sd_event_add_time(sim->event, &g->hb_timer, CLOCK_MONOTONIC, now + sim->heartbeat_interval_usec, 0,
                                   on_hb_timer, g)) < 0)
                return r;
        if (sim->time_interval_usec &&
            (r = sd_event_add_time(sim->event, &g->time_timer, CLOCK_MONOTONIC, now + sim->time_interval_usec, 0,
                                   on_time_timer, g)) < 0)
                return r;
        return 0;
}

void hv_guest_done(struct hv_guest *g) {
        g->hb_timer = sd_event_source_disable_unref(g->hb_timer);
        g->time_timer = sd_event_source_disable_unref(g->time_timer);
        for (unsigned i = 0; i < _HV_IC_MAX; i++)
                ch_done(&g->ch[i]);
        g->relay.accept_src = sd_event_source_disable_unref(g->relay.accept_src);
        g->relay.io_src = sd_event_source_disable_unref(g->relay.io_src);
        if (g->relay.fd >= 0)
                close(g->relay.fd);
        if (g->relay.lfd >= 0)
                close(g->relay.lfd);
        if (g->relay.path)
                unlink(g->relay.path);
        free(g->relay.path);
        hv_vss_done(g);
        free(g->name);
        free(g->root);
}
