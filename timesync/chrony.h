/* Cooperation with chronyd (internal to timesync/; the interop helper uses it too). */
#pragma once
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

/* chrony's refclock_sock.c (chrony 1.24 .. 4.x), sent as one datagram in the host's
 * native layout; chronyd drops anything of another size or with another magic. 40 bytes
 * on 64-bit Linux: tv 0..15, offset 16..23, pulse 24, leap 28, _pad 32, magic 36. */
#define CHRONY_SOCK_MAGIC 0x534f434b
struct chrony_sock_sample {
        struct timeval tv;   /* local (system) time of the measurement */
        double offset;       /* true time - system time, in seconds */
        int pulse;           /* non-zero: PPS edge, seconds unknown (we always send 0) */
        int leap;            /* 0 normal, 1 insert, 2 delete a leap second */
        int _pad;
        int magic;
};

struct chrony_sock;

/* Creates the sending socket (non-blocking unix datagram). path: chronyd's
 * `refclock SOCK <path>`; it is addressed on every send, so a restarted chronyd is
 * found again without reconnecting. */
int chrony_sock_new(const char *path, struct chrony_sock **ret);
struct chrony_sock *chrony_sock_free(struct chrony_sock *s);
/* Never waits: -EAGAIN when chronyd's queue is full, -ECONNREFUSED/-ENOENT when
 * nobody listens. leap: NTP leap indicator from the host (3 = unsynchronised: sent as 0). */
int chrony_sock_send(struct chrony_sock *s, int64_t local_realtime_ns, int64_t offset_ns, int leap);

/* Starts `chronyc [-h SOCKET] makestep` (fixed argv, compiled-in binary paths, empty
 * environment, no shell) and returns its pid; reap with chronyc_reap(). */
int chronyc_makestep_spawn(const char *cmd_socket, pid_t *ret_pid);
/* Non-blocking: 1 and the exit status when it finished, 0 while it runs. */
int chronyc_reap(pid_t pid, int *ret_status);
/* Blocking variant with a deadline, for tools: kills (SIGKILL) and reaps past it.
 * Returns the exit status (0..255) or -ETIMEDOUT. */
int chronyc_wait(pid_t pid, int64_t timeout_ns);
