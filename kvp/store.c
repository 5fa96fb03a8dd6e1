/* The KVP store: per pool a dense array in enumeration order (ENUMERATE by index is one
 * array access), a hash index for lookups, and for file pools a slot array mapping file
 * records to memory records (DELETE moves the file's last record into the hole, so the
 * file order may drift from the enumeration order; the slot array finds "the record in
 * the last slot" in O(1)). Memory changes only after the file write returned. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvp_limits.h"
#include "pool_file.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"
#include "pvic/macro.h"

/* The hash index holds one record per distinct key, the first in enumeration order;
 * later records with the same key (appenders may write duplicates) hang off it in a
 * ring in enumeration order, so lookups stay O(1) however many duplicates there are. */
struct kvp_rec {
        struct kvp_rec *hnext;              /* bucket chain; heads only */
        struct kvp_rec *dup_next, *dup_prev; /* ring of records with this key */
        bool head;
        char *value;
        uint64_t hash;
        size_t pos;  /* index in pool->order */
        size_t slot; /* record number in the pool file */
        size_t key_len;
        char key[];
};

struct kvp_pool {
        unsigned id;
        bool memory_only;
        struct pool_file file;
        struct kvp_rec **order;   /* enumeration order */
        size_t n, order_cap;
        struct kvp_rec **slots;   /* file order; n entries for a file pool */
        size_t slots_cap;
        struct kvp_rec **buckets; /* hash index, power-of-two size */
        size_t n_buckets;
};

struct kvp_subscriber {
        kvp_change_fn fn;
        void *userdata;
};

struct kvp_change {
        unsigned pool;
        char *key;
        char *value; /* NULL: deleted */
};

struct kvp_store {
        int dir_fd;
        char *dir_path; /* to look again when the directory was read-only */
        unsigned flags;
        uint64_t seed;
        struct kvp_pool pools[KVP_POOL_COUNT];
        struct kvp_subscriber *subs;
        size_t n_subs;
        struct kvp_change *pending;
        size_t n_pending, pending_cap;
};

/* Keys may come from the host or any local program: a per-store random seed keeps
 * bucket placement unpredictable. */
static uint64_t key_hash(uint64_t seed, const char *key, size_t len) {
        uint64_t h = 0xcbf29ce484222325ull ^ seed;

        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t) key[i];
                h *= 0x100000001b3ull;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 33;
        return h;
}

static struct kvp_rec *rec_new(const struct kvp_store *s, const char *key, size_t key_len,
                               const char *value, size_t value_len) {
        struct kvp_rec *r = malloc(sizeof *r + key_len + 1);

        if (!r)
                return NULL;
        r->value = strndup(value, value_len);
        if (!r->value) {
                free(r);
                return NULL;
        }
        memcpy(r->key, key, key_len);
        r->key[key_len] = '\0';
        r->key_len = key_len;
        r->hash = key_hash(s->seed, key, key_len);
        r->hnext = NULL;
        r->dup_next = r->dup_prev = r;
        r->head = false;
        r->pos = r->slot = 0;
        return r;
}

static void rec_free(struct kvp_rec *r) {
        if (!r)
                return;
        free(r->value);
        free(r);
}

static struct kvp_rec *chain_find(const struct kvp_pool *p, uint64_t h, const char *key, size_t len) {
        if (p->n_buckets == 0)
                return NULL;
        for (struct kvp_rec *r = p->buckets[h & (p->n_buckets - 1)]; r; r = r->hnext)
                if (r->hash == h && r->key_len == len && memcmp(r->key, key, len) == 0)
                        return r;
        return NULL;
}

/* The first record with that key in enumeration order (duplicates: first one wins). */
static struct kvp_rec *pool_lookup(const struct kvp_store *s, const struct kvp_pool *p,
                                   const char *key, size_t len) {
        return chain_find(p, key_hash(s->seed, key, len), key, len);
}

static int grow(void *pp, size_t *cap, size_t need, size_t elem) {
        void **p = pp;
        size_t c = *cap ? *cap : 16;
        void *n;

        if (need <= *cap)
                return 0;
        while (c < need)
                c *= 2;
        n = reallocarray(*p, c, elem);
        if (!n)
                return -ENOMEM;
        *p = n;
        *cap = c;
        return 0;
}

static int pool_rehash(struct kvp_pool *p, size_t n_buckets) {
        struct kvp_rec **b = calloc(n_buckets, sizeof *b);

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < p->n; i++) {
                struct kvp_rec *r = p->order[i];
                size_t k = r->hash & (n_buckets - 1);
                if (!r->head)
                        continue;
                r->hnext = b[k];
                b[k] = r;
        }
        free(p->buckets);
        p->buckets = b;
        p->n_buckets = n_buckets;
        return 0;
}

/* Makes room for one more record, so that pool_append() after a file write cannot fail. */
static int pool_reserve(struct kvp_pool *p) {
        if (grow(&p->order, &p->order_cap, p->n + 1, sizeof *p->order) < 0)
                return -ENOMEM;
        if (!p->memory_only && grow(&p->slots, &p->slots_cap, p->n + 1, sizeof *p->slots) < 0)
                return -ENOMEM;
        /* Load factor at most 1: chains stay O(1) long at any size. */
        if (p->n + 1 > p->n_buckets)
                return pool_rehash(p, p->n_buckets ? p->n_buckets * 2 : 64);
        return 0;
}

static void pool_append(struct kvp_pool *p, struct kvp_rec *r) {
        struct kvp_rec *first = chain_find(p, r->hash, r->key, r->key_len);
        size_t k = r->hash & (p->n_buckets - 1);

        r->pos = p->n;
        p->order[p->n] = r;
        if (!p->memory_only) {
                r->slot = p->n;
                p->slots[p->n] = r;
        }
        p->n++;
        r->hnext = NULL;
        if (first) {
                /* The last in enumeration order: the end of the ring. */
                r->head = false;
                r->dup_next = first;
                r->dup_prev = first->dup_prev;
                first->dup_prev->dup_next = r;
                first->dup_prev = r;
                return;
        }
        r->head = true;
        r->dup_next = r->dup_prev = r;
        r->hnext = p->buckets[k];
        p->buckets[k] = r;
}

/* Unlinks r from the order (keeping the others' relative order) and the index. File
 * slots are the caller's business. */
static void pool_unlink(struct kvp_pool *p, struct kvp_rec *r) {
        struct kvp_rec *next = r->dup_next;

        if (r->head) {
                struct kvp_rec **link = &p->buckets[r->hash & (p->n_buckets - 1)];

                while (*link != r)
                        link = &(*link)->hnext;
                if (next != r) {
                        /* The next duplicate becomes the visible one. */
                        next->head = true;
                        next->hnext = r->hnext;
                        *link = next;
                } else
                        *link = r->hnext;
        }
        r->dup_prev->dup_next = next;
        next->dup_prev = r->dup_prev;

        memmove(p->order + r->pos, p->order + r->pos + 1, (p->n - r->pos - 1) * sizeof *p->order);
        p->n--;
        for (size_t i = r->pos; i < p->n; i++)
                p->order[i]->pos = i;
}

static void pool_clear(struct kvp_pool *p) {
        for (size_t i = 0; i < p->n; i++)
                rec_free(p->order[i]);
        free(p->order);
        free(p->slots);
        free(p->buckets);
        p->order = p->slots = p->buckets = NULL;
        p->n = p->order_cap = p->slots_cap = p->n_buckets = 0;
}

static void notify(struct kvp_store *s, unsigned pool, const char *key, const char *value) {
        struct kvp_change *c;

        if (s->n_subs == 0)
                return;
        if (grow(&s->pending, &s->pending_cap, s->n_pending + 1, sizeof *s->pending) < 0) {
                log_oom();
                return;
        }
        c = &s->pending[s->n_pending];
        *c = (struct kvp_change) { .pool = pool, .key = strdup(key), .value = value ? strdup(value) : NULL };
        if (!c->key || (value && !c->value)) {
                free(c->key);
                free(c->value);
                log_oom();
                return;
        }
        s->n_pending++;
}

/* Runs after every public call, with no lock held: callbacks may call back into the
 * store, and a slow one never holds other writers of the file. */
static void dispatch(struct kvp_store *s) {
        while (s->n_pending > 0) {
                struct kvp_change *batch = TAKE_PTR(s->pending);
                size_t n = s->n_pending;

                s->n_pending = s->pending_cap = 0;
                for (size_t i = 0; i < n; i++) {
                        for (size_t k = 0; k < s->n_subs; k++)
                                s->subs[k].fn(s, batch[i].pool, batch[i].key, batch[i].value,
                                              s->subs[k].userdata);
                        free(batch[i].key);
                        free(batch[i].value);
                }
                free(batch);
        }
}

/* A record from the file: key and value stop at their NUL; a field without one (a
 * writer that cut it, like cloud-init) is taken up to one byte short of its size. */
static struct kvp_rec *rec_from_file(const struct kvp_store *s, const uint8_t *rec) {
        const char *k = (const char *) rec, *v = (const char *) rec + KVP_KEY_SIZE;

        return rec_new(s, k, strnlen(k, KVP_KEY_SIZE - 1), v, strnlen(v, KVP_VALUE_SIZE - 1));
}

struct load_ctx {
        struct kvp_store *s;
        struct kvp_pool *p;
        bool notify;
};

static int load_one(const uint8_t *rec, size_t slot, void *userdata) {
        struct load_ctx *ctx = userdata;
        struct kvp_rec *r;

        if (pool_reserve(ctx->p) < 0)
                return log_oom();
        r = rec_from_file(ctx->s, rec);
        if (!r)
                return log_oom();
        if (ctx->notify && !pool_lookup(ctx->s, ctx->p, r->key, r->key_len))
                notify(ctx->s, ctx->p->id, r->key, r->value);
        pool_append(ctx->p, r);
        return 0;
}

struct same_ctx {
        const struct kvp_store *s;
        const struct kvp_rec *rec;
        bool same;
};

static int same_one(const uint8_t *rec, size_t slot, void *userdata) {
        struct same_ctx *ctx = userdata;
        const char *k = (const char *) rec, *v = (const char *) rec + KVP_KEY_SIZE;
        size_t kl = strnlen(k, KVP_KEY_SIZE - 1), vl = strnlen(v, KVP_VALUE_SIZE - 1);

        ctx->same = kl == ctx->rec->key_len && memcmp(k, ctx->rec->key, kl) == 0 &&
                    vl == strlen(ctx->rec->value) && memcmp(v, ctx->rec->value, vl) == 0;
        return 0;
}

/* Reads the whole file into a fresh index, then tells subscribers what differs from
 * the old one. On error the old contents stay. */
static int pool_reload(struct kvp_store *s, struct kvp_pool *p, size_t total) {
        struct kvp_pool fresh = { .id = p->id, .memory_only = false };
        struct load_ctx ctx = { .s = s, .p = &fresh };
        ssize_t n;

        log_debug("Reloading KVP pool file %s (%zu records).", p->file.name, total);
        n = pool_file_read(&p->file, 0, total, load_one, &ctx);
        if (n < 0) {
                pool_clear(&fresh);
                return (int) n;
        }

        if (s->n_subs > 0) {
                for (size_t i = 0; i < p->n; i++) {
                        struct kvp_rec *o = p->order[i];
                        if (pool_lookup(s, p, o->key, o->key_len) == o &&
                            !pool_lookup(s, &fresh, o->key, o->key_len))
                                notify(s, p->id, o->key, NULL);
                }
                for (size_t i = 0; i < fresh.n; i++) {
                        struct kvp_rec *f = fresh.order[i], *o;
                        if (pool_lookup(s, &fresh, f->key, f->key_len) != f)
                                continue;
                        o = pool_lookup(s, p, f->key, f->key_len);
                        if (!o || strcmp(o->value, f->value) != 0)
                                notify(s, p->id, f->key, f->value);
                }
        }

        fresh.file = p->file;
        pool_clear(p);
        *p = fresh;
        return 0;
}

/* Under the lock: brings memory in line with the file. */
static int pool_sync(struct kvp_store *s, struct kvp_pool *p) {
        struct load_ctx ctx = { .s = s, .p = p, .notify = true };
        size_t total;
        ssize_t n;
        int r;

        r = pool_file_check(&p->file, p->n, &total);
        if (r < 0)
                return r;
        if (r == POOL_FILE_GREW && p->n > 0) {
                /* Truncated and refilled past the old size (cloud-init's once-per-boot
                 * truncation followed by appends) looks like growth: the last record we
                 * know must still be in its place for a tail read to be right. */
                struct same_ctx same = { .s = s, .rec = p->slots[p->n - 1] };
                n = pool_file_read(&p->file, p->n - 1, 1, same_one, &same);
                if (n < 0)
                        return (int) n;
                if (!same.same)
                        r = POOL_FILE_RELOAD;
        }
        switch (r) {
        case POOL_FILE_GREW:
                n = pool_file_read(&p->file, p->n, total - p->n, load_one, &ctx);
                return n < 0 ? (int) n : 0;
        case POOL_FILE_RELOAD:
                return pool_reload(s, p, total);
        default:
                return 0;
        }
}

static struct kvp_pool *pool_get(struct kvp_store *s, unsigned pool) {
        if (!s || pool >= KVP_POOL_COUNT) {
                log_warning("KVP pool %u does not exist (0-4).", pool);
                return NULL;
        }
        return &s->pools[pool];
}

static void record_build(uint8_t *rec, const char *key, size_t klen, const char *value, size_t vlen) {
        /* Zero-filled: no stale bytes after the NULs (spec §6.6 rule 1). */
        memset(rec, 0, KVP_RECORD_SIZE);
        memcpy(rec, key, klen);
        memcpy(rec + KVP_KEY_SIZE, value, vlen);
}

static int set_memory(struct kvp_store *s, struct kvp_pool *p, const char *key, size_t klen,
                      const char *value, size_t vlen) {
        struct kvp_rec *r = pool_lookup(s, p, key, klen);

        if (r) {
                char *v;
                if (strcmp(r->value, value) == 0)
                        return 0;
                v = strdup(value);
                if (!v)
                        return log_oom();
                free(r->value);
                r->value = v;
        } else {
                if (pool_reserve(p) < 0)
                        return log_oom();
                r = rec_new(s, key, klen, value, vlen);
                if (!r)
                        return log_oom();
                pool_append(p, r);
        }
        notify(s, p->id, key, value);
        return 0;
}

static int set_file(struct kvp_store *s, struct kvp_pool *p, const char *key, size_t klen,
                    const char *value, size_t vlen) {
        uint8_t rec[KVP_RECORD_SIZE];
        struct kvp_rec *r;
        int ret;

        r = pool_lookup(s, p, key, klen);
        if (r && strcmp(r->value, value) == 0)
                return 0;
        record_build(rec, key, klen, value, vlen);

        /* Allocate before writing: once the file has it, memory must take it too. */
        if (r) {
                _cleanup_free_ char *v = strdup(value);
                if (!v)
                        return log_oom();
                ret = pool_file_overwrite(&p->file, p->n, r->slot, rec);
                if (ret < 0)
                        return ret;
                free(r->value);
                r->value = TAKE_PTR(v);
        } else {
                if (pool_reserve(p) < 0)
                        return log_oom();
                r = rec_new(s, key, klen, value, vlen);
                if (!r)
                        return log_oom();
                ret = pool_file_append(&p->file, p->n, rec);
                if (ret < 0) {
                        rec_free(r);
                        return ret;
                }
                pool_append(p, r);
        }
        notify(s, p->id, key, value);
        return 0;
}

/* A pool found read-only may be writable again (remounted, a read-only bind mount
 * undone): look once more before refusing a write. Through the path, since our directory
 * fd may still be the read-only mount's. Costs two opens, and only while read-only. */
static bool regain_writable(struct kvp_store *s, struct kvp_pool *p) {
        int dfd = open(s->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return false;
        int fd = openat(dfd, p->file.name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, p->file.mode);
        if (fd < 0) {
                close(dfd);
                return false;
        }
        close(fd);
        /* Everything that borrowed the old directory fd moves to the new one. */
        for (unsigned i = 0; i < KVP_POOL_COUNT; i++) {
                struct pool_file *pf = &s->pools[i].file;
                if (s->pools[i].memory_only)
                        continue;
                pf->dir_fd = dfd;
                journal_done(&pf->journal);
                pf->journal.dir_fd = dfd;
                if (!pf->writable && pool_file_reopen(pf) < 0)
                        log_warning("KVP pool %u stays read-only.", i);
        }
        close(s->dir_fd);
        s->dir_fd = dfd;
        log_notice("KVP pool directory %s is writable again.", s->dir_path);
        return p->file.writable;
}

int kvp_set(struct kvp_store *s, unsigned pool, const char *key_in, const char *value_in) {
        char key[KVP_KEY_SIZE], value[KVP_VALUE_SIZE];
        struct kvp_pool *p;
        int r;

        r = kvp_check_limits(pool, key_in, value_in);
        if (r < 0)
                return r;
        /* The caller may pass strings this store handed out, which catching up with the
         * file can free: work on copies (the limits above make them fit). */
        strcpy(key, key_in);
        strcpy(value, value_in);
        p = pool_get(s, pool);
        if (!p)
                return -EINVAL;

        if (p->memory_only)
                r = set_memory(s, p, key, strlen(key), value, strlen(value));
        else if (p->file.fd >= 0 && !p->file.writable && !regain_writable(s, p))
                r = log_error_errno(EROFS, "KVP pool %u: %s is read-only, cannot set '%s'.",
                                    pool, p->file.name, key);
        else {
                r = pool_file_lock(&p->file, true);
                if (r >= 0)
                        r = pool_sync(s, p);
                if (r >= 0)
                        r = set_file(s, p, key, strlen(key), value, strlen(value));
                pool_file_unlock(&p->file);
        }
        dispatch(s);
        return r;
}

static int delete_file(struct kvp_store *s, struct kvp_pool *p, struct kvp_rec *r) {
        struct kvp_rec *last = p->slots[p->n - 1];
        size_t hole = r->slot;
        int ret;

        ret = pool_file_remove(&p->file, p->n, hole);
        if (ret < 0)
                return ret;
        p->slots[hole] = last;
        last->slot = hole;
        return 0;
}

int kvp_delete(struct kvp_store *s, unsigned pool, const char *key_in) {
        char key[KVP_KEY_SIZE];
        struct kvp_pool *p;
        struct kvp_rec *r, *next;
        bool locked = false;
        int ret;

        p = pool_get(s, pool);
        if (!p)
                return -EINVAL;
        if (!key_in)
                return log_warning_errno(EINVAL, "KVP pool %u: no key given.", pool);
        /* No stored key is this long; and a copy, as in kvp_set(). */
        if (strlen(key_in) >= KVP_KEY_SIZE)
                return -ENOENT;
        strcpy(key, key_in);

        if (!p->memory_only) {
                if (p->file.fd >= 0 && !p->file.writable && !regain_writable(s, p)) {
                        ret = log_error_errno(EROFS, "KVP pool %u: %s is read-only, cannot delete '%s'.",
                                              pool, p->file.name, key);
                        goto finish;
                }
                ret = pool_file_lock(&p->file, true);
                if (ret < 0)
                        goto finish;
                locked = true;
                ret = pool_sync(s, p);
                if (ret < 0)
                        goto finish;
        }

        r = pool_lookup(s, p, key, strlen(key));
        if (!r) {
                ret = -ENOENT;
                goto finish;
        }
        if (!p->memory_only) {
                ret = delete_file(s, p, r);
                if (ret < 0)
                        goto finish;
        }
        pool_unlink(p, r);
        next = pool_lookup(s, p, r->key, r->key_len);
        notify(s, pool, r->key, next ? next->value : NULL);
        rec_free(r);
        ret = 0;

finish:
        if (locked)
                pool_file_unlock(&p->file);
        dispatch(s);
        return ret;
}

int kvp_get(struct kvp_store *s, unsigned pool, const char *key, const char **ret_value) {
        struct kvp_pool *p;
        struct kvp_rec *r;

        p = pool_get(s, pool);
        if (!p)
                return -EINVAL;
        if (!key)
                return -EINVAL;
        r = pool_lookup(s, p, key, strlen(key));
        if (!r)
                return -ENOENT;
        if (ret_value)
                *ret_value = r->value;
        return 0;
}

int kvp_enumerate(struct kvp_store *s, unsigned pool, size_t index, const char **ret_key,
                  const char **ret_value) {
        struct kvp_pool *p;

        p = pool_get(s, pool);
        if (!p)
                return -EINVAL;
        if (index >= p->n)
                return -ENOENT;
        if (ret_key)
                *ret_key = p->order[index]->key;
        if (ret_value)
                *ret_value = p->order[index]->value;
        return 0;
}

int64_t kvp_count(struct kvp_store *s, unsigned pool) {
        struct kvp_pool *p;

        p = pool_get(s, pool);
        if (!p)
                return -EINVAL;
        return (int64_t) p->n;
}

int kvp_refresh(struct kvp_store *s, unsigned pool) {
        struct kvp_pool *p;
        int r;

        p = pool_get(s, pool);
        if (!p)
                return -EINVAL;
        if (p->memory_only)
                return 0;
        /* The host asks before every ENUMERATE and GET: when the file is as we left it,
         * one stat answers, without two locks and a journal probe per request. */
        if (pool_file_unchanged(&p->file, (size_t) p->n))
                return 0;
        r = pool_file_lock(&p->file, false);
        if (r >= 0)
                r = pool_sync(s, p);
        pool_file_unlock(&p->file);
        dispatch(s);
        return r;
}

bool kvp_pool_is_writable(struct kvp_store *s, unsigned pool) {
        struct kvp_pool *p;

        p = pool_get(s, pool);
        if (!p)
                return false;
        return p->memory_only || (p->file.fd >= 0 && p->file.writable);
}

int kvp_subscribe(struct kvp_store *s, kvp_change_fn fn, void *userdata) {
        size_t cap;

        if (!s || !fn)
                return -EINVAL;
        cap = s->n_subs;
        if (grow(&s->subs, &cap, s->n_subs + 1, sizeof *s->subs) < 0)
                return log_oom();
        s->subs[s->n_subs++] = (struct kvp_subscriber) { fn, userdata };
        return 0;
}

int kvp_unsubscribe(struct kvp_store *s, kvp_change_fn fn, void *userdata) {
        for (size_t i = 0; s && i < s->n_subs; i++)
                if (s->subs[i].fn == fn && s->subs[i].userdata == userdata) {
                        memmove(s->subs + i, s->subs + i + 1, (s->n_subs - i - 1) * sizeof *s->subs);
                        s->n_subs--;
                        return 0;
                }
        return -ENOENT;
}

static int mkdir_parents(const char *dir, mode_t mode) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *c = p + 1; *c; c++)
                if (*c == '/') {
                        *c = '\0';
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *c = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static uint64_t random_seed(void) {
        uint64_t seed;
        struct timespec ts;

        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t) sizeof seed)
                return seed;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_nsec ^ ((uint64_t) getpid() << 32);
}

struct kvp_store *kvp_store_free(struct kvp_store *s) {
        if (!s)
                return NULL;
        for (unsigned i = 0; i < KVP_POOL_COUNT; i++) {
                if (!s->pools[i].memory_only)
                        pool_file_close(&s->pools[i].file);
                pool_clear(&s->pools[i]);
        }
        for (size_t i = 0; i < s->n_pending; i++) {
                free(s->pending[i].key);
                free(s->pending[i].value);
        }
        free(s->pending);
        free(s->subs);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        free(s->dir_path);
        free(s);
        return NULL;
}

int kvp_store_open(struct kvp_store **ret, const char *dir, const struct kvp_store_options *options) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct kvp_store_options o = options ? *options : KVP_STORE_OPTIONS_DEFAULT;
        unsigned timeout = o.lock_timeout_ms ? o.lock_timeout_ms : KVP_STORE_LOCK_TIMEOUT_MS_DEFAULT;
        int r;

        if (!ret || !dir || !dir[0])
                return -EINVAL;
        s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->dir_fd = -1;
        s->dir_path = strdup(dir);
        if (!s->dir_path)
                return log_oom();
        s->flags = o.flags;
        s->seed = random_seed();
        for (unsigned i = 0; i < KVP_POOL_COUNT; i++) {
                s->pools[i].id = i;
                s->pools[i].memory_only = o.memory_pools & (1u << i);
                /* A store freed half-open must not close fd 0. */
                s->pools[i].file.fd = -1;
                s->pools[i].file.journal.fd = -1;
        }

        r = mkdir_parents(dir, 0755);
        if (r < 0 && r != -EROFS)
                return log_error_errno(r, "Cannot create KVP pool directory %s: %m", dir);
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return log_error_errno(errno, "Cannot open KVP pool directory %s: %m", dir);

        for (unsigned i = 0; i < KVP_POOL_COUNT; i++) {
                struct kvp_pool *p = &s->pools[i];
                /* Pools 0 and 3 hold what the host pushes: not for every local user. */
                mode_t mode = i == 0 || i == 3 ? 0600 : 0644;

                if (p->memory_only) {
                        /* Never read or written, but present like hv_kvp_daemon's, for
                         * programs that expect all five files. */
                        char name[16];
                        int fd;

                        snprintf(name, sizeof name, ".kvp_pool_%u", i);
                        fd = openat(s->dir_fd, name, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                r = pool_file_open(&p->file, s->dir_fd, i, mode, o.flags & KVP_STORE_SYNC, timeout);
                if (r < 0)
                        return r;
                r = pool_file_lock(&p->file, true);
                if (r >= 0)
                        r = pool_sync(s, p);
                pool_file_unlock(&p->file);
                if (r == -EAGAIN) {
                        /* A writer holding the lock (cloud-init appending a batch) must
                         * not stop the daemon: the pool loads at its next refresh. */
                        log_warning("KVP pool %u is locked; loading it at the next refresh.", i);
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Cannot load KVP pool %u from %s: %m", i, dir);
        }

        *ret = TAKE_PTR(s);
        return 0;
}
