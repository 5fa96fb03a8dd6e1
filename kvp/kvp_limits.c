/* Two sets of limits: the pool-file record (512/2048 bytes with the NUL) holds for every
 * pool, because a record that does not fit would have to be truncated and we never
 * truncate. What a Hyper-V host takes back (254/1022 UTF-16 units, spec §4.4) holds only
 * where the host reads the items: a longer item would reach it cut short by the kernel
 * relay, so it is refused here, with an error of its own. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvp_limits.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"

long kvp_utf16_units(const char *s, size_t len) {
        const uint8_t *p = (const uint8_t *) s, *end = p + len;
        long units = 0;

        while (p < end) {
                uint32_t cp;
                unsigned n;

                if (*p < 0x80) {
                        p++;
                        units++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0) {
                        cp = *p & 0x1f;
                        n = 1;
                } else if ((*p & 0xf0) == 0xe0) {
                        cp = *p & 0x0f;
                        n = 2;
                } else if ((*p & 0xf8) == 0xf0) {
                        cp = *p & 0x07;
                        n = 3;
                } else
                        return -EILSEQ;
                if ((size_t) (end - p) < n + 1)
                        return -EILSEQ;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return -EILSEQ;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return -EILSEQ;
                p += n + 1;
                units += cp >= 0x10000 ? 2 : 1;
        }
        return units;
}

int kvp_check_limits(unsigned pool, const char *key, const char *value) {
        size_t klen, vlen;
        long units;

        if (pool >= KVP_POOL_COUNT)
                return log_error_errno(EINVAL, "KVP pool %u does not exist (0-4).", pool);
        if (!key || !key[0] || !value)
                return log_error_errno(EINVAL, "KVP pool %u: a key must be given and not be empty.", pool);

        klen = strlen(key);
        vlen = strlen(value);
        if (klen >= KVP_KEY_SIZE)
                return log_error_errno(E2BIG, "KVP pool %u: key of %zu bytes refused: a pool record holds at most %u.",
                                       pool, klen, KVP_KEY_SIZE - 1);
        if (vlen >= KVP_VALUE_SIZE)
                return log_error_errno(E2BIG, "KVP pool %u: value of %zu bytes for key '%s' refused: a pool record holds at most %u.",
                                       pool, vlen, key, KVP_VALUE_SIZE - 1);

        if (!(KVP_HOST_FACING_POOLS & (1u << pool)))
                return 0;
        units = kvp_utf16_units(key, klen);
        if (units < 0)
                return log_error_errno(EILSEQ, "KVP pool %u: key is not valid UTF-8; the host cannot take it.", pool);
        if (units > (long) KVP_HOST_KEY_UNITS)
                return log_error_errno(EMSGSIZE, "KVP pool %u: key of %ld UTF-16 units refused: the host takes at most %u.",
                                       pool, units, KVP_HOST_KEY_UNITS);
        units = kvp_utf16_units(value, vlen);
        if (units < 0)
                return log_error_errno(EILSEQ, "KVP pool %u: value for key '%s' is not valid UTF-8; the host cannot take it.",
                                       pool, key);
        if (units > (long) KVP_HOST_VALUE_UNITS)
                return log_error_errno(EMSGSIZE, "KVP pool %u: value of %ld UTF-16 units for key '%s' refused: the host takes at most %u.",
                                       pool, units, key, KVP_HOST_VALUE_UNITS);
        return 0;
}
