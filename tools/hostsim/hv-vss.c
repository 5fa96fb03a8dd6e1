/* The hv_vss relay of one simulated guest: we are the kernel's hv_snapshot (spec §4.5;
 * Linux drivers/hv/hv_snapshot.c). One opener; REGISTER or REGISTER1 is answered with
 * that value as a u32; then the host's FREEZE, THAW and HOT_BACKUP reach the daemon one
 * at a time as 12-byte hv_vss_msg, and the i32 over the first 4 bytes of its answer is
 * the status the host gets. The kernel answers every other VSS operation itself, and
 * answers HV_E_FAIL itself while no daemon is registered; so does the control op. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv-sim.h"
#include "pvic/freeze.h"

static uint32_t le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void vss_disconnect(struct hv_guest *g, const char *why) {
        struct hv_vss *v = &g->vss;
        if (v->fd < 0)
                return;
        fprintf(stderr, "pvic-hostsim hyperv: %s/hv_vss: daemon closed the device (%s)\n", g->name, why);
        v->io_src = sd_event_source_disable_unref(v->io_src);
        close(v->fd);
        v->fd = -1;
        v->registered = false;
        hv_wait_done_vss(v, -ECONNRESET, 0, 0);
}

/* The handshake: the daemon's first message names the protocol it speaks. */
static int vss_register(struct hv_guest *g, const uint8_t *buf, size_t n) {
        struct hv_vss *v = &g->vss;
        if (n != VSS_MSG_SIZE || (buf[0] != VSS_OP_REGISTER && buf[0] != VSS_OP_REGISTER1))
                return -EINVAL;
        uint8_t answer[4] = { buf[0] };
        if (write(v->fd, answer, sizeof answer) != (ssize_t)sizeof answer)
                return -EIO;
        v->registered = true;
        fprintf(stderr, "pvic-hostsim hyperv: %s/hv_vss: daemon registered (op %u)\n", g->name, buf[0]);
        return 0;
}

static int vss_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_guest *g = userdata;
        struct hv_vss *v = &g->vss;
        uint8_t buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                vss_disconnect(g, n == 0 ? "closed" : strerror(errno));
                return 0;
        }
        if (!v->registered) {
                if (vss_register(g, buf, (size_t)n) < 0)
                        vss_disconnect(g, "bad registration");
                return 0;
        }
        if (v->wait.kind != HV_WAIT_VSS)
                return 0; /* a reply nobody asked for: the kernel answers EINVAL; we drop it */
        if (n != VSS_MSG_SIZE) {
                hv_wait_done_vss(v, -EBADMSG, 0, 0);
                return 0;
        }
        hv_wait_done_vss(v, 0, le32(buf), le32(buf + 8));
        return 0;
}

static int vss_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_guest *g = userdata;
        struct hv_vss *v = &g->vss;
        int nfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (nfd < 0)
                return 0;
        if (v->fd >= 0) {
                close(nfd); /* EBUSY: one opener */
                return 0;
        }
        v->fd = nfd;
        v->connects++;
        v->registered = false;
        if (sd_event_add_io(g->sim->event, &v->io_src, v->fd, EPOLLIN, vss_on_io, g) < 0)
                vss_disconnect(g, "no event source");
        return 0;
}

int hv_vss_send(struct hv_vss *v, uint8_t op) {
        if (v->fd < 0 || !v->registered)
                return -ENOTCONN;
        /* Zero-filled but for the operation, as the kernel copies only what it needs. */
        uint8_t m[VSS_MSG_SIZE] = { op };
        ssize_t n = write(v->fd, m, sizeof m);
        return n == (ssize_t)sizeof m ? 0 : -EIO;
}

int hv_vss_init(struct hv_guest *g) {
        struct hv_vss *v = &g->vss;
        v->fd = v->lfd = -1;
        /* hv_utils makes hv_vss only for a VSS channel it drives: not with --no-vss (no
         * VSS in the kernel), not when the channel is bound to uio_hv_generic. */
        if (g->sim->no_vss || !(g->sim->kernel_ics & (1u << HV_IC_VSS)))
                return 0;
        if (asprintf(&v->path, "%s/dev/vmbus/hv_vss", g->root) < 0) {
                v->path = NULL;
                return -ENOMEM;
        }
        v->lfd = hv_listen_seqpacket(v->path);
        if (v->lfd < 0)
                return v->lfd;
        return sd_event_add_io(g->sim->event, &v->accept_src, v->lfd, EPOLLIN, vss_on_accept, g);
}

void hv_vss_done(struct hv_guest *g) {
        struct hv_vss *v = &g->vss;
        if (!v->path)
                return; /* never set up (--no-vss, or the guest failed before) */
        v->accept_src = sd_event_source_disable_unref(v->accept_src);
        v->io_src = sd_event_source_disable_unref(v->io_src);
        if (v->fd >= 0)
                close(v->fd);
        if (v->lfd >= 0)
                close(v->lfd);
        v->fd = v->lfd = -1;
        unlink(v->path);
        free(v->path);
        v->path = NULL;
}
