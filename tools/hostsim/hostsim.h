/* pvic-hostsim subcommands: each gets argv starting at its own name. */
#pragma once

int xen_sim_main(int argc, char **argv);
int hv_sim_main(int argc, char **argv);
