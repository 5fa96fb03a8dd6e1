/* One uio-owned IC channel: open, map, negotiate, drain (§2.6), reply, reset on garbage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvic/log.h"
#include "pvic/vmbus_channel.h"
#include "pvic/vmbus_ring.h"

struct vmbus_channel {
        sd_event *event;
        char *name;
        enum vmbus_ic_type type;
        const struct vmbus_ic_versions *versions;
        char *dev_path;
        char *ring_path;
        size_t ring_size;
        size_t page_size;
        vmbus_channel_fn fn;
        void *userdata;

        int fd;
        void *mem;
        size_t mem_size;
        struct vmbus_channel_rings rings;
        sd_event_source *io;
        sd_event_source *retry;
        uint64_t backoff_usec, backoff_min_usec;
        bool logged_open_error;

        bool negotiated;
        struct vmbus_ic_version fw, msgver;
        bool tx_full_logged;
        uint64_t cur_trans_id;

        unsigned n_opens, n_resets;
        unsigned long long n_dropped;
        /* Linux's receive buffer size for util channels (§3.6): larger packets are garbage. */
        uint8_t buf[VMBUS_IC_MAX_PAYLOAD];
};

static void channel_schedule_open(struct vmbus_channel *c);

static int open_dev(const char *path, bool *ret_sock) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        *ret_sock = S_ISSOCK(st.st_mode);
        if (!*ret_sock) {
                int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
                return fd < 0 ? -errno : fd;
        }
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void channel_close(struct vmbus_channel *c) {
        c->io = sd_event_source_disable_unref(c->io);
        if (c->mem)
                munmap(c->mem, c->mem_size);
        c->mem = NULL;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->negotiated = false;
        c->fw = c->msgver = (struct vmbus_ic_version){ 0, 0 };
}

static void channel_reset(struct vmbus_channel *c, int error, const char *what) {
        /* Closing the uio node closes the VMBus channel; the host starts the IC over with
         * a new negotiation when we reopen (§3.4). The other channels are untouched. */
        c->n_resets++;
        log_error_errno(error, "vmbus %s: %s: %m; resetting the channel", c->name, what);
        channel_close(c);
        channel_schedule_open(c);
}

static int channel_signal(struct vmbus_channel *c) {
        int32_t one = 1;
        /* On uio this also clears the RX mask; we want RX interrupts anyway (§2.5). */
        ssize_t n = write(c->fd, &one, sizeof one);
        if (n < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

static int channel_send(struct vmbus_channel *c, uint64_t trans_id, const uint8_t *pkt, size_t len) {
        struct iovec iov = { .iov_base = (void *)pkt, .iov_len = len };
        int r = vmbus_ring_send(&c->rings.tx, VMBUS_PKT_DATA_INBAND, 0, trans_id, &iov, 1);
        if (r == -EAGAIN) {
                /* The host may never read (OpenVMM's timesync sends icflags 0 and does
                 * not look at our ring): drop, never wait (§3.2). */
                c->n_dropped++;
                if (!c->tx_full_logged)
                        log_warning("vmbus %s: TX ring full, dropping replies until the host reads", c->name);
                c->tx_full_logged = true;
                return 0;
        }
        if (r < 0)
                return r;
        c->tx_full_logged = false;
        return r > 0 ? channel_signal(c) : 0;
}

/* 1: reply in c->buf; 0: nothing to send; -EBADMSG: reset. */
static int channel_dispatch(struct vmbus_channel *c, size_t len) {
        struct vmbus_ic_header h;
        int r = vmbus_ic_header_decode(c->buf, len, &h);
        if (r < 0)
                return r;
        /* A pipe header claiming more than the packet holds is a length past the end.
         * (Linux ignores the pipe header; a smaller size is tolerated.) */
        if (h.pipe_type != VMBUS_PIPE_DATA || (size_t)h.pipe_size + VMBUS_PIPE_HDR_SIZE > len)
                return -EBADMSG;

        if (h.msgtype == VMBUS_IC_NEGOTIATE) {
                struct vmbus_ic_version fw, msg;
                r = vmbus_ic_negotiate(c->buf, len, c->versions, &fw, &msg);
                if (r < 0)
                        return r;
                if (r > 0) {
                        c->negotiated = true;
                        c->fw = fw;
                        c->msgver = msg;
                        c->backoff_usec = c->backoff_min_usec;
                        log_info("vmbus %s: negotiated framework %u.%u, %s %u.%u", c->name, fw.major, fw.minor,
                                 c->name, msg.major, msg.minor);
                } else {
                        c->negotiated = false;
                        log_warning("vmbus %s: the host offers no version we support", c->name);
                }
                return 1;
        }
        if (!c->negotiated || h.msgtype != c->type) {
                /* Linux's hv_utils answers a foreign type with HV_E_FAIL; so do we. */
                log_debug("vmbus %s: unexpected message type %u%s; failing it", c->name, h.msgtype,
                          c->negotiated ? "" : " before negotiation");
                vmbus_ic_reply_status(c->buf, HOST_STATUS_FAILED);
                return 1;
        }
        return c->fn(c, c->buf, len, &h, c->userdata);
}

static int channel_drain(struct vmbus_channel *c) {
        for (;;) {
                struct vmbus_packet pkt;
                int r;
                while ((r = vmbus_ring_recv(&c->rings.rx, &pkt, c->buf, sizeof c->buf)) > 0) {
                        if (pkt.type != VMBUS_PKT_DATA_INBAND) {
                                log_debug("vmbus %s: ignoring packet type %u", c->name, pkt.type);
                                continue;
                        }
                        c->cur_trans_id = pkt.trans_id;
                        r = channel_dispatch(c, pkt.payload_len);
                        if (r < 0) {
                                channel_reset(c, -r, "malformed message");
                                return r;
                        }
                        if (r > 0) {
                                r = channel_send(c, pkt.trans_id, c->buf, pkt.payload_len);
                                if (r < 0) {
                                        channel_reset(c, -r, "cannot send");
                                        return r;
                                }
                        }
                        /* Free the slot now: a host that sends its next request as soon as
                         * it sees our answer keeps this loop going, and the ring must not
                         * fill up behind a read index we only move at the end. */
                        if (vmbus_ring_recv_commit(&c->rings.rx) > 0 && (r = channel_signal(c)) < 0) {
                                channel_reset(c, -r, "cannot signal the host");
                                return r;
                        }
                }
                if (r < 0) {
                        channel_reset(c, -r, r == -ENOBUFS ? "oversize packet" : "corrupt ring");
                        return r;
                }
                if (vmbus_ring_recv_commit(&c->rings.rx) > 0 && (r = channel_signal(c)) < 0) {
                        channel_reset(c, -r, "cannot signal the host");
                        return r;
                }
                /* Unmask, then look again: the host signals only on empty -> non-empty
                 * while unmasked (§2.6). */
                r = vmbus_ring_unmask(&c->rings.rx);
                if (r < 0) {
                        channel_reset(c, -r, "corrupt ring");
                        return r;
                }
                if (r == 0)
                        return 0;
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct vmbus_channel *c = userdata;
        int32_t count;

        if (revents & EPOLLIN) {
                /* uio: exactly 4 bytes, the interrupt count; its value does not matter. */
                ssize_t n = read(fd, &count, sizeof count);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        channel_reset(c, errno, "interrupt read failed");
                        return 0;
                }
                if (n == 0) {
                        channel_reset(c, ECONNRESET, "channel closed by the host");
                        return 0;
                }
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                /* Rescind: uio read/poll fail once the channel is gone. */
                channel_reset(c, ECONNRESET, "channel hung up");
                return 0;
        }
        channel_drain(c);
        return 0;
}

static int map_rings(struct vmbus_channel *c, bool sock) {
        _cleanup_close_ int rfd = -1;
        int mfd = c->fd;

        if (sock) {
                /* Simulation: the ring memory is a file both sides map (decision 6). */
                rfd = open(c->ring_path, O_RDWR | O_CLOEXEC);
                if (rfd < 0)
                        return -errno;
                struct stat st;
                if (fstat(rfd, &st) < 0)
                        return -errno;
                if ((uint64_t)st.st_size < 2 * (uint64_t)c->ring_size)
                        return -EBADMSG;
                mfd = rfd;
        }
        c->mem_size = 2 * c->ring_size;
        void *m = mmap(NULL, c->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        if (m == MAP_FAILED)
                return -errno;
        c->mem = m;
        return vmbus_channel_rings_init(&c->rings, c->mem, c->ring_size, c->page_size);
}

static int channel_open(struct vmbus_channel *c) {
        bool sock = false;
        int fd = open_dev(c->dev_path, &sock);
        if (fd < 0)
                return fd;
        c->fd = fd;
        int r = map_rings(c, sock);
        if (r < 0) {
                channel_close(c);
                return r;
        }
        r = sd_event_add_io(c->event, &c->io, c->fd, EPOLLIN, on_io, c);
        if (r < 0) {
                channel_close(c);
                return r;
        }
        c->n_opens++;
        c->logged_open_error = false;
        log_debug("vmbus %s: opened %s (ring %zu bytes per direction)", c->name, c->dev_path, c->ring_size);
        /* The host may have written its negotiate request before we looked. */
        channel_drain(c);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct vmbus_channel *c = userdata;
        int r = channel_open(c);
        if (r < 0) {
                if (!c->logged_open_error)
                        log_warning_errno(r, "vmbus %s: cannot open %s: %m; retrying", c->name, c->dev_path);
                c->logged_open_error = true;
                channel_schedule_open(c);
        }
        return 0;
}

static void channel_schedule_open(struct vmbus_channel *c) {
        uint64_t now, delay = c->backoff_usec;
        /* A host that keeps writing garbage must not make us spin: back off, and come
         * back down once a negotiation succeeded. */
        c->backoff_usec = delay == 0 ? c->backoff_min_usec : MIN(delay * 2, VMBUS_CHANNEL_BACKOFF_MAX_USEC);
        c->retry = sd_event_source_disable_unref(c->retry);
        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(c->event, &c->retry, CLOCK_MONOTONIC, now + delay, 0, on_retry, c) < 0)
                log_error("vmbus %s: cannot arm the reopen timer; channel stays down", c->name);
}

int vmbus_channel_new(struct vmbus_channel **ret, sd_event *e, const struct vmbus_channel_config *cfg,
                      vmbus_channel_fn fn, void *userdata) {
        long ps = sysconf(_SC_PAGESIZE);
        struct vmbus_channel *c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        c->fd = -1;
        c->event = sd_event_ref(e);
        c->type = cfg->type;
        c->versions = cfg->versions;
        c->ring_size = cfg->ring_size;
        c->page_size = cfg->page_size ? cfg->page_size : (size_t)(ps > 0 ? ps : 4096);
        c->backoff_min_usec = cfg->backoff_min_usec ? cfg->backoff_min_usec : VMBUS_CHANNEL_BACKOFF_MIN_USEC;
        c->fn = fn;
        c->userdata = userdata;
        c->name = strdup(cfg->name);
        c->dev_path = strdup(cfg->dev_path);
        c->ring_path = cfg->ring_path ? strdup(cfg->ring_path) : NULL;
        if (!c->name || !c->dev_path || (cfg->ring_path && !c->ring_path)) {
                vmbus_channel_free(c);
                return log_oom();
        }
        if (c->ring_size <= c->page_size || c->ring_size % 8 != 0) {
                vmbus_channel_free(c);
                return log_error_errno(EINVAL, "vmbus %s: unusable ring size %zu", cfg->name, cfg->ring_size);
        }
        channel_schedule_open(c);
        *ret = c;
        return 0;
}

struct vmbus_channel *vmbus_channel_free(struct vmbus_channel *c) {
        if (!c)
                return NULL;
        channel_close(c);
        c->retry = sd_event_source_disable_unref(c->retry);
        sd_event_unref(c->event);
        free(c->name);
        free(c->dev_path);
        free(c->ring_path);
        free(c);
        return NULL;
}

uint64_t vmbus_channel_trans_id(const struct vmbus_channel *c) { return c->cur_trans_id; }
unsigned vmbus_channel_generation(const struct vmbus_channel *c) { return c->n_opens; }

int vmbus_channel_send_reply(struct vmbus_channel *c, unsigned generation, uint64_t trans_id,
                             const uint8_t *pkt, size_t len) {
        if (c->fd < 0)
                return -ENOTCONN;
        if (generation != c->n_opens)
                return 0;
        int r = channel_send(c, trans_id, pkt, len);
        if (r < 0)
                channel_reset(c, -r, "cannot send");
        return r;
}

const char *vmbus_channel_name(const struct vmbus_channel *c) { return c->name; }
bool vmbus_channel_is_negotiated(const struct vmbus_channel *c) { return c->negotiated; }
struct vmbus_ic_version vmbus_channel_msgver(const struct vmbus_channel *c) { return c->msgver; }
unsigned vmbus_channel_n_opens(const struct vmbus_channel *c) { return c->n_opens; }
unsigned vmbus_channel_n_resets(const struct vmbus_channel *c) { return c->n_resets; }
unsigned long long vmbus_channel_n_dropped(const struct vmbus_channel *c) { return c->n_dropped; }
