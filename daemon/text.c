/* The one sanitiser every host- or admin-supplied string passes through before it
 * reaches a log line, a hook's environment or a status the host reads. */
#include <string.h>

#include "pvic/text.h"

/* Length of the valid UTF-8 sequence at p (1-4), 0 if invalid, overlong, a surrogate or
 * beyond U+10FFFF; only complete sequences before the NUL count. */
static size_t utf8_len(const unsigned char *p) {
        unsigned c = p[0];
        size_t n;
        unsigned cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        /* C1 controls are as unprintable as C0 ones */
        if (cp >= 0x80 && cp < 0xa0)
                return 0;
        return n;
}

char *text_sanitize(char *dst, size_t n, const char *src) {
        const unsigned char *p = (const unsigned char *)(src ? src : "");
        size_t o = 0;
        while (*p) {
                size_t l = utf8_len(p);
                if (l == 1 && (*p < 0x20 || *p == 0x7f))
                        l = 0;
                size_t out = l ? l : 1;
                if (o + out >= n)
                        break;
                if (l)
                        memcpy(dst + o, p, l);
                else
                        dst[o] = '?';
                o += out;
                p += l ? l : 1;
        }
        dst[o] = '\0';
        return dst;
}

