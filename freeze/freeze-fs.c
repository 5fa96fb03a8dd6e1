/* Opening a mount point safely, and the journal. A mount point is only frozen when the
 * directory we open is on the device mountinfo names: a stale or made-up mountinfo
 * (tests give one under --root) must never freeze whatever filesystem holds the path. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "pvic/config.h"
#include "pvic/freeze.h"
#include "pvic/log.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
int freeze_unescape(const char *in, char *out, size_t size) {
        size_t n = 0;
        for (const char *p = in; *p; p++) {
                if (n + 1 >= size)
                        return -ENAMETOOLONG;
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
                    p[3] <= '7') {
                        char c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        if (c == 0)
                                return -EINVAL;
                        out[n++] = c;
                        p += 3;
                } else
                        out[n++] = *p;
        }
        out[n] = 0;
        return 0;
}

int freeze_open_mount(const char *root, const char *escaped_path, unsigned major, unsigned minor) {
        char path[4096];
        struct stat st;
        int r = freeze_unescape(escaped_path, path, sizeof path);
        if (r < 0)
                return r;
        _cleanup_free_ char *full = root_path(root, path);
        if (!full)
                return -ENOMEM;
        _cleanup_close_ int fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (major(st.st_dev) != major || minor(st.st_dev) != minor)
                return -EXDEV; /* not (or no longer) that filesystem */
        return TAKE_FD(fd);
}

static char *journal_path(const char *root) {
        return root_path(root, FREEZE_JOURNAL);
}

int freeze_journal_write(const char *root, const struct freeze_mounts *ms) {
        _cleanup_free_ char *p = journal_path(root), *dir = root_path(root, "/run/pvic"), *tmp = NULL;
        if (!p || !dir || asprintf(&tmp, "%s.new", p) < 0)
                return log_oom();
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "freeze: cannot create %s: %m", dir);
        FILE *f = fopen(tmp, "we");
        if (!f)
                return log_error_errno(errno, "freeze: cannot write %s: %m", tmp);
        for (size_t i = 0; i < ms->n; i++)
                /* About to be frozen, frozen, or frozen and failing to thaw. */
                if (ms->m[i].state == FREEZE_MOUNT_CANDIDATE || ms->m[i].state == FREEZE_MOUNT_FROZEN ||
                    (ms->m[i].state == FREEZE_MOUNT_FAILED && ms->m[i].fd >= 0))
                        fprintf(f, "%u:%u %s\n", ms->m[i].major, ms->m[i].minor, ms->m[i].path);
        if (fflush(f) != 0 || ferror(f)) {
                int e = errno ?: EIO;
                fclose(f);
                unlink(tmp);
                return log_error_errno(e, "freeze: cannot write %s: %m", tmp);
        }
        fclose(f);
        /* Whoever reads it sees all of it or nothing. */
        if (rename(tmp, p) < 0) {
                int e = errno;
                unlink(tmp);
                return log_error_errno(e, "freeze: cannot install %s: %m", p);
        }
        return 0;
}

int freeze_journal_remove(const char *root) {
        _cleanup_free_ char *p = journal_path(root);
        if (!p)
                return -ENOMEM;
        if (unlink(p) < 0 && errno != ENOENT)
                return log_warning_errno(errno, "freeze: cannot remove %s: %m", p);
        return 0;
}

int freeze_recover(const char *root) {
        _cleanup_free_ char *p = journal_path(root);
        char line[4200];
        int thawed = 0;

        if (!p)
                return -ENOMEM;
        FILE *f = fopen(p, "re");
        if (!f)
                return errno == ENOENT ? 0 : log_error_errno(errno, "freeze: cannot read %s: %m", p);
        /* The journal is written in freeze order; thaw in reverse (root first). */
        char **lines = NULL;
        size_t n = 0;
        while (fgets(line, sizeof line, f)) {
                char **nl = realloc(lines, (n + 1) * sizeof *nl);
                if (!nl)
                        break;
                lines = nl;
                if (!(lines[n] = strdup(line)))
                        break;
                n++;
        }
        fclose(f);
        for (size_t i = n; i-- > 0;) {
                unsigned major, minor;
                char path[4096];
                if (sscanf(lines[i], "%u:%u %4095s", &major, &minor, path) != 3) {
                        free(lines[i]);
                        continue;
                }
                free(lines[i]);
                _cleanup_close_ int fd = freeze_open_mount(root, path, major, minor);
                if (fd < 0) {
                        log_warning_errno(fd, "freeze: journal lists %s, which cannot be opened as %u:%u: %m",
                                          path, major, minor);
                        continue;
                }
                if (ioctl(fd, FITHAW, 0) == 0) {
                        log_notice("freeze: %s thawed from the journal", path);
                        thawed++;
                } else if (errno != EINVAL) /* EINVAL: it was not frozen */
                        log_warning_errno(errno, "freeze: cannot thaw %s: %m", path);
        }
        free(lines);
        (void)freeze_journal_remove(root);
        return thawed;
}
