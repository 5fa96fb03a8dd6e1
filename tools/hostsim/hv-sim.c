/* Placeholder until the simulated Hyper-V host lands. */
#include <stdio.h>

#include "hostsim.h"

int hv_sim_main(int argc, char **argv) {
        fprintf(stderr, "pvic-hostsim hyperv: not implemented yet\n");
        return 2;
}
