/* Text from outside (host, hooks, D-Bus peers) made safe to log and to hand on. */
#pragma once
#include <stddef.h>

/* Copies src into dst (size n > 0) keeping valid, printable UTF-8; anything else becomes
 * '?'. Never splits a character; always NUL-terminates. Returns dst. */
char *text_sanitize(char *dst, size_t n, const char *src);
