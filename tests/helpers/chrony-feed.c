/* Interop helper: feeds chronyd's SOCK refclock through timesync/chrony_sock.c with
 * samples implying a fixed offset, and optionally runs the post-resume makestep.
 * Usage: chrony-feed SOCK_PATH OFFSET_MS COUNT INTERVAL_MS [CHRONYC_SOCKET]
 * With CHRONYC_SOCKET it then runs `chronyc -h CHRONYC_SOCKET makestep` (5 s limit)
 * and exits with chronyc's status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvic/clock.h"
#include "pvic/log.h"
#include "../../timesync/chrony.h"

static int64_t realtime_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

int main(int argc, char **argv) {
        if (argc < 5 || argc > 6) {
                fprintf(stderr, "usage: %s SOCK_PATH OFFSET_MS COUNT INTERVAL_MS [CHRONYC_SOCKET]\n", argv[0]);
                return 2;
        }
        log_set_target_journal(0);
        double offset_ms = strtod(argv[2], NULL);
        int count = atoi(argv[3]), interval_ms = atoi(argv[4]);
        struct chrony_sock *s;
        int r = chrony_sock_new(argv[1], &s);
        if (r < 0) {
                fprintf(stderr, "chrony_sock_new: %s\n", strerror(-r));
                return 1;
        }
        int sent = 0, failed = 0;
        for (int i = 0; i < count; i++) {
                r = chrony_sock_send(s, realtime_ns(), (int64_t) (offset_ms * 1e6), 0);
                if (r < 0)
                        failed++;
                else
                        sent++;
                nanosleep(&(struct timespec) { .tv_sec = interval_ms / 1000,
                                               .tv_nsec = (long) (interval_ms % 1000) * 1000000L }, NULL);
        }
        chrony_sock_free(s);
        printf("sent %d failed %d\n", sent, failed);
        if (sent == 0)
                return 1;
        if (argc == 6) {
                pid_t pid;
                r = chronyc_makestep_spawn(argv[5], &pid);
                if (r < 0) {
                        fprintf(stderr, "chronyc_makestep_spawn: %s\n", strerror(-r));
                        return 1;
                }
                r = chronyc_wait(pid, 5 * NSEC_PER_SEC);
                printf("makestep status %d\n", r);
                return r == 0 ? 0 : 1;
        }
        return 0;
}
