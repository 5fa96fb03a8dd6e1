/* pvic-hostsim: simulated hypervisor hosts for pvic's tests (design.md, decision 6). */
#include <stdio.h>
#include <string.h>

#include "hostsim.h"

static void help(void) {
        printf("Usage: pvic-hostsim COMMAND [OPTIONS]\n"
               "\n"
               "Simulated hosts that real guest-side programs can talk to.\n"
               "\n"
               "Commands:\n"
               "  xen      simulated xenstored on unix sockets (see pvic-hostsim xen --help)\n"
               "  hyperv   simulated Hyper-V host (see pvic-hostsim hyperv --help)\n"
               "\n"
               "  -h --help  this text\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                help();
                return 2;
        }
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                help();
                return 0;
        }
        if (strcmp(argv[1], "xen") == 0)
                return xen_sim_main(argc - 1, argv + 1);
        if (strcmp(argv[1], "hyperv") == 0)
                return hv_sim_main(argc - 1, argv + 1);
        fprintf(stderr, "pvic-hostsim: unknown command '%s' (see --help)\n", argv[1]);
        return 2;
}
