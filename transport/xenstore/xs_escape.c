#include <errno.h>
#include <stdbool.h>

#include "pvic/xs_escape.h"

static bool plain(unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static const char hex[] = "0123456789abcdef";

ssize_t xs_key_escape(const char *key, char *out, size_t outlen) {
        if (!key[0])
                return -EINVAL;
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
                if (plain(*p)) {
                        if (n + 1 >= outlen)
                                return -ENOBUFS;
                        out[n++] = (char)*p;
                } else {
                        if (n + 3 >= outlen)
                                return -ENOBUFS;
                        out[n++] = '_';
                        out[n++] = hex[*p >> 4];
                        out[n++] = hex[*p & 0xf];
                }
        }
        out[n] = 0;
        return (ssize_t)n;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1; /* uppercase is not canonical */
}

ssize_t xs_key_unescape(const char *name, char *out, size_t outlen) {
        if (!name[0])
                return -EINVAL;
        size_t n = 0;
        for (const char *p = name; *p;) {
                unsigned char c;
                if (*p == '_') {
                        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = (unsigned char)(hi << 4 | lo);
                        /* NUL cannot be in a key; a plain byte written escaped is not canonical. */
                        if (c == 0 || plain(c))
                                return -EINVAL;
                        p += 3;
                } else if (plain((unsigned char)*p)) {
                        c = (unsigned char)*p++;
                } else
                        return -EINVAL;
                if (n + 1 >= outlen)
                        return -ENOBUFS;
                out[n++] = (char)c;
        }
        out[n] = 0;
        return (ssize_t)n;
}
