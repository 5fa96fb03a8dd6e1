/* pvic-host's Hyper-V backend talks to pvic-hostsim's control socket. */
#include <errno.h>
#include <stdio.h>

#include "host.h"

int host_hyperv_open(struct host_backend *b, const char *socket_path) {
        fprintf(stderr, "pvic-host: the Hyper-V backend is not in this build yet\n");
        return -EOPNOTSUPP;
}
