/* KVP keys in xenstore paths (docs/xenstore-keys.md): xenstore allows only
 * [A-Za-z0-9-/_@] in a path, KVP keys are any UTF-8. Letters, digits and '-' stay; every
 * other byte becomes "_xx" (two lowercase hex digits), '_' included. The mapping is a
 * bijection: unescape rejects anything escape would not have produced. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* Returns the escaped length, or -ENOBUFS when out is too small, -EINVAL for "". */
ssize_t xs_key_escape(const char *key, char *out, size_t outlen);
/* Returns the key length, or -EINVAL for a non-canonical or malformed name, -ENOBUFS. */
ssize_t xs_key_unescape(const char *name, char *out, size_t outlen);
