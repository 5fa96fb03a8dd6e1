/* Pool file I/O. Every read and write happens under flock() (what cloud-init takes) AND
 * an OFD lock (conflicts with hv_kvp_daemon's POSIX record locks); the two lock kinds do
 * not see each other on Linux, so only holding both excludes every known peer. Locks are
 * tried non-blocking with a short bounded retry: the event loop never waits long. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pool_file.h"
#include "pvic/log.h"
#include "pvic/macro.h"

#define R ((off_t) KVP_RECORD_SIZE)
#define READ_CHUNK_RECORDS 64u

static bool errno_is_read_only(int e) {
        return e == EROFS || e == EACCES || e == EPERM;
}

int pool_file_reopen(struct pool_file *pf) {
        int fd;

        if (pf->fd >= 0)
                close(pf->fd);
        pf->fd = -1;
        pf->seen = false;

        fd = openat(pf->dir_fd, pf->name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, pf->mode);
        if (fd < 0 && errno_is_read_only(errno)) {
                /* A read-only file system still lets us serve what is there. */
                fd = openat(pf->dir_fd, pf->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 && errno == ENOENT) {
                        pf->writable = false;
                        return 0;
                }
                if (fd >= 0)
                        log_notice("KVP pool file %s is read-only; writes to pool %u will fail.",
                                   pf->name, pf->pool);
                pf->writable = false;
        } else
                pf->writable = fd >= 0;
        if (fd < 0)
                return log_error_errno(errno, "Cannot open KVP pool file %s: %m", pf->name);
        pf->fd = fd;

        if (pf->writable) {
                struct stat st;

                /* Host data must not be world-readable (hv_kvp_daemon creates 0644):
                 * tighten a file another daemon left wider than ours. */
                if (fstat(fd, &st) == 0 && (st.st_mode & 0777 & ~pf->mode) &&
                    fchmod(fd, st.st_mode & pf->mode & 0777) < 0)
                        log_warning_errno(errno, "Cannot restrict mode of %s: %m", pf->name);
        }
        return 0;
}

int pool_file_open(struct pool_file *pf, int dir_fd, unsigned pool, mode_t mode, bool sync,
                   unsigned lock_timeout_ms) {
        *pf = (struct pool_file) {
                .dir_fd = dir_fd,
                .fd = -1,
                .pool = pool,
                .mode = mode,
                .sync = sync,
                .lock_timeout_ms = lock_timeout_ms,
        };
        snprintf(pf->name, sizeof pf->name, ".kvp_pool_%u", pool);
        journal_init(&pf->journal, dir_fd, pool, sync);
        return pool_file_reopen(pf);
}

void pool_file_close(struct pool_file *pf) {
        pool_file_unlock(pf);
        journal_done(&pf->journal);
        if (pf->fd >= 0)
                close(pf->fd);
        pf->fd = -1;
}

static int try_lock(int fd, bool exclusive) {
        struct flock fl = {
                .l_type = exclusive ? F_WRLCK : F_RDLCK,
                .l_whence = SEEK_SET,
        };

        if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0)
                return -errno;
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                int r = -errno;
                (void) flock(fd, LOCK_UN);
                return r;
        }
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int lock_fd(struct pool_file *pf, bool exclusive) {
        uint64_t deadline = now_usec() + (uint64_t) pf->lock_timeout_ms * 1000u;
        useconds_t pause = 200;

        for (;;) {
                int r = try_lock(pf->fd, exclusive);
                if (r == 0) {
                        pf->locked = exclusive ? LOCK_EX : LOCK_SH;
                        return 0;
                }
                if (r != -EWOULDBLOCK && r != -EAGAIN && r != -EACCES && r != -EINTR)
                        return log_error_errno(r, "Cannot lock KVP pool file %s: %m", pf->name);
                if (now_usec() >= deadline)
                        return log_warning_errno(EAGAIN,
                                                 "KVP pool file %s stayed locked by another program for %u ms.",
                                                 pf->name, pf->lock_timeout_ms);
                usleep(pause);
                pause = MIN(pause * 2, (useconds_t) 5000);
        }
}

void pool_file_unlock(struct pool_file *pf) {
        struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

        if (!pf->locked || pf->fd < 0)
                return;
        (void) fcntl(pf->fd, F_OFD_SETLK, &fl);
        (void) flock(pf->fd, LOCK_UN);
        pf->locked = 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len, off_t off) {
        while (len > 0) {
                ssize_t n = pwrite(fd, buf, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                buf += n;
                len -= (size_t) n;
                off += n;
        }
        return 0;
}

static int read_record(int fd, size_t slot, uint8_t *rec) {
        ssize_t n = pread(fd, rec, KVP_RECORD_SIZE, (off_t) slot * R);
        if (n < 0)
                return -errno;
        return n == (ssize_t) KVP_RECORD_SIZE ? 0 : -ENODATA;
}

/* Remembers the file as our own write left it. */
static void pool_file_seen(struct pool_file *pf) {
        struct stat st;

        if (fstat(pf->fd, &st) < 0) {
                pf->seen = false;
                return;
        }
        pf->seen = true;
        pf->dev = st.st_dev;
        pf->ino = st.st_ino;
        pf->size = st.st_size;
        pf->mtime = st.st_mtim;
        pf->ctime = st.st_ctim;
}

static bool ts_eq(struct timespec a, struct timespec b) {
        return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* A write cut short by a signal leaves a prefix of the new bytes over the old ones. */
static bool is_torn_mix(const uint8_t *cur, const uint8_t *old, const uint8_t *new) {
        size_t k = 0;

        while (k < KVP_RECORD_SIZE && cur[k] == new[k])
                k++;
        return memcmp(cur + k, old + k, KVP_RECORD_SIZE - k) == 0;
}

static int pool_file_replay(struct pool_file *pf) {
        _cleanup_free_ struct journal_entry *e = NULL;
        uint8_t cur[KVP_RECORD_SIZE];
        struct stat st;
        int r;

        e = malloc(sizeof *e);
        if (!e)
                return log_oom();
        r = journal_read(&pf->journal, e);
        if (r == -ENOENT)
                return 0;
        if (r == -EBADMSG) {
                log_info("Discarding torn KVP journal of %s: the write it announced never started.",
                         pf->name);
                return journal_clear(&pf->journal);
        }
        if (r < 0)
                return r;

        if (fstat(pf->fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", pf->name);
        if ((uint64_t) st.st_dev != e->dev || (uint64_t) st.st_ino != e->ino ||
            st.st_size < ((off_t) e->slot + 1) * R) {
                log_notice("Discarding KVP journal of %s: the file was replaced or truncated since.",
                           pf->name);
                return journal_clear(&pf->journal);
        }
        r = read_record(pf->fd, e->slot, cur);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", pf->name);
        if (!is_torn_mix(cur, e->old, e->new)) {
                log_notice("Discarding KVP journal of %s: record %u was rewritten by another program.",
                           pf->name, e->slot);
                return journal_clear(&pf->journal);
        }
        if (memcmp(cur, e->new, KVP_RECORD_SIZE) != 0) {
                log_info("Completing an interrupted write of record %u in %s.", e->slot, pf->name);
                r = write_all(pf->fd, e->new, KVP_RECORD_SIZE, (off_t) e->slot * R);
                if (r < 0)
                        return log_error_errno(r, "Cannot repair %s: %m", pf->name);
        }

        if (e->op == JOURNAL_MOVE) {
                size_t last = e->old_count - 1;

                /* The moved record still at its old place means the truncation did not
                 * happen. A byte-identical record appended there later by someone else
                 * is indistinguishable, and dropping it loses no key or value. */
                if (last != e->slot && st.st_size >= (off_t) e->old_count * R &&
                    read_record(pf->fd, last, cur) == 0 &&
                    memcmp(cur, e->new, KVP_RECORD_SIZE) == 0) {
                        log_info("Completing an interrupted delete in %s.", pf->name);
                        r = pool_file_remove(pf, (size_t) (st.st_size / R), last);
                        if (r < 0)
                                return r;
                }
        }
        if (pf->sync && fdatasync(pf->fd) < 0)
                return log_error_errno(errno, "Cannot sync %s: %m", pf->name);
        return journal_clear(&pf->journal);
}

int pool_file_lock(struct pool_file *pf, bool exclusive) {
        int r;

        pf->want_exclusive = exclusive;
        if (pf->fd < 0)
                return 0;
        if (!pf->writable)
                exclusive = false;
        r = lock_fd(pf, exclusive);
        if (r < 0)
                return r;
        if (!pf->writable || !journal_pending(&pf->journal))
                return 0;

        if (!exclusive) {
                pool_file_unlock(pf);
                r = lock_fd(pf, true);
                if (r < 0)
                        return r;
        }
        r = pool_file_replay(pf);
        if (r < 0) {
                pool_file_unlock(pf);
                return r;
        }
        return 0;
}

int pool_file_check(struct pool_file *pf, size_t known, size_t *ret_total) {
        struct stat st, path_st;
        size_t total;
        int r;

        *ret_total = 0;
        if (pf->fd < 0) {
                /* Read-only directory without the file: maybe someone created it since. */
                r = pool_file_reopen(pf);
                if (r < 0)
                        return r;
                if (pf->fd < 0)
                        return known > 0 ? POOL_FILE_RELOAD : POOL_FILE_SAME;
                r = lock_fd(pf, pf->want_exclusive && pf->writable);
                if (r < 0)
                        return r;
                if (fstat(pf->fd, &st) < 0)
                        return -errno;
                *ret_total = (size_t) (st.st_size / R);
                return POOL_FILE_RELOAD;
        }

        /* Replaced (rename over it) or unlinked: our fd holds a stale inode. */
        if (fstatat(pf->dir_fd, pf->name, &path_st, AT_SYMLINK_NOFOLLOW) < 0 ||
            fstat(pf->fd, &st) < 0 || path_st.st_dev != st.st_dev || path_st.st_ino != st.st_ino) {
                log_debug("KVP pool file %s was replaced; reopening.", pf->name);
                pool_file_unlock(pf);
                r = pool_file_reopen(pf);
                if (r < 0)
                        return r;
                if (pf->fd < 0)
                        return POOL_FILE_RELOAD;
                r = lock_fd(pf, pf->want_exclusive && pf->writable);
                if (r < 0)
                        return r;
                if (fstat(pf->fd, &st) < 0)
                        return -errno;
                *ret_total = (size_t) (st.st_size / R);
                return POOL_FILE_RELOAD;
        }

        total = (size_t) (st.st_size / R);
        *ret_total = total;
        if (!pf->seen || st.st_dev != pf->dev || st.st_ino != pf->ino) {
                if (known > 0)
                        return POOL_FILE_RELOAD;
                if (total == 0) {
                        pool_file_seen(pf);
                        return POOL_FILE_SAME;
                }
                return POOL_FILE_GREW;
        }
        if (total < known)
                return POOL_FILE_RELOAD;
        if (total > known)
                return POOL_FILE_GREW;
        /* Same number of records but touched by someone else: an in-place edit. A change
         * of the partial tail alone (an interrupted append) changes the size. */
        if (st.st_size == pf->size && (!ts_eq(st.st_mtim, pf->mtime) || !ts_eq(st.st_ctim, pf->ctime)))
                return POOL_FILE_RELOAD;
        if (st.st_size != pf->size)
                pool_file_seen(pf);
        return POOL_FILE_SAME;
}

bool pool_file_unchanged(struct pool_file *pf, size_t known) {
        struct stat st;

        /* No lock is needed to compare: every write by anyone changes the size or the
         * timestamps (multigrain timestamps, 6.13+, make even a write right after our
         * own fstat visible), and when nothing changed there is nothing to read.
         * fstat of our fd, not a stat of the path (a third of the cost): the path can
         * only stop naming our inode by an unlink, a rename over it or a rename of it,
         * and each of those changes our inode's ctime (and an unlink its link count).
         * A journal left by a dead pvic writer matters only if its write reached the
         * file, which shows here too; otherwise the next SET/DELETE deals with it. */
        if (pf->fd < 0 || !pf->seen || fstat(pf->fd, &st) < 0 || st.st_nlink == 0)
                return false;
        return st.st_dev == pf->dev && st.st_ino == pf->ino && st.st_size == pf->size &&
               (size_t) (st.st_size / R) == known && ts_eq(st.st_mtim, pf->mtime) &&
               ts_eq(st.st_ctim, pf->ctime);
}

ssize_t pool_file_read(struct pool_file *pf, size_t first, size_t n, pool_file_record_fn fn,
                       void *userdata) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t done = 0;

        if (pf->fd < 0)
                return 0;
        if (n == 0) {
                pool_file_seen(pf);
                return 0;
        }
        buf = malloc((size_t) MIN(n, READ_CHUNK_RECORDS) * KVP_RECORD_SIZE);
        if (!buf)
                return log_oom();

        while (done < n) {
                size_t want = MIN(n - done, READ_CHUNK_RECORDS);
                ssize_t got = pread(pf->fd, buf, want * KVP_RECORD_SIZE, (off_t) (first + done) * R);
                size_t whole;

                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "Cannot read %s: %m", pf->name);
                }
                whole = (size_t) got / KVP_RECORD_SIZE;
                for (size_t i = 0; i < whole; i++) {
                        int r = fn(buf + i * KVP_RECORD_SIZE, first + done + i, userdata);
                        if (r < 0)
                                return r;
                }
                done += whole;
                if (whole < want)
                        break;
        }
        /* Remember the file only now that memory matches it. */
        pool_file_seen(pf);
        return (ssize_t) done;
}

static int drop_partial_tail(struct pool_file *pf, size_t count) {
        struct stat st;

        if (fstat(pf->fd, &st) < 0)
                return -errno;
        if (st.st_size != (off_t) count * R && ftruncate(pf->fd, (off_t) count * R) < 0)
                return -errno;
        return 0;
}

static int file_identity(struct pool_file *pf, struct journal_entry *e) {
        struct stat st;

        if (fstat(pf->fd, &st) < 0)
                return -errno;
        e->dev = (uint64_t) st.st_dev;
        e->ino = (uint64_t) st.st_ino;
        return 0;
}

static int finish_write(struct pool_file *pf) {
        if (pf->sync && fdatasync(pf->fd) < 0)
                return -errno;
        return 0;
}

static int check_writable(struct pool_file *pf) {
        if (pf->fd < 0 || !pf->writable)
                return log_error_errno(EROFS, "KVP pool file %s is read-only.", pf->name);
        return 0;
}

int pool_file_append(struct pool_file *pf, size_t count, const uint8_t *rec) {
        int r;

        r = check_writable(pf);
        if (r < 0)
                return r;
        r = drop_partial_tail(pf, count);
        if (r < 0)
                return log_error_errno(r, "Cannot truncate %s: %m", pf->name);
        /* A kill cuts this short only into a partial record, which readers ignore. */
        r = write_all(pf->fd, rec, KVP_RECORD_SIZE, (off_t) count * R);
        if (r == 0)
                r = finish_write(pf);
        if (r < 0) {
                (void) ftruncate(pf->fd, (off_t) count * R);
                pool_file_seen(pf);
                return log_error_errno(r, "Cannot append to %s: %m", pf->name);
        }
        pool_file_seen(pf);
        return 0;
}

int pool_file_overwrite(struct pool_file *pf, size_t count, size_t slot, const uint8_t *rec) {
        _cleanup_free_ struct journal_entry *e = NULL;
        int r;

        r = check_writable(pf);
        if (r < 0)
                return r;
        e = malloc(sizeof *e);
        if (!e)
                return log_oom();
        r = drop_partial_tail(pf, count);
        if (r < 0)
                return log_error_errno(r, "Cannot truncate %s: %m", pf->name);
        r = read_record(pf->fd, slot, e->old);
        if (r == 0)
                r = file_identity(pf, e);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", pf->name);
        e->op = JOURNAL_OVERWRITE;
        e->slot = (uint32_t) slot;
        e->old_count = (uint32_t) count;
        memcpy(e->new, rec, KVP_RECORD_SIZE);
        r = journal_write(&pf->journal, e);
        if (r < 0)
                return r;

        r = write_all(pf->fd, rec, KVP_RECORD_SIZE, (off_t) slot * R);
        if (r == 0)
                r = finish_write(pf);
        if (r < 0) {
                log_error_errno(r, "Cannot write record %zu of %s: %m", slot, pf->name);
                /* Put the old record back; if even that fails the journal finishes the
                 * write later, which leaves a whole record, never a torn one. */
                if (write_all(pf->fd, e->old, KVP_RECORD_SIZE, (off_t) slot * R) == 0)
                        (void) journal_clear(&pf->journal);
                pool_file_seen(pf);
                return r;
        }
        (void) journal_clear(&pf->journal);
        pool_file_seen(pf);
        return 0;
}

int pool_file_remove(struct pool_file *pf, size_t count, size_t slot) {
        _cleanup_free_ struct journal_entry *e = NULL;
        size_t last = count - 1;
        int r;

        r = check_writable(pf);
        if (r < 0)
                return r;
        if (slot == last) {
                /* One syscall: nothing to journal. */
                if (ftruncate(pf->fd, (off_t) last * R) < 0 || finish_write(pf) < 0)
                        return log_error_errno(errno, "Cannot truncate %s: %m", pf->name);
                pool_file_seen(pf);
                return 0;
        }

        e = malloc(sizeof *e);
        if (!e)
                return log_oom();
        r = read_record(pf->fd, slot, e->old);
        if (r == 0)
                r = read_record(pf->fd, last, e->new);
        if (r == 0)
                r = file_identity(pf, e);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", pf->name);
        e->op = JOURNAL_MOVE;
        e->slot = (uint32_t) slot;
        e->old_count = (uint32_t) count;
        r = journal_write(&pf->journal, e);
        if (r < 0)
                return r;

        r = write_all(pf->fd, e->new, KVP_RECORD_SIZE, (off_t) slot * R);
        if (r == 0 && ftruncate(pf->fd, (off_t) last * R) < 0)
                r = -errno;
        if (r == 0)
                r = finish_write(pf);
        if (r < 0) {
                log_error_errno(r, "Cannot delete record %zu of %s: %m", slot, pf->name);
                if (write_all(pf->fd, e->old, KVP_RECORD_SIZE, (off_t) slot * R) == 0)
                        (void) journal_clear(&pf->journal);
                pool_file_seen(pf);
                return r;
        }
        (void) journal_clear(&pf->journal);
        pool_file_seen(pf);
        return 0;
}
