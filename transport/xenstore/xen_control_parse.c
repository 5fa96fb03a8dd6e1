/* Parsing of the host's control/pvic values: every byte is host data. Arithmetic on the
 * host's timestamps is checked: a hostile t1 or t4 near INT64_MIN/MAX must not overflow. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xen_control_parse.h"

bool xen_token_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > XEN_TOKEN_MAX)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

bool xen_parse_i64(const char *s, int64_t *ret) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
                return false;
        *ret = v;
        return true;
}

int xen_time_request_parse(const char *value, char seq[XEN_TOKEN_MAX + 1], int64_t *ret_t1) {
        char s[72], t1s[32];
        if (sscanf(value, "%71s %31s", s, t1s) != 2 || !xen_token_ok(s) || !xen_parse_i64(t1s, ret_t1))
                return -EINVAL;
        snprintf(seq, XEN_TOKEN_MAX + 1, "%s", s);
        return 0;
}

int xen_time_result_parse(const char *value, const char *seq, int64_t t1, int64_t t2, int64_t t3,
                          int64_t max_delay_ns, int64_t *ret_offset, int64_t *ret_delay) {
        char s[72], f[4][32];
        int64_t t[4], a, b, sum, c, d, delay;

        if (sscanf(value, "%71s %31s %31s %31s %31s", s, f[0], f[1], f[2], f[3]) != 5)
                return -EINVAL;
        for (int i = 0; i < 4; i++)
                if (!xen_parse_i64(f[i], &t[i]))
                        return -EINVAL;
        if (strcmp(s, seq) != 0 || t[0] != t1 || t[1] != t2 || t[2] != t3)
                return -ESRCH;
        if (__builtin_sub_overflow(t[0], t[1], &a) || __builtin_sub_overflow(t[3], t[2], &b) ||
            __builtin_add_overflow(a, b, &sum) || __builtin_sub_overflow(t[3], t[0], &c) ||
            __builtin_sub_overflow(t[2], t[1], &d) || __builtin_sub_overflow(c, d, &delay))
                return -ERANGE;
        if (delay < 0 || delay > max_delay_ns)
                return -ERANGE;
        *ret_offset = sum / 2;
        *ret_delay = delay;
        return 0;
}
