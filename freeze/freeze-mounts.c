/* Which filesystems a freeze covers: the writable, local, block-backed ones in
 * mountinfo, each superblock once. Everything else is listed with the reason it is
 * left alone, so the host sees what its snapshot does not make consistent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/config.h"
#include "pvic/freeze.h"
#include "pvic/log.h"

/* No backing store of their own, or nothing a disk snapshot would hold. */
static const char *const pseudo_fs[] = {
        "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "ramfs", "cgroup", "cgroup2", "securityfs",
        "debugfs", "tracefs", "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl",
        "autofs", "binfmt_misc", "efivarfs", "nsfs", "rpc_pipefs", "selinuxfs", "overlay",
        "squashfs", "iso9660", "udf", "nfsd", "xenfs", "ramfs", "zram",
};
/* Frozen on the server's side or not at all. */
static const char *const network_fs[] = {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "afs",
        "ocfs2", "gfs2", "virtiofs", "vboxsf", "davfs", "sshfs",
};
/* Block-backed filesystems whose st_dev is an anonymous device (major 0). */
static const char *const anon_dev_ok[] = { "btrfs", "bcachefs" };

static bool in_list(const char *s, const char *const *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(s, l[i]) == 0)
                        return true;
        return false;
}

/* Comma-separated option list contains exactly opt. */
static bool has_option(const char *opts, const char *opt) {
        size_t n = strlen(opt);
        for (const char *p = opts; p && *p;) {
                const char *c = strchr(p, ',');
                size_t len = c ? (size_t)(c - p) : strlen(p);
                if (len == n && strncmp(p, opt, n) == 0)
                        return true;
                p = c ? c + 1 : NULL;
        }
        return false;
}

const char *freeze_mount_state_name(enum freeze_mount_state s) {
        switch (s) {
        case FREEZE_MOUNT_CANDIDATE: return "candidate";
        case FREEZE_MOUNT_SKIPPED: return "skipped";
        case FREEZE_MOUNT_FROZEN: return "frozen";
        case FREEZE_MOUNT_THAWED: return "thawed";
        case FREEZE_MOUNT_FAILED: return "failed";
        default: return "unknown";
        }
}

/* "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
int freeze_parse_mountinfo_line(const char *line, struct freeze_mount *m) {
        char path[4096], opts[1024], fstype[64], source[1024], super[1024];
        unsigned major, minor;
        int n = 0;

        *m = (struct freeze_mount){ .fd = -1 };
        if (sscanf(line, "%*u %*u %u:%u %*s %4095s %1023s%n", &major, &minor, path, opts, &n) != 4)
                return -EINVAL;
        /* Optional fields up to the lone "-". */
        const char *sep = strstr(line + n, " - ");
        if (!sep || sscanf(sep + 3, "%63s %1023s %1023s", fstype, source, super) != 3)
                return -EINVAL;
        if (path[0] != '/' || strlen(fstype) >= sizeof m->fstype)
                return -EINVAL;
        if (!(m->path = strdup(path)))
                return -ENOMEM;
        m->major = major;
        m->minor = minor;
        snprintf(m->fstype, sizeof m->fstype, "%s", fstype);

        const char *base = strncmp(fstype, "fuse", 4) == 0 && fstype[4] == '.' ? fstype + 5 : fstype;
        if (has_option(opts, "ro") || has_option(super, "ro"))
                m->skip = "read-only";
        else if (in_list(base, network_fs, ELEMENTSOF(network_fs)))
                m->skip = "network";
        else if (strncmp(fstype, "fuse", 4) == 0)
                m->skip = "fuse";
        else if (in_list(fstype, pseudo_fs, ELEMENTSOF(pseudo_fs)))
                m->skip = "pseudo";
        else if (major == 0 && !in_list(fstype, anon_dev_ok, ELEMENTSOF(anon_dev_ok)))
                m->skip = "no-block-device";
        m->state = m->skip ? FREEZE_MOUNT_SKIPPED : FREEZE_MOUNT_CANDIDATE;
        return 0;
}

void freeze_mounts_clear(struct freeze_mounts *ms) {
        for (size_t i = 0; i < ms->n; i++) {
                free(ms->m[i].path);
                if (ms->m[i].fd >= 0)
                        close(ms->m[i].fd);
        }
        free(ms->m);
        *ms = (struct freeze_mounts){};
}

int freeze_mounts_load(const char *root, struct freeze_mounts *ret) {
        _cleanup_free_ char *p = root_path(root, "/proc/self/mountinfo");
        struct freeze_mounts ms = {};
        char *line = NULL;
        size_t cap = 0;
        int r = 0;

        if (!p)
                return log_oom();
        FILE *f = fopen(p, "re");
        if (!f)
                return log_error_errno(errno, "freeze: cannot read %s: %m", p);
        while (getline(&line, &cap, f) > 0) {
                struct freeze_mount m;
                if (freeze_parse_mountinfo_line(line, &m) < 0) {
                        log_debug("freeze: unparsable mountinfo line ignored");
                        continue;
                }
                struct freeze_mount *n = realloc(ms.m, (ms.n + 1) * sizeof *n);
                if (!n) {
                        free(m.path);
                        r = log_oom();
                        break;
                }
                ms.m = n;
                ms.m[ms.n++] = m;
        }
        free(line);
        fclose(f);
        if (r < 0) {
                freeze_mounts_clear(&ms);
                return r;
        }

        /* One superblock is frozen once: a second FIFREEZE would fail with EBUSY and a
         * bind mount would be thawed twice. The first mount of a device is the one used. */
        for (size_t i = 0; i < ms.n; i++)
                for (size_t j = 0; j < i && ms.m[i].state == FREEZE_MOUNT_CANDIDATE; j++)
                        if (ms.m[j].major == ms.m[i].major && ms.m[j].minor == ms.m[i].minor &&
                            ms.m[j].state == FREEZE_MOUNT_CANDIDATE) {
                                ms.m[i].state = FREEZE_MOUNT_SKIPPED;
                                ms.m[i].skip = "same-filesystem";
                        }

        /* Children before parents (later mounts are usually nested), and "/" last: a
         * frozen root stops everything that still has to run, our own thaw path included. */
        for (size_t i = 0; i < ms.n / 2; i++) {
                struct freeze_mount t = ms.m[i];
                ms.m[i] = ms.m[ms.n - 1 - i];
                ms.m[ms.n - 1 - i] = t;
        }
        for (size_t i = 0; i + 1 < ms.n; i++)
                if (strcmp(ms.m[i].path, "/") == 0 && ms.m[i].state == FREEZE_MOUNT_CANDIDATE) {
                        struct freeze_mount t = ms.m[i];
                        memmove(&ms.m[i], &ms.m[i + 1], (ms.n - i - 1) * sizeof t);
                        ms.m[ms.n - 1] = t;
                        break;
                }
        *ret = ms;
        return 0;
}

static size_t append_one(const struct freeze_mount *m, char *buf, size_t size, size_t len) {
        char item[4200];
        int n;
        if (m->state == FREEZE_MOUNT_SKIPPED)
                n = snprintf(item, sizeof item, "%s%s=skipped:%s", len ? " " : "", m->path, m->skip);
        else if (m->state == FREEZE_MOUNT_FAILED)
                n = snprintf(item, sizeof item, "%s%s=failed:%s", len ? " " : "", m->path,
                             strerrorname_np(m->error) ?: "unknown");
        else
                n = snprintf(item, sizeof item, "%s%s=%s", len ? " " : "", m->path,
                             freeze_mount_state_name(m->state));
        if (n < 0 || (size_t)n >= sizeof item || len + (size_t)n + 8 >= size)
                return 0;
        memcpy(buf + len, item, (size_t)n + 1);
        return (size_t)n;
}

void freeze_mounts_text(const struct freeze_mounts *ms, char *buf, size_t size) {
        size_t len = 0, left = 0;
        if (size == 0)
                return;
        buf[0] = 0;
        /* What the host most needs first: what was frozen or failed, then what was not. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < ms->n; i++) {
                        const struct freeze_mount *m = &ms->m[i];
                        if ((m->state == FREEZE_MOUNT_SKIPPED) != (pass == 1))
                                continue;
                        size_t n = left ? 0 : append_one(m, buf, size, len);
                        if (n == 0)
                                left++;
                        len += n;
                }
        if (left > 0)
                snprintf(buf + len, size - len, "%s+%zu", len ? " " : "", left);
}
