#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvic/macro.h"
#include "xen_schema.h"

static void put(struct xen_schema_kv *out, size_t max, size_t *n, const char *key, const char *value) {
        if (*n >= max)
                return;
        snprintf(out[*n].key, sizeof out[*n].key, "%s", key);
        /* xenstore values should be printable 7-bit ASCII (spec §1.2); os-release text
         * can hold anything, so replace what XAPI would mangle. */
        size_t i = 0;
        for (; value && value[i] && i + 1 < sizeof out[*n].value; i++) {
                unsigned char ch = (unsigned char)value[i];
                out[*n].value[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
        out[*n].value[i] = 0;
        (*n)++;
}

static void put_uint(struct xen_schema_kv *out, size_t max, size_t *n, const char *key, uint64_t v) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        put(out, max, n, key, buf);
}

size_t xen_schema_static_keys(const struct pvic_os_facts *os, const struct pvic_mem_facts *mem,
                              const char *features, struct xen_schema_kv *out, size_t max) {
        size_t n = 0;
        /* Plain integers: XAPI treats any non-numeric part as "no PV drivers". */
        put_uint(out, max, &n, "attr/PVAddons/MajorVersion", PVIC_VERSION_MAJOR);
        put_uint(out, max, &n, "attr/PVAddons/MinorVersion", PVIC_VERSION_MINOR);
        put_uint(out, max, &n, "attr/PVAddons/MicroVersion", PVIC_VERSION_MICRO);
        put_uint(out, max, &n, "attr/PVAddons/BuildVersion", PVIC_VERSION_BUILD);
        put(out, max, &n, "attr/PVAddons/Installed", "1");
        put(out, max, &n, "data/os_name", os->name);
        put(out, max, &n, "data/os_uname", os->kernel_release);
        put(out, max, &n, "data/os_distro", os->id);
        put(out, max, &n, "data/os_majorver", os->major);
        put(out, max, &n, "data/os_minorver", os->minor);
        if (mem && mem->total_kib) {
                put_uint(out, max, &n, "data/meminfo_total", mem->total_kib);
                put_uint(out, max, &n, "data/meminfo_free", mem->available_kib);
        }
        /* Tells a host which pvic requests this guest answers (docs/xenstore-keys.md). */
        put(out, max, &n, "data/pvic/features", features);
        return n;
}

void xen_schema_updated_value(char *buf, size_t len, long long unix_seconds) {
        time_t t = (time_t)unix_seconds;
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, len, "%a %b %e %H:%M:%S %Y", &tm) == 0)
                snprintf(buf, len, "%lld", unix_seconds);
}
