/* kvp-null-peer: the least a relay daemon can do, for bench/kvp-relay.sh's floor row.
 *
 *   kvp-null-peer SOCKET
 *
 * Connects to the harness's SEQPACKET socket as pvicd's relay does, registers, then on
 * an sd-event loop (pvicd's) answers every request with success and the request's own
 * bytes: no decoding, no store, no file check. Its round trip is what the harness and
 * the event loop cost by themselves, the part of every peer's figure that no daemon
 * can make smaller. Exits 0 when the harness closes the socket. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "pvic/kvp_msg.h"
#include "pvic/vmbus_relay.h"

static uint8_t msg[KVP_MSG_SIZE];

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ssize_t n = read(fd, msg, sizeof msg);
        if (n != KVP_MSG_SIZE)
                return sd_event_exit(sd_event_source_get_event(s), n == 0 ? 0 : 1);
        memset(msg, 0, 4); /* error = 0 */
        if (write(fd, msg, sizeof msg) != KVP_MSG_SIZE)
                return sd_event_exit(sd_event_source_get_event(s), 1);
        return 0;
}

int main(int argc, char **argv) {
        sd_event *e = NULL;
        int fd, r;

        if (argc != 2) {
                fprintf(stderr, "usage: kvp-null-peer SOCKET\n");
                return 2;
        }
        fd = vmbus_relay_open_path(argv[1]);
        if (fd < 0) {
                fprintf(stderr, "kvp-null-peer: %s: %s\n", argv[1], strerror(-fd));
                return 1;
        }
        kvp_msg_register(msg);
        if (write(fd, msg, sizeof msg) != KVP_MSG_SIZE || read(fd, msg, sizeof msg) != KVP_MSG_SIZE) {
                fprintf(stderr, "kvp-null-peer: registration failed\n");
                return 1;
        }
        r = sd_event_default(&e);
        if (r >= 0)
                r = sd_event_add_io(e, NULL, fd, EPOLLIN, on_io, NULL);
        if (r >= 0)
                r = sd_event_loop(e);
        sd_event_unref(e);
        close(fd);
        return r < 0 ? 1 : r;
}
