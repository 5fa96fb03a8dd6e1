/* FIFREEZE and FITHAW over a freeze's mount list: open each candidate (checked to be the
 * device mountinfo names), freeze in list order ("/" last), thaw in reverse. */
#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pvic/freeze.h"
#include "pvic/log.h"

size_t freeze_mounts_open(const char *root, struct freeze_mounts *ms) {
        size_t n = 0;
        for (size_t i = 0; i < ms->n; i++) {
                struct freeze_mount *m = &ms->m[i];
                if (m->state != FREEZE_MOUNT_CANDIDATE)
                        continue;
                m->fd = freeze_open_mount(root, m->path, m->major, m->minor);
                if (m->fd >= 0) {
                        n++;
                        continue;
                }
                m->state = FREEZE_MOUNT_SKIPPED;
                m->skip = m->fd == -EXDEV || m->fd == -ENOENT ? "not-mounted" : "cannot-open";
                log_info_errno(m->fd, "freeze: skipping %s: %m", m->path);
                m->fd = -1;
        }
        return n;
}

int freeze_mounts_freeze(struct freeze_mounts *ms) {
        for (size_t i = 0; i < ms->n; i++) {
                struct freeze_mount *m = &ms->m[i];
                if (m->state != FREEZE_MOUNT_CANDIDATE)
                        continue;
                if (ioctl(m->fd, FIFREEZE, 0) == 0) {
                        m->state = FREEZE_MOUNT_FROZEN;
                        continue;
                }
                int e = errno;
                close(m->fd);
                m->fd = -1;
                if (e == EOPNOTSUPP || e == ENOTTY) {
                        m->state = FREEZE_MOUNT_SKIPPED;
                        m->skip = "not-freezable";
                } else if (e == EBUSY) {
                        /* Frozen by someone else: theirs to thaw, not ours. */
                        m->state = FREEZE_MOUNT_SKIPPED;
                        m->skip = "already-frozen";
                } else {
                        m->state = FREEZE_MOUNT_FAILED;
                        m->error = e;
                        return -e;
                }
        }
        return 0;
}

size_t freeze_mounts_thaw(struct freeze_mounts *ms) {
        size_t failed = 0;
        for (size_t i = ms->n; i-- > 0;) {
                struct freeze_mount *m = &ms->m[i];
                if (m->state != FREEZE_MOUNT_FROZEN)
                        continue;
                /* EINVAL: not frozen any more (the guard was faster); that is thawed too. */
                if (ioctl(m->fd, FITHAW, 0) == 0 || errno == EINVAL)
                        m->state = FREEZE_MOUNT_THAWED;
                else {
                        m->error = errno;
                        m->state = FREEZE_MOUNT_FAILED;
                        failed++;
                }
        }
        /* A mount that would not thaw keeps its fd: the same superblock for a retry. */
        for (size_t i = 0; i < ms->n; i++)
                if (ms->m[i].fd >= 0 && ms->m[i].state != FREEZE_MOUNT_FAILED) {
                        close(ms->m[i].fd);
                        ms->m[i].fd = -1;
                }
        return failed;
}
