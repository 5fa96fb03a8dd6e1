/* Test driver: the VSS relay (freeze/freeze-vss.c) on a freeze service over ROOT, until
 * SIGTERM. Usage: freeze-vss-relay ROOT DEVICE_PATH. pvicd's vmbus backend does the same
 * once wired; this lets a test play the kernel's side of /dev/vmbus/hv_vss. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "pvic/freeze.h"
#include "pvic/log.h"

static int do_freeze(void *u, unsigned lease, freeze_report_fn fn, void *ud) {
        return freeze_request(u, lease, fn, ud);
}
static int do_thaw(void *u, freeze_report_fn fn, void *ud) {
        return freeze_thaw(u, fn, ud);
}

int main(int argc, char **argv) {
        if (argc > 1 && strcmp(argv[1], "--thaw-guard") == 0)
                return freeze_guard_main(argc, argv) != 0;
        if (argc != 3) {
                fprintf(stderr, "usage: freeze-vss-relay ROOT DEVICE\n");
                return 2;
        }
        sd_event *e = NULL;
        struct freeze_service *f = NULL;
        struct vss_relay *r = NULL;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&e) < 0 || sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL) < 0 ||
            freeze_service_new(&f, e, argv[1]) < 0)
                return 1;
        struct vss_ops ops = { do_freeze, do_thaw, f };
        if (vss_relay_new(&r, e, argv[2], &ops) < 0)
                return 1;
        int k = sd_event_loop(e);
        vss_relay_free(r);
        freeze_service_free(f);
        sd_event_unref(e);
        return k < 0;
}
