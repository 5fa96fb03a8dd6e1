/* The uio channel runtime against a hostile host: the input picks an IC channel, then
 * either well-framed packets with arbitrary IC headers and bodies, or arbitrary bytes
 * and indices in the RX ring. The channel must answer, drop or reset — never read or
 * write outside the ring, never stop answering a host that behaves again afterwards
 * (each input starts with a fresh negotiation on a channel that may have just reset).
 * The handler runs the real per-IC codecs (decode, reply in place) without pvicd. */
#include <errno.h>
#include <fcntl.h>
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

#define RING 32768u
#define PAGE 4096u

struct fz {
        enum vmbus_ic_type type;
        const struct vmbus_ic_versions *versions;
        char dev[160];
        int lfd, conn;
        void *mem;
        struct vmbus_channel_rings rings;
        struct vmbus_channel *ch;
};

static sd_event *ev;
static struct fz fz[4];
static uint8_t buf[VMBUS_IC_MAX_PAYLOAD];
static struct host_kvp_request kreq;
static struct host_kvp_reply krep;

static int handler(struct vmbus_channel *c, uint8_t *pkt, size_t len, const struct vmbus_ic_header *h,
                   void *userdata) {
        struct host_heartbeat hb;
        struct host_shutdown sd;
        struct host_time_sample ts;
        switch (h->msgtype) {
        case VMBUS_IC_HEARTBEAT:
                if (vmbus_ic_heartbeat_decode(pkt, len, &hb) < 0)
                        return -EBADMSG;
                return vmbus_ic_heartbeat_reply(pkt, len, vmbus_channel_msgver(c), &hb, HOST_APP_HEALTHY) < 0
                               ? -EBADMSG : 1;
        case VMBUS_IC_SHUTDOWN: {
                int r = vmbus_ic_shutdown_decode(pkt, len, &sd);
                if (r == -EBADMSG)
                        return r;
                vmbus_ic_reply_status(pkt, r < 0 ? HOST_STATUS_FAILED : HOST_STATUS_OK);
                return 1;
        }
        case VMBUS_IC_TIMESYNC: {
                int r = vmbus_ic_timesync_decode(pkt, len, vmbus_channel_msgver(c), &ts);
                if (r < 0 && r != -ERANGE)
                        return -EBADMSG;
                vmbus_ic_reply_status(pkt, HOST_STATUS_OK);
                return 1;
        }
        case VMBUS_IC_KVP: {
                int r = vmbus_ic_kvp_decode(pkt, len, &kreq);
                if (r < 0) {
                        vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                        return 1;
                }
                /* Echo the host's own strings back: the encoders see hostile text. */
                memset(&krep, 0, sizeof krep);
                krep.status = HOST_STATUS_OK;
                memcpy(krep.key, kreq.key, sizeof krep.key);
                memcpy(krep.value, kreq.value, sizeof krep.value);
                krep.ip = kreq.ip;
                vmbus_ic_kvp_reply(pkt, len, &krep);
                return 1;
        }
        default:
                return -EBADMSG;
        }
}

static void setup_one(struct fz *f, const char *dir, unsigned i, enum vmbus_ic_type type) {
        char ring[160];
        f->type = type;
        f->versions = vmbus_ic_versions_for(type);
        f->conn = -1;
        snprintf(f->dev, sizeof f->dev, "%s/uio%u", dir, i);
        snprintf(ring, sizeof ring, "%s/ring%u", dir, i);
        int fd = open(ring, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, 2 * RING) < 0)
                abort();
        f->mem = mmap(NULL, 2 * RING, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (f->mem == MAP_FAILED || vmbus_channel_rings_init(&f->rings, f->mem, RING, PAGE) < 0)
                abort();
        vmbus_ring_reset(&f->rings.tx);
        vmbus_ring_reset(&f->rings.rx);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->dev);
        f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(f->lfd, 4) < 0)
                abort();
        struct vmbus_channel_config cfg = {
                .name = "fuzz", .type = type, .versions = f->versions, .dev_path = f->dev, .ring_path = ring,
                .ring_size = RING, .page_size = PAGE, .backoff_min_usec = 1,
        };
        if (vmbus_channel_new(&f->ch, ev, &cfg, handler, NULL) < 0)
                abort();
}

static char dir[] = "/tmp/pvic-fuzz-chan.XXXXXX";

static void cleanup(void) {
        char p[200];
        for (unsigned i = 0; i < 4; i++) {
                unlink(fz[i].dev);
                snprintf(p, sizeof p, "%s/ring%u", dir, i);
                unlink(p);
        }
        rmdir(dir);
}

static void setup(void) {
        log_set_target_journal(0);
        log_set_max_level(LOG_EMERG);
        if (!mkdtemp(dir) || sd_event_new(&ev) < 0)
                abort();
        static const enum vmbus_ic_type types[4] = { VMBUS_IC_HEARTBEAT, VMBUS_IC_SHUTDOWN, VMBUS_IC_TIMESYNC,
                                                     VMBUS_IC_KVP };
        for (unsigned i = 0; i < 4; i++)
                setup_one(&fz[i], dir, i, types[i]);
        atexit(cleanup);
}

static void signal_guest(struct fz *f) {
        uint32_t one = 1;
        if (write(f->conn, &one, 4) < 0 && errno != EAGAIN && errno != EPIPE && errno != ECONNRESET)
                abort();
}

static void drain_tx(struct fz *f) {
        struct vmbus_packet pkt;
        /* The guest writes only what its own ring code allows: must always parse. */
        while (vmbus_ring_recv(&f->rings.tx, &pkt, buf, sizeof buf) > 0)
                ;
        vmbus_ring_recv_commit(&f->rings.tx);
}

/* Guest closed (reset)? Then forget the connection and clean the rings (uio's open
 * would hand the reopened channel fresh control pages). */
static void check_closed(struct fz *f) {
        uint32_t c;
        ssize_t n = -1;
        /* Skip the guest's queued signals (4-byte messages) to see whether EOF follows. */
        while (f->conn >= 0 && (n = read(f->conn, &c, sizeof c)) > 0)
                ;
        if (f->conn >= 0 && n == 0) {
                close(f->conn);
                f->conn = -1;
                vmbus_ring_reset(&f->rings.tx);
                vmbus_ring_reset(&f->rings.rx);
        }
}

static bool try_negotiate(struct fz *f) {
        static const struct vmbus_ic_version fw[] = { { 1, 0 }, { 3, 0 } };
        static const struct vmbus_ic_version mv[] = { { 1, 0 }, { 3, 0 }, { 3, 2 }, { 4, 0 } };
        for (int i = 0; i < 200 && f->conn < 0; i++) {
                f->conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (f->conn < 0)
                        sd_event_run(ev, 1000);
        }
        if (f->conn < 0)
                return false;
        vmbus_ring_reset(&f->rings.tx);
        vmbus_ring_reset(&f->rings.rx);
        ssize_t len = vmbus_ic_negotiate_request(buf, sizeof buf, fw, 2, mv, 4);
        struct iovec iov = { buf, (size_t)len };
        if (len < 0 || vmbus_ring_send(&f->rings.rx, VMBUS_PKT_DATA_INBAND, 0, 0, &iov, 1) < 0)
                abort();
        signal_guest(f);
        for (int i = 0; i < 64 && !vmbus_channel_is_negotiated(f->ch); i++)
                sd_event_run(ev, 0);
        drain_tx(f);
        return vmbus_channel_is_negotiated(f->ch);
}

static void connect_and_negotiate(struct fz *f) {
        /* The connection we accept may be one the guest already gave up on (it reopens
         * asynchronously, unlike uio's open()): retry until a live one negotiates. */
        for (int attempt = 0; attempt < 50; attempt++) {
                if (try_negotiate(f))
                        return;
                if (f->conn >= 0)
                        close(f->conn);
                f->conn = -1;
                vmbus_ring_reset(&f->rings.tx);
                vmbus_ring_reset(&f->rings.rx);
        }
        abort(); /* the channel never came back for a behaving host */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool init;
        if (!init) {
                setup();
                init = true;
        }
        if (size < 2 || size > 64 * 1024)
                return 0;
        struct fz *f = &fz[data[0] % 4];
        bool raw = data[1] & 1;
        data += 2;
        size -= 2;

        check_closed(f);
        if (f->conn < 0 || !vmbus_channel_is_negotiated(f->ch))
                connect_and_negotiate(f);

        if (raw) {
                /* Arbitrary ring contents and write index. */
                struct vmbus_ring *rx = &f->rings.rx;
                if (size < 4)
                        return 0;
                uint32_t w = data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
                size_t n = MIN(size - 4, (size_t)rx->dsize);
                memcpy(rx->data, data + 4, n);
                __atomic_store_n(&rx->ctrl->read_index, 0, __ATOMIC_RELEASE);
                __atomic_store_n(&rx->ctrl->write_index, w, __ATOMIC_RELEASE);
        } else {
                /* Well-framed packets: u16 length, then that many payload bytes. */
                while (size >= 2) {
                        size_t n = data[0] | (size_t)data[1] << 8;
                        data += 2;
                        size -= 2;
                        n = MIN(n, size);
                        struct iovec iov = { (void *)data, n };
                        if (vmbus_ring_send(&f->rings.rx, VMBUS_PKT_DATA_INBAND, 0, 1, &iov, 1) < 0)
                                break;
                        data += n;
                        size -= n;
                }
        }
        signal_guest(f);
        for (int i = 0; i < 8; i++) {
                sd_event_run(ev, 0);
                drain_tx(f);
        }
        check_closed(f);
        return 0;
}
