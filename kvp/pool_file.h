/* One pool file DIR/.kvp_pool_N: locks, change detection, record-granular I/O.
 * Private to kvp/; the record layout and the rules are in docs/kvp.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "journal.h"

struct pool_file {
        int dir_fd;            /* borrowed */
        int fd;                /* -1: the file does not exist and cannot be created */
        unsigned pool;
        char name[16];
        mode_t mode;
        bool writable;
        bool sync;
        unsigned lock_timeout_ms;
        int locked;            /* 0, LOCK_SH or LOCK_EX */
        bool want_exclusive;   /* what the caller of pool_file_lock() asked for */
        /* The file as we last left it: a difference is another writer's doing. */
        bool seen;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        struct journal journal;
};

enum pool_file_change {
        POOL_FILE_SAME,
        POOL_FILE_GREW,   /* whole records were appended after the known ones */
        POOL_FILE_RELOAD, /* shrunk, replaced or rewritten: read everything again */
};

int pool_file_open(struct pool_file *pf, int dir_fd, unsigned pool, mode_t mode, bool sync,
                   unsigned lock_timeout_ms);
/* Opens the file again under pf->dir_fd (read-write if it can); nothing must be locked. */
int pool_file_reopen(struct pool_file *pf);
void pool_file_close(struct pool_file *pf);

/* Takes flock and an OFD lock, non-blocking with a bounded retry: -EAGAIN after the
 * deadline. Finishes a journaled write a dead writer left behind (taking the exclusive
 * lock for that even when a shared one was asked for). */
int pool_file_lock(struct pool_file *pf, bool exclusive);
void pool_file_unlock(struct pool_file *pf);

/* Under the lock: what changed since we last saw the file, given the `known` whole
 * records in memory. *ret_total = whole records in the file now. */
int pool_file_check(struct pool_file *pf, size_t known, size_t *ret_total);

/* Without the lock, one fstat(2): true when the file is still as we last saw it
 * (same size, mtime and ctime, still linked, `known` whole records), so memory already
 * matches it and pool_file_check() would answer POOL_FILE_SAME. Any difference, even
 * a write in progress or a rename, says false: take the lock and check. */
bool pool_file_unchanged(struct pool_file *pf, size_t known);

/* Calls fn for records [first, first + n) in file order; returns how many were read
 * (fewer if the file is shorter) or negative errno. */
typedef int (*pool_file_record_fn)(const uint8_t *rec, size_t slot, void *userdata);
ssize_t pool_file_read(struct pool_file *pf, size_t first, size_t n, pool_file_record_fn fn,
                       void *userdata);

/* Writers, under the exclusive lock; `count` = whole records in the file. Each either
 * completes or leaves the file as it was, and drops an interrupted append's partial
 * record. */
int pool_file_append(struct pool_file *pf, size_t count, const uint8_t *rec);
int pool_file_overwrite(struct pool_file *pf, size_t count, size_t slot, const uint8_t *rec);
/* Moves the last record into `slot` and truncates. */
int pool_file_remove(struct pool_file *pf, size_t count, size_t slot);
