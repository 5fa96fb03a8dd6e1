/* Memory facts from /proc/meminfo: data/meminfo_total and data/meminfo_free on Xen,
 * where rrdp-squeezed parses the value as a bare Int64 of KiB. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/config.h"
#include "pvic/facts.h"
#include "pvic/log.h"
#include "pvic/macro.h"

/* "MemTotal:       16337516 kB": a decimal count of KiB, nothing else on the line. */
static bool parse_kib(const char *p, const char *eol, uint64_t *ret) {
        uint64_t v = 0;
        bool any = false;

        while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
        for (; p < eol && *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
                any = true;
        }
        while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
        if (eol - p >= 2 && strncmp(p, "kB", 2) == 0)
                p += 2;
        while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
        if (!any || p != eol)
                return false;
        *ret = v;
        return true;
}

int facts_mem_parse(struct pvic_mem_facts *mem, const char *text) {
        static const char *const keys[] = { "MemTotal:", "MemAvailable:", "MemFree:" };
        uint64_t val[ELEMENTSOF(keys)] = {};
        bool have[ELEMENTSOF(keys)] = {};

        for (const char *p = text; *p; ) {
                const char *eol = p + strcspn(p, "\n");
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        size_t kl = strlen(keys[i]);
                        if ((size_t) (eol - p) > kl && strncmp(p, keys[i], kl) == 0) {
                                have[i] = parse_kib(p + kl, eol, &val[i]);
                                break;
                        }
                }
                p = *eol ? eol + 1 : eol;
        }

        if (!have[0])
                return -EBADMSG;
        /* Kernels before 3.14 lack MemAvailable; MemFree is what xe-guest-utilities used. */
        if (!have[1] && !have[2])
                return -EBADMSG;
        mem->total_kib = val[0];
        mem->available_kib = have[1] ? val[1] : val[2];
        return 0;
}

int facts_mem_collect(struct pvic_mem_facts *mem, const char *root) {
        _cleanup_free_ char *p = root_path(root, "/proc/meminfo"), *text = NULL;
        if (!p)
                return log_error_errno(ENOMEM, "Out of memory.");

        int r = read_file_bounded(p, MEMINFO_FILE_MAX, &text, NULL);
        if (r < 0)
                return log_warning_errno(r, "%s: cannot read: %m", p);
        r = facts_mem_parse(mem, text);
        if (r < 0)
                return log_warning_errno(r, "%s: no MemTotal, or neither MemAvailable nor MemFree.", p);
        return 0;
}
