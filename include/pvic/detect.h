/* Hypervisor detection (design.md, fixed decision 2): what is present decides, the
 * CPUID name only breaks ties, so Xen guests with Viridian enlightenments (CPUID says
 * "Microsoft Hv") are still Xen when only xenbus is present. */
#pragma once
#include "pvic/config.h"

struct detect_inputs {
        const char *root;            /* sysfs/dev/proc prefix */
        const char *cpuid_signature; /* 12 chars of leaf 0x40000000, "" if none; NULL = read CPUID */
        const char *xenstored_path;  /* $XENSTORED_PATH or NULL */
};

struct detect_result {
        enum pvic_transport transport; /* AUTO means: none found */
        char signature[13];            /* what CPUID (or the override) said, "" if none */
        char reason[160];              /* one line a person can read */
};

int detect_hypervisor(const struct detect_inputs *in, struct detect_result *out);

/* Reads CPUID leaf 0x40000000 (and 0x40000100 for Xen behind Viridian); "" if none. */
void detect_read_cpuid(char sig[13]);
