/* The redo journal DIR/.pvic_pool_N.journal. A write(2) cut short by SIGKILL stops at a
 * page boundary, so an in-place record write may leave a record half old, half new. The
 * entry is written (and checksummed) before the in-place write and removed after it: a
 * complete entry at open means "finish this write"; a torn one means the in-place write
 * never started. Host-endian: the file never leaves this machine. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "pvic/log.h"
#include "pvic/macro.h"

static const char journal_magic[8] = "PVICJNL1";

/* magic, op, slot, old_count, reserved, dev, ino, old, new, crc32 */
#define JOURNAL_HDR_SIZE (8u + 4u * 4u + 8u * 2u)
#define JOURNAL_SIZE (JOURNAL_HDR_SIZE + 2u * KVP_RECORD_SIZE + 4u)

uint32_t kvp_crc32(uint32_t crc, const void *buf, size_t len) {
        static uint32_t table[256];
        const uint8_t *p = buf;

        if (!table[1])
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                        table[i] = c;
                }
        crc = ~crc;
        while (len--)
                crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
}

void journal_init(struct journal *j, int dir_fd, unsigned pool, bool sync) {
        *j = (struct journal) { .dir_fd = dir_fd, .fd = -1, .sync = sync };
        snprintf(j->name, sizeof j->name, ".pvic_pool_%u.journal", pool);
}

void journal_done(struct journal *j) {
        if (j->fd >= 0)
                close(j->fd);
        j->fd = -1;
}

static int journal_open(struct journal *j, bool create) {
        int fd;

        if (j->fd >= 0)
                return 0;
        fd = openat(j->dir_fd, j->name,
                    O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
        if (fd < 0)
                return -errno;
        j->fd = fd;
        return 0;
}

bool journal_pending(struct journal *j) {
        struct stat st;

        /* Only pvic writes the journal, and only under the pool lock: one syscall per
         * locked operation tells whether a dead writer left something behind. */
        if (j->fd < 0 && journal_open(j, false) < 0)
                return false;
        return fstat(j->fd, &st) == 0 && st.st_size > 0;
}

static void put32(uint8_t **p, uint32_t v) { memcpy(*p, &v, 4); *p += 4; }
static void put64(uint8_t **p, uint64_t v) { memcpy(*p, &v, 8); *p += 8; }
static uint32_t get32(const uint8_t **p) { uint32_t v; memcpy(&v, *p, 4); *p += 4; return v; }
static uint64_t get64(const uint8_t **p) { uint64_t v; memcpy(&v, *p, 8); *p += 8; return v; }

int journal_read(struct journal *j, struct journal_entry *e) {
        static uint8_t buf[JOURNAL_SIZE + 1];
        const uint8_t *p = buf;
        uint32_t crc;
        ssize_t n;
        int r;

        r = journal_open(j, false);
        if (r == -ENOENT)
                return -ENOENT;
        if (r < 0)
                return log_warning_errno(r, "Cannot open KVP journal %s: %m", j->name);
        n = pread(j->fd, buf, sizeof buf, 0);
        if (n < 0)
                return log_warning_errno(errno, "Cannot read KVP journal %s: %m", j->name);
        if (n == 0)
                return -ENOENT;
        if ((size_t) n != JOURNAL_SIZE || memcmp(buf, journal_magic, sizeof journal_magic) != 0)
                return -EBADMSG;
        memcpy(&crc, buf + JOURNAL_SIZE - 4, 4);
        if (crc != kvp_crc32(0, buf, JOURNAL_SIZE - 4))
                return -EBADMSG;

        p += sizeof journal_magic;
        e->op = get32(&p);
        e->slot = get32(&p);
        e->old_count = get32(&p);
        (void) get32(&p);
        e->dev = get64(&p);
        e->ino = get64(&p);
        memcpy(e->old, p, KVP_RECORD_SIZE);
        memcpy(e->new, p + KVP_RECORD_SIZE, KVP_RECORD_SIZE);
        if ((e->op != JOURNAL_OVERWRITE && e->op != JOURNAL_MOVE) || e->slot >= e->old_count)
                return -EBADMSG;
        return 0;
}

int journal_clear(struct journal *j) {
        if (j->fd < 0)
                return 0;
        /* One syscall, so kill -9 cannot leave half an invalidation. */
        if (ftruncate(j->fd, 0) < 0)
                return log_error_errno(errno, "Cannot clear KVP journal %s: %m", j->name);
        return 0;
}

int journal_write(struct journal *j, const struct journal_entry *e) {
        static uint8_t buf[JOURNAL_SIZE];
        uint8_t *p = buf;
        uint32_t crc;
        size_t done = 0;
        int r;

        r = journal_open(j, true);
        if (r < 0)
                return log_error_errno(r, "Cannot create KVP journal %s: %m", j->name);

        memcpy(p, journal_magic, sizeof journal_magic);
        p += sizeof journal_magic;
        put32(&p, e->op);
        put32(&p, e->slot);
        put32(&p, e->old_count);
        put32(&p, 0);
        put64(&p, e->dev);
        put64(&p, e->ino);
        memcpy(p, e->old, KVP_RECORD_SIZE);
        memcpy(p + KVP_RECORD_SIZE, e->new, KVP_RECORD_SIZE);
        crc = kvp_crc32(0, buf, JOURNAL_SIZE - 4);
        memcpy(buf + JOURNAL_SIZE - 4, &crc, 4);

        while (done < JOURNAL_SIZE) {
                ssize_t n = pwrite(j->fd, buf + done, JOURNAL_SIZE - done, (off_t) done);
                if (n < 0) {
                        r = -errno;
                        goto fail;
                }
                done += (size_t) n;
        }
        /* Power-loss mode: the entry must be on disk before the record it protects. */
        if (j->sync && fdatasync(j->fd) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;

fail:
        (void) ftruncate(j->fd, 0);
        return log_error_errno(r, "Cannot write KVP journal %s: %m", j->name);
}
