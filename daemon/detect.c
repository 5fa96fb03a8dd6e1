/* Which hypervisor interface to talk to. Presence of the guest-side interface decides
 * (design.md, fixed decision 2); the CPUID name only breaks a tie, because Xen guests
 * with Viridian enlightenments report "Microsoft Hv" at leaf 0x40000000. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "pvic/config.h"
#include "pvic/detect.h"
#include "pvic/log.h"
#include "pvic/macro.h"

#define SIG_HYPERV "Microsoft Hv"
#define SIG_XEN "XenVMMXenVMM"

/* Raw CPUID bytes may hold NULs (KVM pads "KVMKVMKVM") or garbage; keep what a person
 * can read so the signature is safe to print and compare. */
static void sanitize_signature(char sig[13]) {
        sig[12] = '\0';
        for (size_t i = 0; sig[i]; i++)
                if ((unsigned char) sig[i] < 0x20 || (unsigned char) sig[i] > 0x7e)
                        sig[i] = '?';
}

#if defined(__x86_64__) || defined(__i386__)
static void cpuid_signature_at(unsigned leaf, char sig[13]) {
        unsigned a, b, c, d;
        __cpuid(leaf, a, b, c, d);
        (void) a;
        memcpy(sig + 0, &b, 4);
        memcpy(sig + 4, &c, 4);
        memcpy(sig + 8, &d, 4);
        sig[12] = '\0';
}
#endif

void detect_read_cpuid(char sig[13]) {
        memset(sig, 0, 13);
#if defined(__x86_64__) || defined(__i386__)
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d))
                return;
        /* Without the "hypervisor present" bit, leaf 0x40000000 is whatever the CPU
         * returns for an out-of-range leaf, not a signature. */
        if (!(c & (1u << 31)))
                return;
        cpuid_signature_at(0x40000000, sig);
        if (strcmp(sig, SIG_HYPERV) == 0) {
                /* Xen with Viridian moves its own leaves up by 0x100. */
                char alt[13];
                cpuid_signature_at(0x40000100, alt);
                if (strcmp(alt, SIG_XEN) == 0)
                        memcpy(sig, alt, 13);
        }
        sanitize_signature(sig);
#endif
}

static bool path_exists(const char *root, const char *path, bool want_dir) {
        _cleanup_free_ char *p = root_path(root, path);
        struct stat st;
        if (!p || stat(p, &st) < 0)
                return false;
        return !want_dir || S_ISDIR(st.st_mode);
}

/* The reason is one line for a person; cutting a long path short is fine. */
_printf_(2, 3) static void set_reason(struct detect_result *out, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->reason, sizeof out->reason, fmt, ap);
        va_end(ap);
}

/* $XENSTORED_PATH or [Xen] Path= names a device or socket outside the root prefix
 * (the simulator's, typically). */
static bool env_path_exists(const char *path) {
        struct stat st;
        return path && path[0] && stat(path, &st) >= 0;
}

/* /sys/hypervisor/type is "xen\n" in Xen guests (and in dom0); absent elsewhere. */
static bool hypervisor_type_is_xen(const char *root) {
        _cleanup_free_ char *p = root_path(root, "/sys/hypervisor/type"), *text = NULL;
        if (!p || read_file_bounded(p, 64, &text, NULL) < 0)
                return false;
        text[strcspn(text, " \t\r\n")] = '\0';
        return strcmp(text, "xen") == 0;
}

int detect_hypervisor(const struct detect_inputs *in, struct detect_result *out) {
        const char *root = in->root ? in->root : "";

        *out = (struct detect_result) { .transport = PVIC_TRANSPORT_AUTO };
        if (in->cpuid_signature) {
                snprintf(out->signature, sizeof out->signature, "%s", in->cpuid_signature);
                sanitize_signature(out->signature);
        } else
                detect_read_cpuid(out->signature);

        bool vmbus = path_exists(root, "/sys/bus/vmbus/devices", true);
        bool type_xen = hypervisor_type_is_xen(root);
        char xs_why[64];
        const char *xen_why = NULL;
        if (path_exists(root, "/dev/xen/xenbus", false))
                xen_why = "/dev/xen/xenbus";
        else if (path_exists(root, "/proc/xen/xenbus", false))
                xen_why = "/proc/xen/xenbus";
        else if (env_path_exists(in->xenstored_path)) {
                snprintf(xs_why, sizeof xs_why, "xenstore path %s", in->xenstored_path);
                xen_why = xs_why;
        } else if (type_xen)
                xen_why = "/sys/hypervisor/type=xen";

        char cpuid_says[48];
        if (out->signature[0])
                snprintf(cpuid_says, sizeof cpuid_says, "CPUID says '%s'", out->signature);
        else
                snprintf(cpuid_says, sizeof cpuid_says, "CPUID reports no hypervisor");

        if (vmbus && !xen_why) {
                out->transport = PVIC_TRANSPORT_VMBUS;
                set_reason(out, "Hyper-V: /sys/bus/vmbus/devices present, no xenbus; %s", cpuid_says);
        } else if (xen_why && !vmbus) {
                out->transport = PVIC_TRANSPORT_XENSTORE;
                set_reason(out, "Xen: %s present, no VMBus; %s", xen_why, cpuid_says);
        } else if (vmbus && xen_why) {
                const char *why;
                if (strcmp(out->signature, SIG_HYPERV) == 0) {
                        out->transport = PVIC_TRANSPORT_VMBUS;
                        why = "the hypervisor is Hyper-V";
                } else if (strcmp(out->signature, SIG_XEN) == 0) {
                        out->transport = PVIC_TRANSPORT_XENSTORE;
                        why = "the hypervisor is Xen";
                } else if (type_xen) {
                        out->transport = PVIC_TRANSPORT_XENSTORE;
                        why = "/sys/hypervisor/type says xen";
                } else {
                        out->transport = PVIC_TRANSPORT_VMBUS;
                        why = "nothing names Xen";
                }
                set_reason(out, "both VMBus and xenbus (%s) present; %s, %s: using %s",
                           xen_why, cpuid_says, why, config_transport_name(out->transport));
        } else
                set_reason(out, "no Hyper-V (VMBus) or Xen (xenbus) interface found; %s", cpuid_says);

        log_debug("Hypervisor detection: %s", out->reason);
        return 0;
}
