#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "pvic/utf16.h"

static uint16_t get_unit(const uint8_t *p) {
        return (uint16_t)(p[0] | (p[1] << 8));
}

static void put_unit(uint8_t *p, uint16_t u) {
        p[0] = (uint8_t)u;
        p[1] = (uint8_t)(u >> 8);
}

static bool is_high_surrogate(uint32_t u) { return u >= 0xd800 && u <= 0xdbff; }
static bool is_low_surrogate(uint32_t u) { return u >= 0xdc00 && u <= 0xdfff; }

static size_t utf8_encode(char buf[4], uint32_t cp) {
        if (cp < 0x80) {
                buf[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                buf[0] = (char)(0xc0 | (cp >> 6));
                buf[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                buf[0] = (char)(0xe0 | (cp >> 12));
                buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        buf[0] = (char)(0xf0 | (cp >> 18));
        buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        buf[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

ssize_t utf16_to_utf8(char *out, size_t outsize, const uint8_t *in, size_t n_units) {
        size_t o = 0;

        if (outsize > 0)
                out[0] = '\0';

        for (size_t i = 0; i < n_units; i++) {
                uint32_t cp = get_unit(in + 2 * i);
                char enc[4];
                size_t n;

                if (cp == 0)
                        break;
                if (is_low_surrogate(cp))
                        return -EILSEQ;
                if (is_high_surrogate(cp)) {
                        uint32_t lo;

                        if (i + 1 >= n_units)
                                return -EILSEQ;
                        lo = get_unit(in + 2 * (i + 1));
                        if (!is_low_surrogate(lo))
                                return -EILSEQ;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        i++;
                }

                n = utf8_encode(enc, cp);
                if (o + n + 1 > outsize) {
                        if (outsize > 0)
                                out[0] = '\0';
                        return -ENOBUFS;
                }
                memcpy(out + o, enc, n);
                o += n;
        }

        if (o + 1 > outsize)
                return -ENOBUFS;
        out[o] = '\0';
        return (ssize_t)o;
}

/* Decodes one code point at s[*i] (s[*i] != NUL, *i < len). Rejects everything RFC 3629
 * forbids, so the result always round-trips. */
static int utf8_decode(const uint8_t *s, size_t len, size_t *i, uint32_t *ret) {
        uint8_t c = s[*i];
        uint32_t cp, min;
        size_t n;

        if (c < 0x80) {
                *ret = c;
                (*i)++;
                return 0;
        }
        if (c >= 0xc2 && c <= 0xdf) {
                n = 1;
                cp = c & 0x1f;
                min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 2;
                cp = c & 0x0f;
                min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 3;
                cp = c & 0x07;
                min = 0x10000;
        } else
                return -EILSEQ; /* continuation byte, C0/C1 (always overlong), F5..FF */

        if (len - *i - 1 < n)
                return -EILSEQ;
        for (size_t k = 1; k <= n; k++) {
                uint8_t cc = s[*i + k];
                if ((cc & 0xc0) != 0x80)
                        return -EILSEQ;
                cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -EILSEQ;

        *i += n + 1;
        *ret = cp;
        return 0;
}

static ssize_t to_utf16(uint8_t *out, size_t out_units, const char *in, size_t len,
                        bool *truncated) {
        const uint8_t *s = (const uint8_t *)in;
        size_t o = 0, i = 0;
        bool full = false;
        int r;

        if (out_units > 0)
                put_unit(out, 0);

        while (i < len && s[i] != 0) {
                uint32_t cp;
                size_t need;

                r = utf8_decode(s, len, &i, &cp);
                if (r < 0)
                        return r;
                if (full)
                        continue; /* keep validating what does not fit */

                need = cp >= 0x10000 ? 2 : 1;
                if (o + need + 1 > out_units) {
                        if (!truncated) {
                                if (out_units > 0)
                                        put_unit(out, 0);
                                return -ENOBUFS;
                        }
                        *truncated = true;
                        full = true;
                        continue;
                }
                if (need == 2) {
                        cp -= 0x10000;
                        put_unit(out + 2 * o, (uint16_t)(0xd800 + (cp >> 10)));
                        put_unit(out + 2 * o + 2, (uint16_t)(0xdc00 + (cp & 0x3ff)));
                } else
                        put_unit(out + 2 * o, (uint16_t)cp);
                o += need;
        }

        if (o + 1 > out_units)
                return -ENOBUFS;
        put_unit(out + 2 * o, 0);
        return (ssize_t)o;
}

ssize_t utf8_to_utf16(uint8_t *out, size_t out_units, const char *in, size_t len) {
        return to_utf16(out, out_units, in, len, NULL);
}

ssize_t utf8_to_utf16_prefix(uint8_t *out, size_t out_units, const char *in, size_t len,
                             bool *ret_truncated) {
        bool t = false;
        ssize_t n;

        n = to_utf16(out, out_units, in, len, &t);
        if (n >= 0 && ret_truncated)
                *ret_truncated = t;
        return n;
}

int utf8_validate(const char *s, size_t len) {
        const uint8_t *u = (const uint8_t *)s;
        size_t i = 0;

        while (i < len) {
                uint32_t cp;
                int r;

                if (u[i] == 0) {
                        i++;
                        continue;
                }
                r = utf8_decode(u, len, &i, &cp);
                if (r < 0)
                        return r;
        }
        return 0;
}

ssize_t utf8_fit(const char *s, size_t max_bytes, size_t max_units) {
        const uint8_t *u = (const uint8_t *)s;
        size_t len = strlen(s), i = 0, units = 0, fit = 0;
        bool full = false;

        while (i < len) {
                uint32_t cp;
                int r;

                r = utf8_decode(u, len, &i, &cp);
                if (r < 0)
                        return r;
                units += cp >= 0x10000 ? 2 : 1;
                if (!full && i <= max_bytes && units <= max_units)
                        fit = i;
                else
                        full = true;
        }
        return (ssize_t)fit;
}
