/* Unix stream sockets for the simulated xenstored, on sd-event. Each listening socket
 * carries one identity (dom0 or a guest); connections inherit it. Output is flushed
 * from a post source so WATCH_EVENTs queued for other connections go out in the same
 * loop iteration as the reply that caused them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "pvic/log.h"
#include "pvic/macro.h"
#include "xs-server.h"

struct listener {
        struct xsd_listen *owner;
        char *path;
        int fd;
        sd_event_source *src;
        uint32_t domid;
        bool priv;
};

struct sock_conn {
        struct xsd_listen *owner;
        struct xsd_conn *c;
        int fd;
        sd_event_source *src;
};

struct xsd_listen {
        sd_event *event;
        struct xsd_server *srv;
        struct listener *ls;
        size_t n_ls;
        sd_event_source *post;
};

static void sock_conn_close(struct sock_conn *sc) {
        sd_event_source_disable_unref(sc->src);
        close(sc->fd);
        xsd_conn_free(sc->c);
        free(sc);
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct sock_conn *sc = userdata;
        if (revents & EPOLLIN) {
                uint8_t buf[65536];
                ssize_t n = read(fd, buf, sizeof buf);
                if (n > 0)
                        (void)xsd_conn_feed(sc->c, buf, (size_t)n);
                else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        sc->c->dead = true;
        } else if (revents & (EPOLLHUP | EPOLLERR)) {
                sc->c->dead = true;
        }
        /* Writing happens in post_flush, which runs after this. */
        return 0;
}

static void flush(struct sock_conn *sc) {
        while (xsd_conn_pending(sc->c) > 0) {
                ssize_t n = send(sc->fd, sc->c->out + sc->c->out_off, xsd_conn_pending(sc->c),
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                sc->c->dead = true;
                        return;
                }
                xsd_conn_consume(sc->c, (size_t)n);
        }
}

static int post_flush(sd_event_source *s, void *userdata) {
        struct xsd_listen *l = userdata;
        struct xsd_conn *next;
        for (struct xsd_conn *c = l->srv->conns; c; c = next) {
                next = c->next;
                struct sock_conn *sc = c->userdata;
                if (!sc)
                        continue;
                if (!c->dead)
                        flush(sc);
                if (c->dead) {
                        sock_conn_close(sc);
                        continue;
                }
                uint32_t events = EPOLLIN | (xsd_conn_pending(c) ? EPOLLOUT : 0);
                (void)sd_event_source_set_io_events(sc->src, events);
        }
        return 0;
}

static int listener_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct listener *ls = userdata;
        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(errno, "accept on %s failed: %m", ls->path);
                        return 0;
                }
                struct sock_conn *sc = calloc(1, sizeof *sc);
                if (!sc) {
                        close(cfd);
                        return 0;
                }
                sc->owner = ls->owner;
                sc->fd = cfd;
                sc->c = xsd_conn_new(ls->owner->srv, ls->domid, ls->priv);
                if (!sc->c || sd_event_add_io(ls->owner->event, &sc->src, cfd, EPOLLIN, conn_io, sc) < 0) {
                        xsd_conn_free(sc->c);
                        close(cfd);
                        free(sc);
                        log_error("cannot serve a new connection on %s", ls->path);
                        continue;
                }
                sc->c->userdata = sc;
                log_debug("new connection on %s", ls->path);
        }
}

int xsd_listen_new(struct sd_event *e, struct xsd_server *srv, struct xsd_listen **ret) {
        struct xsd_listen *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->event = sd_event_ref(e);
        l->srv = srv;
        int r = sd_event_add_post(e, &l->post, post_flush, l);
        if (r < 0) {
                xsd_listen_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int xsd_listen_add(struct xsd_listen *l, const char *path, uint32_t domid, bool priv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return log_error_errno(-ENAMETOOLONG, "socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        struct listener *ls = realloc(l->ls, (l->n_ls + 1) * sizeof *ls);
        if (!ls)
                return -ENOMEM;
        l->ls = ls;
        ls = &l->ls[l->n_ls];
        *ls = (struct listener){ .owner = l, .fd = -1, .domid = domid, .priv = priv };
        ls->path = strdup(path);
        if (!ls->path)
                return -ENOMEM;
        l->n_ls++;

        ls->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (ls->fd < 0)
                return log_error_errno(-errno, "socket: %m");
        (void)unlink(path); /* a stale socket from an earlier run */
        /* 0600 like xenstored's socket: set by umask at bind time, no window to chmod. */
        mode_t old = umask(0077);
        int r = bind(ls->fd, (struct sockaddr *)&sa, sizeof sa);
        umask(old);
        if (r < 0)
                return log_error_errno(-errno, "bind %s: %m", path);
        if (listen(ls->fd, SOMAXCONN) < 0)
                return log_error_errno(-errno, "listen %s: %m", path);
        r = sd_event_add_io(l->event, &ls->src, ls->fd, EPOLLIN, listener_io, ls);
        if (r < 0)
                return log_error_errno(r, "sd_event_add_io: %m");
        /* l->ls may move on the next realloc: the source's userdata must follow it. */
        for (size_t i = 0; i < l->n_ls; i++)
                if (l->ls[i].src)
                        sd_event_source_set_userdata(l->ls[i].src, &l->ls[i]);
        return 0;
}

struct xsd_listen *xsd_listen_free(struct xsd_listen *l) {
        if (!l)
                return NULL;
        struct xsd_conn *next;
        for (struct xsd_conn *c = l->srv->conns; c; c = next) {
                next = c->next;
                if (c->userdata)
                        sock_conn_close(c->userdata);
        }
        for (size_t i = 0; i < l->n_ls; i++) {
                sd_event_source_disable_unref(l->ls[i].src);
                if (l->ls[i].fd >= 0) {
                        close(l->ls[i].fd);
                        (void)unlink(l->ls[i].path);
                }
                free(l->ls[i].path);
        }
        free(l->ls);
        sd_event_source_disable_unref(l->post);
        sd_event_unref(l->event);
        free(l);
        return NULL;
}
