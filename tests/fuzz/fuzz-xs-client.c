/* The guest client's reply and event parsing: the input is what a (hostile) xenstored
 * sends after the client has queued a read, a watch and a transaction batch. It runs
 * through the real client over a socketpair, so framing, req_id matching, event parsing
 * and the batch state machine are all exercised. */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pvic/log.h"
#include "pvic/xs_client.h"

static void on_reply(struct xs_client *c, const struct xs_reply *r, void *u) { (void)c; (void)r; (void)u; }
static void on_watch(struct xs_client *c, const char *p, const char *t, void *u) {
        /* Follow-up requests from a callback, as the Xen backend does. */
        xs_read(c, p, on_reply, u);
}
static void on_done(struct xs_client *c, int e, void *u) { (void)c; (void)e; (void)u; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool init;
        if (!init) {
                log_set_max_level(-1);
                init = true;
        }
        if (size > 60000)
                return 0;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        sd_event *e = NULL;
        struct xs_client *c = NULL;
        if (sd_event_new(&e) < 0 || xs_client_new_fd(&c, e, sv[0], size & 1, NULL, NULL) < 0) {
                close(sv[0]);
                close(sv[1]);
                sd_event_unref(e);
                return 0;
        }
        xs_watch_add(c, "unique-domain-id", on_watch, NULL);
        xs_read(c, "domid", on_reply, NULL);
        struct xs_op ops[] = { { XS_OP_WRITE, "data/a", "1" }, { XS_OP_RM, "data/b", NULL } };
        xs_batch(c, ops, 2, on_done, NULL);
        if (write(sv[1], data, size) < 0) {
                /* nothing: the client just sees less */
        }
        shutdown(sv[1], SHUT_WR);
        for (int i = 0; i < 64; i++)
                if (sd_event_run(e, 0) <= 0)
                        break;
        xs_client_free(c);
        close(sv[1]);
        sd_event_unref(e);
        return 0;
}
