/* OS facts: os-release(5) and uname(2). The host shows these as os_version
 * (data/os_* on Xen, OSName/OSMajorVersion/… intrinsic items on Hyper-V). */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "pvic/config.h"
#include "pvic/facts.h"
#include "pvic/log.h"
#include "pvic/macro.h"

static void kv_free_all(struct pvic_kv *kv, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

static void os_release_fields_done(struct pvic_os_facts *os) {
        free(os->name);
        free(os->id);
        free(os->version_id);
        free(os->major);
        free(os->minor);
        kv_free_all(os->os_release, os->n_os_release);
        os->name = os->id = os->version_id = os->major = os->minor = NULL;
        os->os_release = NULL;
        os->n_os_release = 0;
}

void facts_os_done(struct pvic_os_facts *os) {
        os_release_fields_done(os);
        free(os->kernel_release);
        free(os->kernel_version);
        free(os->machine);
        free(os->hostname);
        *os = (struct pvic_os_facts) {};
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

/* Shell-compatible value syntax as systemd's env-file parser reads it: quoted parts may
 * be concatenated with bare ones; in double quotes a backslash escapes only " \ ` $ and
 * is kept before anything else; single quotes take everything literally; trailing
 * blanks outside quotes are dropped. -EINVAL for an unterminated quote. */
static int parse_value(const char *p, const char *end, char **ret) {
        _cleanup_free_ char *v = malloc((size_t) (end - p) + 1);
        size_t n = 0, keep = 0;

        if (!v)
                return -ENOMEM;

        while (p < end) {
                char ch = *p++;
                if (ch == '"') {
                        for (;;) {
                                if (p >= end)
                                        return -EINVAL;
                                ch = *p++;
                                if (ch == '"')
                                        break;
                                if (ch == '\\' && p < end) {
                                        char e = *p++;
                                        if (!strchr("\"\\`$", e))
                                                v[n++] = '\\';
                                        v[n++] = e;
                                } else
                                        v[n++] = ch;
                        }
                        keep = n;
                } else if (ch == '\'') {
                        for (;;) {
                                if (p >= end)
                                        return -EINVAL;
                                ch = *p++;
                                if (ch == '\'')
                                        break;
                                v[n++] = ch;
                        }
                        keep = n;
                } else if (ch == '\\') {
                        if (p < end) {
                                v[n++] = *p++;
                                keep = n;
                        }
                } else
                        v[n++] = ch;
        }
        while (n > keep && is_blank(v[n - 1]))
                n--;
        v[n] = '\0';
        *ret = TAKE_PTR(v);
        return 0;
}

static bool is_key_char(char c, bool first) {
        return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (!first && c >= '0' && c <= '9');
}

/* Returns 1 and fills key/value, 0 for a line to skip, or -ENOMEM. */
static int parse_line(const char *p, const char *end, char **ret_key, char **ret_value) {
        while (p < end && is_blank(*p))
                p++;
        if (p == end || *p == '#' || *p == ';')
                return 0;

        const char *k = p;
        while (p < end && is_key_char(*p, p == k))
                p++;
        if (p == k)
                return 0;
        const char *kend = p;
        while (p < end && is_blank(*p))
                p++;
        if (p == end || *p != '=')
                return 0;
        p++;
        while (p < end && is_blank(*p))
                p++;

        _cleanup_free_ char *key = strndup(k, (size_t) (kend - k)), *value = NULL;
        if (!key)
                return -ENOMEM;
        int r = parse_value(p, end, &value);
        if (r == -EINVAL)
                return 0;
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        *ret_value = TAKE_PTR(value);
        return 1;
}

static const char *kv_get(const struct pvic_kv *kv, unsigned n, const char *key) {
        for (unsigned i = 0; i < n; i++)
                if (strcmp(kv[i].key, key) == 0)
                        return kv[i].value;
        return NULL;
}

/* XAPI shows os_version.major/minor as given; "04" stays "04" (spec/xen-guest.md §5). */
static char *digits_or_zero(const char *s) {
        size_t n = strspn(s, "0123456789");
        return n > 0 ? strndup(s, n) : strdup("0");
}

static int derive(struct pvic_os_facts *os) {
        const struct pvic_kv *kv = os->os_release;
        unsigned n = os->n_os_release;
        const char *name = kv_get(kv, n, "PRETTY_NAME");
        if (!name || !name[0])
                name = kv_get(kv, n, "NAME");
        if (!name || !name[0])
                name = "Linux";
        const char *id = kv_get(kv, n, "ID");
        if (!id || !id[0])
                id = "linux";
        const char *ver = kv_get(kv, n, "VERSION_ID");
        if (!ver)
                ver = "";
        const char *dot = strchr(ver, '.');

        if (!(os->name = strdup(name)) || !(os->id = strdup(id)) ||
            !(os->version_id = strdup(ver)) || !(os->major = digits_or_zero(ver)) ||
            !(os->minor = digits_or_zero(dot ? dot + 1 : "")))
                return -ENOMEM;
        for (char *c = os->id; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        return 0;
}

static int add_field(struct pvic_os_facts *os, char *key, char *value) {
        for (unsigned i = 0; i < os->n_os_release; i++)
                if (strcmp(os->os_release[i].key, key) == 0) {
                        /* Shell semantics: the last assignment wins, in its first place. */
                        free(os->os_release[i].value);
                        os->os_release[i].value = value;
                        free(key);
                        return 0;
                }
        if (os->n_os_release >= OS_RELEASE_FIELDS_MAX) {
                log_debug("os-release: more than %u fields, ignoring %s.", OS_RELEASE_FIELDS_MAX, key);
                free(key);
                free(value);
                return 0;
        }
        struct pvic_kv *t = realloc(os->os_release, (os->n_os_release + 1) * sizeof *t);
        if (!t) {
                free(key);
                free(value);
                return -ENOMEM;
        }
        os->os_release = t;
        os->os_release[os->n_os_release++] = (struct pvic_kv) { .key = key, .value = value };
        return 0;
}

int facts_os_release_parse(struct pvic_os_facts *os, const char *text, size_t len) {
        struct pvic_os_facts new = {};
        int r;
        const char *end = text + len;

        for (const char *p = text; p < end; ) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                if (!eol)
                        eol = end;
                /* Lines with a NUL are not text; overlong ones are not os-release. */
                if ((size_t) (eol - p) > OS_RELEASE_LINE_MAX)
                        log_debug("os-release: skipping a line longer than %u bytes.", OS_RELEASE_LINE_MAX);
                else if (!memchr(p, '\0', (size_t) (eol - p))) {
                        char *key = NULL, *value = NULL;
                        r = parse_line(p, eol, &key, &value);
                        if (r > 0)
                                r = add_field(&new, key, value);
                        if (r < 0)
                                goto fail;
                }
                p = eol < end ? eol + 1 : end;
        }

        r = derive(&new);
        if (r < 0)
                goto fail;

        os_release_fields_done(os);
        os->name = new.name;
        os->id = new.id;
        os->version_id = new.version_id;
        os->major = new.major;
        os->minor = new.minor;
        os->os_release = new.os_release;
        os->n_os_release = new.n_os_release;
        return 0;
fail:
        os_release_fields_done(&new);
        return r;
}

static int read_os_release(const char *root, char **ret, size_t *ret_len) {
        static const char *const paths[] = { "/etc/os-release", "/usr/lib/os-release" };

        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                _cleanup_free_ char *p = root_path(root, paths[i]);
                if (!p)
                        return -ENOMEM;
                int r = read_file_bounded(p, OS_RELEASE_FILE_MAX, ret, ret_len);
                if (r >= 0) {
                        log_debug("OS facts from %s.", p);
                        return 0;
                }
                /* os-release(5): the fallback is only for a missing /etc/os-release. */
                if (r != -ENOENT)
                        return log_warning_errno(r, "%s: cannot read, using default OS facts: %m", p);
        }
        log_info("No os-release file under '%s', using default OS facts.", root && root[0] ? root : "/");
        return -ENOENT;
}

int facts_os_collect(struct pvic_os_facts *os, const char *root) {
        struct pvic_os_facts new = {};
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        struct utsname u;
        int r;

        r = read_os_release(root, &text, &len);
        if (r == -ENOMEM)
                return log_error_errno(r, "Out of memory.");

        r = facts_os_release_parse(&new, text ? text : "", text ? len : 0);
        if (r < 0) {
                log_error_errno(r, "Out of memory.");
                goto fail;
        }

        if (uname(&u) < 0) {
                r = log_error_errno(errno, "uname() failed: %m");
                goto fail;
        }
        if (!(new.kernel_release = strdup(u.release)) || !(new.kernel_version = strdup(u.version)) ||
            !(new.machine = strdup(u.machine)) || !(new.hostname = strdup(u.nodename))) {
                r = log_error_errno(ENOMEM, "Out of memory.");
                goto fail;
        }

        facts_os_done(os);
        *os = new;
        return 0;
fail:
        facts_os_done(&new);
        return r;
}
