/* The KVP store: five pools of key/value records, one source of truth for both
 * hypervisors (design.md, fixed decision 5). File pools are kept in the hv_kvp_daemon /
 * cloud-init pool files DIR/.kvp_pool_N (spec/hyperv-ic.md §6); docs/kvp.md describes the
 * format, locking, journal, ordering and fsync policy.
 *
 * Pools: 0 EXTERNAL (host -> guest), 1 GUEST (guest -> host), 2 AUTO (intrinsic items,
 * guest -> host), 3 AUTO_EXTERNAL (host facts, host -> guest), 4 AUTO_INTERNAL (unused).
 * Pools 0 and 3 carry host data: their files are kept at mode 0600; the others 0644.
 *
 * Memory-only pools (kvp_store_options.memory_pools; by default pool 2, whose items are
 * generated from guest facts) never read or write their file: SET/DELETE change memory
 * and notify subscribers, kvp_refresh() is a no-op.
 *
 * Reads (kvp_get, kvp_enumerate, kvp_count) answer from memory in O(1) and never touch
 * the file: call kvp_refresh() first to pick up other writers (cloud-init appends), as
 * hv_kvp_daemon rereads before every host request. kvp_set/kvp_delete always catch up
 * with the file under its lock before they write.
 *
 * Strings handed out (kvp_get, kvp_enumerate) stay valid until the next kvp_set,
 * kvp_delete or kvp_refresh of that pool, or kvp_store_free; they may be passed straight
 * back as arguments. Not thread-safe (one event loop owns a store). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVP_POOL_COUNT 5u

/* The pool-file record: key[512] value[2048], each NUL-terminated UTF-8 (spec §6.2).
 * A key may have at most KVP_KEY_SIZE - 1 bytes, a value KVP_VALUE_SIZE - 1. */
#define KVP_KEY_SIZE    512u
#define KVP_VALUE_SIZE  2048u
#define KVP_RECORD_SIZE (KVP_KEY_SIZE + KVP_VALUE_SIZE)

/* What a real Hyper-V host takes back in an ENUMERATE reply (spec §4.4, §8.2: the kernel
 * relay truncates beyond these), in UTF-16 units without the NUL. Enforced on SET for
 * the host-facing pools, the ones the host enumerates: 1 (GUEST) and 2 (AUTO). */
#define KVP_HOST_KEY_UNITS   254u
#define KVP_HOST_VALUE_UNITS 1022u
#define KVP_HOST_FACING_POOLS ((1u << 1) | (1u << 2))

/* Errors of kvp_set (negative errno, with a log line saying which limit):
 *   -EINVAL   pool > 4, NULL or empty key, NULL value
 *   -E2BIG    key >= KVP_KEY_SIZE or value >= KVP_VALUE_SIZE bytes: never truncated
 *   -EMSGSIZE host-facing pool only: key > 254 or value > 1022 UTF-16 units
 *   -EILSEQ   host-facing pool only: malformed UTF-8 (cannot be sent to the host)
 *   -EAGAIN   the pool file stayed locked by another program beyond the lock deadline
 *   -EROFS    the pool file or directory is read-only
 *   -ENOSPC, -EIO, ... from the file system
 * On any error memory and file are unchanged. */

enum {
        /* fdatasync the pool file (and the journal before an in-place write) before a
         * SET/DELETE returns: survives power loss, not only kill -9. */
        KVP_STORE_SYNC = 1u << 0,
};

struct kvp_store_options {
        unsigned flags;           /* KVP_STORE_* */
        unsigned memory_pools;    /* bit n: pool n is memory-only */
        unsigned lock_timeout_ms; /* bounded retry for the file locks; 0 = default */
};

#define KVP_STORE_LOCK_TIMEOUT_MS_DEFAULT 100u
#define KVP_STORE_OPTIONS_DEFAULT \
        ((struct kvp_store_options) { .flags = 0, .memory_pools = 1u << 2, .lock_timeout_ms = 0 })

struct kvp_store;

/* Opens the pools in dir (ROOT/var/lib/hyperv; created 0755 if missing), creating missing
 * pool files, replaying an interrupted in-place write from the journal and loading every
 * file pool. options NULL = KVP_STORE_OPTIONS_DEFAULT. A pool file that cannot be opened
 * for writing (read-only file system) is loaded read-only; writes to it fail -EROFS. A
 * pool whose file stays locked by another program is loaded at its next kvp_refresh()
 * (or SET/DELETE) instead of failing the open. */
int kvp_store_open(struct kvp_store **ret, const char *dir, const struct kvp_store_options *options);
struct kvp_store *kvp_store_free(struct kvp_store *s);
static inline void kvp_store_freep(struct kvp_store **s) {
        if (*s)
                kvp_store_free(*s);
}
#define _cleanup_kvp_store_ __attribute__((cleanup(kvp_store_freep)))

/* Adds key (at the end of the enumeration order) or replaces its value. */
int kvp_set(struct kvp_store *s, unsigned pool, const char *key, const char *value);
/* 0 and *ret_value, or -ENOENT. With duplicate keys (appenders may write them) the first
 * in enumeration order wins for get, set and delete. */
int kvp_get(struct kvp_store *s, unsigned pool, const char *key, const char **ret_value);
/* 0, or -ENOENT if absent. The others keep their relative enumeration order. */
int kvp_delete(struct kvp_store *s, unsigned pool, const char *key);
/* The index-th record in enumeration order (insertion order; duplicates included),
 * -ENOENT past the end. ret_key/ret_value may be NULL. */
int kvp_enumerate(struct kvp_store *s, unsigned pool, size_t index, const char **ret_key,
                  const char **ret_value);
/* Number of records (>= 0) or -EINVAL. */
int64_t kvp_count(struct kvp_store *s, unsigned pool);
/* Catches up with other writers of the pool file: new tail records are read and
 * appended; a shrunk, replaced or rewritten file is reloaded. Subscribers are told
 * about every key whose visible value changed. 0 or negative errno (-EAGAIN: locked). */
int kvp_refresh(struct kvp_store *s, unsigned pool);

/* Called after a change is in memory and on disk, with no lock held: value is what
 * kvp_get now returns for key, or NULL if it now fails (deleted). May call any kvp_*
 * function but kvp_store_free. */
typedef void (*kvp_change_fn)(struct kvp_store *s, unsigned pool, const char *key,
                              const char *value, void *userdata);
int kvp_subscribe(struct kvp_store *s, kvp_change_fn fn, void *userdata);
int kvp_unsubscribe(struct kvp_store *s, kvp_change_fn fn, void *userdata);

/* Whether the pool is backed by a file that accepts writes (tests, pvicctl status). */
bool kvp_pool_is_writable(struct kvp_store *s, unsigned pool);
