/* Redo journal for the one in-place record write a pool file can have in flight
 * (docs/kvp.md "Journal"). Private to kvp/. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvic/kvp_store.h"

enum journal_op {
        JOURNAL_OVERWRITE = 1, /* SET of an existing key: slot gets `new` */
        JOURNAL_MOVE = 2,      /* DELETE: slot gets the last record (`new`), then truncate */
};

struct journal_entry {
        uint32_t op;
        uint32_t slot;
        uint32_t old_count;  /* whole records in the pool file before the operation */
        uint64_t dev, ino;   /* the pool file it applies to */
        uint8_t old[KVP_RECORD_SIZE]; /* slot before: tells a torn write from a rewrite */
        uint8_t new[KVP_RECORD_SIZE];
};

struct journal {
        int dir_fd;          /* borrowed */
        int fd;              /* -1 until first needed */
        bool sync;
        char name[40];
};

void journal_init(struct journal *j, int dir_fd, unsigned pool, bool sync);
void journal_done(struct journal *j);
/* Whether an entry may be pending (the file exists and is not empty). */
bool journal_pending(struct journal *j);
/* 0 and *e for a complete, valid entry; -ENOENT if there is none; -EBADMSG if torn. */
int journal_read(struct journal *j, struct journal_entry *e);
/* Makes e the pending entry. On error no entry is pending. */
int journal_write(struct journal *j, const struct journal_entry *e);
int journal_clear(struct journal *j);

uint32_t kvp_crc32(uint32_t crc, const void *buf, size_t len);
