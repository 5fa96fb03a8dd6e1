/* Size limits of KVP keys and values (include/pvic/kvp_store.h). Private to kvp/. */
#pragma once

/* 0 if key/value may be stored in pool; otherwise a logged negative errno:
 * -EINVAL, -E2BIG (pool-file record), -EILSEQ or -EMSGSIZE (host-facing pools). */
int kvp_check_limits(unsigned pool, const char *key, const char *value);

/* UTF-16 units needed for the len bytes of UTF-8 at s, or -EILSEQ if malformed. */
long kvp_utf16_units(const char *s, size_t len);
