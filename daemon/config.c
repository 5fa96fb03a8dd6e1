/* pvicd.conf: a systemd-style INI file plus drop-ins. The keys are documented in
 * docs/pvicd.conf.md; keep the two in step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvic/config.h"
#include "pvic/freeze.h"
#include "pvic/log.h"
#include "pvic/macro.h"

#ifndef PVIC_SYSCONFDIR
#define PVIC_SYSCONFDIR "/etc"
#endif

#define DEFAULT_CONFIG_PATH PVIC_SYSCONFDIR "/pvic/pvicd.conf"
#define DEFAULT_STATE_DIR "/var/lib/pvic"
#define DEFAULT_RUNTIME_DIR "/run/pvic"
#define WHITESPACE " \t\r\n"

/* config_init() cannot fail by contract; a few bytes at startup are not worth an error
 * path every caller would have to carry. */
static char *strdup_or_die(const char *s) {
        char *p = strdup(s);
        if (!p) {
                log_error("Out of memory.");
                abort();
        }
        return p;
}

void config_init(struct pvic_config *c) {
        *c = (struct pvic_config) {
                .root = strdup_or_die(""),
                .transport = PVIC_TRANSPORT_AUTO,
                .vmbus_mode = PVIC_VMBUS_AUTO,
                .vss_lease_sec = VSS_LEASE_SEC,
                .log_level = LOG_INFO,
                .state_dir = strdup_or_die(DEFAULT_STATE_DIR),
                .runtime_dir = strdup_or_die(DEFAULT_RUNTIME_DIR),
        };
}

void config_done(struct pvic_config *c) {
        free(c->root);
        free(c->config_path);
        free(c->xenstore_path);
        free(c->hypervisor_signature);
        free(c->state_dir);
        free(c->runtime_dir);
        *c = (struct pvic_config) {};
}

static const char *const transport_names[] = {
        [PVIC_TRANSPORT_AUTO] = "auto",
        [PVIC_TRANSPORT_VMBUS] = "vmbus",
        [PVIC_TRANSPORT_XENSTORE] = "xenstore",
};

static const char *const vmbus_mode_names[] = {
        [PVIC_VMBUS_AUTO] = "auto",
        [PVIC_VMBUS_RELAY] = "relay",
        [PVIC_VMBUS_UIO] = "uio",
};

int config_parse_transport(const char *s, enum pvic_transport *ret) {
        for (size_t i = 0; s && i < ELEMENTSOF(transport_names); i++)
                if (strcmp(s, transport_names[i]) == 0) {
                        *ret = (enum pvic_transport) i;
                        return 0;
                }
        return -EINVAL;
}

int config_parse_vmbus_mode(const char *s, enum pvic_vmbus_mode *ret) {
        for (size_t i = 0; s && i < ELEMENTSOF(vmbus_mode_names); i++)
                if (strcmp(s, vmbus_mode_names[i]) == 0) {
                        *ret = (enum pvic_vmbus_mode) i;
                        return 0;
                }
        return -EINVAL;
}

const char *config_transport_name(enum pvic_transport t) {
        return (unsigned) t < ELEMENTSOF(transport_names) ? transport_names[t] : "invalid";
}

const char *config_vmbus_mode_name(enum pvic_vmbus_mode m) {
        return (unsigned) m < ELEMENTSOF(vmbus_mode_names) ? vmbus_mode_names[m] : "invalid";
}

char *root_path(const char *root, const char *path) {
        size_t rl = root ? strlen(root) : 0;

        /* "/", "//" … all mean the real root; a trailing slash must not double up. */
        while (rl > 0 && root[rl - 1] == '/')
                rl--;
        while (path[0] == '/' && path[1] == '/')
                path++;

        char *p;
        if (asprintf(&p, "%.*s%s%s", (int) rl, rl ? root : "", path[0] == '/' ? "" : "/", path) < 0)
                return NULL;
        return p;
}

int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size) {
        /* O_NONBLOCK: a FIFO planted where a file should be must not hang us before the
         * type check below. */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;

        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        _cleanup_free_ char *buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;

        /* Read one byte past the limit so "exactly max" and "too big" differ. */
        size_t n = 0;
        for (;;) {
                ssize_t k = read(fd, buf + n, max + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = '\0';

        if (ret_size)
                *ret_size = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

enum section { SECTION_NONE, SECTION_DAEMON, SECTION_HYPERV, SECTION_XEN, SECTION_UNKNOWN };

static const char *const section_names[] = {
        [SECTION_DAEMON] = "Daemon",
        [SECTION_HYPERV] = "HyperV",
        [SECTION_XEN] = "Xen",
};

static char *strip(char *s) {
        s += strspn(s, WHITESPACE);
        size_t l = strlen(s);
        while (l > 0 && strchr(WHITESPACE, s[l - 1]))
                s[--l] = '\0';
        return s;
}

/* Empty assignment resets to the default, as in systemd unit files; other paths must be
 * absolute, since the daemon's working directory means nothing. */
static int set_path(char **field, const char *value, const char *dflt, const char *source,
                    unsigned line, const char *key) {
        if (value[0] == '\0') {
                char *d = NULL;
                if (dflt && !(d = strdup(dflt)))
                        return log_error_errno(ENOMEM, "Out of memory.");
                free(*field);
                *field = d;
                return 0;
        }
        if (value[0] != '/')
                return log_error_errno(EINVAL, "%s:%u: %s= must be an absolute path: %s",
                                       source, line, key, value);
        char *d = strdup(value);
        if (!d)
                return log_error_errno(ENOMEM, "Out of memory.");
        free(*field);
        *field = d;
        return 0;
}

static int assign(struct pvic_config *c, enum section sec, const char *key, const char *value,
                  const char *source, unsigned line) {
        const char *sname = section_names[sec];

        if (sec == SECTION_DAEMON && strcmp(key, "Transport") == 0) {
                if (value[0] == '\0') {
                        c->transport = PVIC_TRANSPORT_AUTO;
                        return 0;
                }
                if (config_parse_transport(value, &c->transport) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Transport= must be auto, vmbus or xenstore, not '%s'",
                                               source, line, value);
                return 0;
        }
        if (sec == SECTION_DAEMON && strcmp(key, "LogLevel") == 0) {
                if (value[0] == '\0') {
                        c->log_level = LOG_INFO;
                        return 0;
                }
                int l = log_parse_level(value);
                if (l < 0)
                        return log_error_errno(EINVAL, "%s:%u: LogLevel= must be a syslog level (err, warning, notice, info, debug or 0-7), not '%s'",
                                               source, line, value);
                c->log_level = l;
                return 0;
        }
        if (sec == SECTION_DAEMON && strcmp(key, "StateDirectory") == 0)
                return set_path(&c->state_dir, value, DEFAULT_STATE_DIR, source, line, key);
        if (sec == SECTION_DAEMON && strcmp(key, "RuntimeDirectory") == 0)
                return set_path(&c->runtime_dir, value, DEFAULT_RUNTIME_DIR, source, line, key);
        if (sec == SECTION_HYPERV && strcmp(key, "Mode") == 0) {
                if (value[0] == '\0') {
                        c->vmbus_mode = PVIC_VMBUS_AUTO;
                        return 0;
                }
                if (config_parse_vmbus_mode(value, &c->vmbus_mode) < 0)
                        return log_error_errno(EINVAL, "%s:%u: Mode= must be auto, relay or uio, not '%s'",
                                               source, line, value);
                return 0;
        }
        if (sec == SECTION_HYPERV && strcmp(key, "VssLease") == 0) {
                char *end;
                unsigned long v;
                if (value[0] == '\0') {
                        c->vss_lease_sec = VSS_LEASE_SEC;
                        return 0;
                }
                errno = 0;
                v = strtoul(value, &end, 10);
                /* The cap is the freeze service's: a longer one would be cut silently. */
                if (errno || *end || value[0] < '0' || value[0] > '9' || v < 1 || v > FREEZE_LEASE_MAX_SEC)
                        return log_error_errno(EINVAL, "%s:%u: VssLease= must be seconds from 1 to %u, not '%s'",
                                               source, line, FREEZE_LEASE_MAX_SEC, value);
                c->vss_lease_sec = (unsigned)v;
                return 0;
        }
        if (sec == SECTION_XEN && strcmp(key, "Path") == 0)
                return set_path(&c->xenstore_path, value, NULL, source, line, key);

        log_warning("%s:%u: Unknown key %s= in section [%s], ignoring.", source, line, key, sname);
        return 0;
}

static int parse_line(struct pvic_config *c, enum section *sec, char *l, const char *source,
                      unsigned line) {
        l = strip(l);
        if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
                return 0;

        if (l[0] == '[') {
                size_t n = strlen(l);
                if (n < 3 || l[n - 1] != ']')
                        return log_error_errno(EINVAL, "%s:%u: Invalid section header: %s", source, line, l);
                l[n - 1] = '\0';
                const char *name = l + 1;
                for (size_t i = 0; i < ELEMENTSOF(section_names); i++)
                        if (section_names[i] && strcmp(name, section_names[i]) == 0) {
                                *sec = (enum section) i;
                                return 0;
                        }
                /* Keys of an unknown section are skipped silently: one warning is enough. */
                log_warning("%s:%u: Unknown section [%s], ignoring it.", source, line, name);
                *sec = SECTION_UNKNOWN;
                return 0;
        }

        char *eq = strchr(l, '=');
        if (!eq)
                return log_error_errno(EINVAL, "%s:%u: Missing '=' in: %s", source, line, l);
        *eq = '\0';
        const char *key = strip(l), *value = strip(eq + 1);
        if (key[0] == '\0')
                return log_error_errno(EINVAL, "%s:%u: Missing key before '='.", source, line);

        switch (*sec) {
        case SECTION_NONE:
                log_warning("%s:%u: Assignment outside of any section, ignoring: %s=", source, line, key);
                return 0;
        case SECTION_UNKNOWN:
                return 0;
        default:
                return assign(c, *sec, key, value, source, line);
        }
}

int config_parse_text(struct pvic_config *c, const char *text, const char *source) {
        size_t len = strnlen(text, CONFIG_FILE_MAX + 1);
        if (len > CONFIG_FILE_MAX)
                return log_error_errno(EFBIG, "%s: larger than %u bytes, refusing.", source, CONFIG_FILE_MAX);

        /* A UTF-8 BOM from a Windows editor is not part of the first line. */
        if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
                text += 3;

        enum section sec = SECTION_NONE;
        unsigned line = 0;
        char buf[CONFIG_LINE_MAX + 1];
        for (const char *p = text; *p; ) {
                size_t n = strcspn(p, "\n");
                line++;
                if (n > CONFIG_LINE_MAX)
                        return log_error_errno(E2BIG, "%s:%u: line longer than %u bytes.", source, line, CONFIG_LINE_MAX);
                memcpy(buf, p, n);
                buf[n] = '\0';
                int r = parse_line(c, &sec, buf, source, line);
                if (r < 0)
                        return r;
                p += n;
                if (*p == '\n')
                        p++;
        }
        return 0;
}

static int load_file(struct pvic_config *c, const char *path, bool must_exist) {
        _cleanup_free_ char *text = NULL;
        size_t size;

        int r = read_file_bounded(path, CONFIG_FILE_MAX, &text, &size);
        if (r == -ENOENT && !must_exist) {
                log_debug("%s: not present, using defaults.", path);
                return 0;
        }
        if (r == -EFBIG)
                return log_error_errno(r, "%s: larger than %u bytes, refusing.", path, CONFIG_FILE_MAX);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read: %m", path);
        if (memchr(text, '\0', size))
                return log_error_errno(EBADMSG, "%s: contains a NUL byte, not a text file.", path);

        log_debug("Reading %s.", path);
        return config_parse_text(c, text, path);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void free_names(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static bool is_dropin_name(const char *name) {
        size_t l = strlen(name);
        /* Hidden files are editor and package-manager leftovers, as in systemd. */
        return name[0] != '.' && l > 5 && strcmp(name + l - 5, ".conf") == 0;
}

static int load_dropins(struct pvic_config *c, const char *dir) {
        DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return log_error_errno(errno, "%s: cannot open drop-in directory: %m", dir);
        }

        char **names = NULL;
        size_t n = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!is_dropin_name(de->d_name))
                        continue;
                if (n >= CONFIG_DROPINS_MAX) {
                        log_warning("%s: more than %u drop-ins, ignoring the rest.", dir, CONFIG_DROPINS_MAX);
                        break;
                }
                char **t = realloc(names, (n + 1) * sizeof *names);
                if (!t) {
                        r = log_error_errno(ENOMEM, "Out of memory.");
                        goto out;
                }
                names = t;
                if (!(names[n] = strdup(de->d_name))) {
                        r = log_error_errno(ENOMEM, "Out of memory.");
                        goto out;
                }
                n++;
        }
        closedir(d);
        d = NULL;

        /* Name order, byte-wise, so "10-x.conf" < "20-y.conf" regardless of locale. */
        if (n > 0)
                qsort(names, n, sizeof *names, cmp_str);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, names[i]) < 0) {
                        p = NULL;
                        r = log_error_errno(ENOMEM, "Out of memory.");
                        goto out;
                }
                /* Raced away between readdir and open: nothing to apply. */
                r = load_file(c, p, false);
                if (r < 0)
                        goto out;
        }
out:
        if (d)
                closedir(d);
        free_names(names, n);
        return r;
}

int config_load(struct pvic_config *c, const char *path, bool explicit_path) {
        _cleanup_free_ char *def = NULL, *dir = NULL;

        if (!path) {
                def = root_path(c->root, DEFAULT_CONFIG_PATH);
                if (!def)
                        return log_error_errno(ENOMEM, "Out of memory.");
                path = def;
        }

        int r = load_file(c, path, explicit_path);
        if (r < 0)
                return r;

        if (asprintf(&dir, "%s.d", path) < 0) {
                dir = NULL;
                return log_error_errno(ENOMEM, "Out of memory.");
        }
        return load_dropins(c, dir);
}
