/* Moving IC channels between the kernel (hv_utils) and user space (uio_hv_generic),
 * spec §1.3: what `pvicd --vmbus-bind` / `--vmbus-unbind` do, once, as root. Every path
 * is under the root prefix, so tests run this against a fake sysfs and read back what
 * was written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvic/config.h"
#include "pvic/log.h"
#include "pvic/vmbus_bind.h"
#include "vmbus_uio.h"

#define BUS "/sys/bus/vmbus"

extern char **environ;

int vmbus_parse_ic_list(const char *s, unsigned *ret) {
        if (strcmp(s, "all") == 0) {
                *ret = (1u << _VMBUS_UIO_IC_MAX) - 1;
                return 0;
        }
        char buf[128];
        if (strlen(s) >= sizeof buf)
                return -EINVAL;
        strcpy(buf, s);
        unsigned set = 0;
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int ic = -1;
                for (int i = 0; i < _VMBUS_UIO_IC_MAX; i++)
                        if (strcmp(t, vmbus_uio_ic_name((enum vmbus_uio_ic)i)) == 0)
                                ic = i;
                if (ic < 0)
                        return -EINVAL;
                set |= 1u << ic;
        }
        if (!set)
                return -EINVAL;
        *ret = set;
        return 0;
}

/* A sysfs attribute write: no O_CREAT (a missing attribute is an error, never a new file). */
static int attr_write(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t len = strlen(value);
        ssize_t n = write(fd, value, len);
        int r = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
        close(fd);
        return r;
}

static int driver_of(const char *dev, char *out, size_t size) {
        char link[PATH_MAX], target[PATH_MAX];
        if (vmbus_pathf(link, sizeof link, "%s/driver", dev) < 0)
                return -ENAMETOOLONG;
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0) {
                out[0] = 0;
                return -errno;
        }
        target[n] = 0;
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strlen(base) >= size)
                return -ENAMETOOLONG;
        strcpy(out, base);
        return 0;
}

static int ensure_uio_driver(const char *root, const char *drivers) {
        char dir[PATH_MAX];
        if (vmbus_pathf(dir, sizeof dir, "%s/uio_hv_generic", drivers) < 0)
                return -ENAMETOOLONG;
        if (access(dir, F_OK) == 0)
                return 0;
        if (root && *root && strcmp(root, "/") != 0)
                return log_error_errno(ENOENT, "vmbus: %s missing (no uio_hv_generic under the root prefix)", dir);
        /* The module is not loaded: modprobe with a fixed argv, never a shell. */
        char *const argv[] = { (char *)"modprobe", (char *)"uio_hv_generic", NULL };
        pid_t pid;
        int r = posix_spawn(&pid, "/sbin/modprobe", NULL, NULL, argv, environ);
        if (r != 0)
                return log_error_errno(r, "vmbus: cannot run modprobe uio_hv_generic: %m");
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return log_error_errno(EIO, "vmbus: modprobe uio_hv_generic failed");
        return access(dir, F_OK) == 0 ? 0 : log_error_errno(ENOENT, "vmbus: uio_hv_generic did not appear");
}

static int move_device(const char *drivers, const char *dev, const char *instance, const char *class_guid,
                       const char *ic, bool to_uio) {
        char cur[64], path[PATH_MAX];
        driver_of(dev, cur, sizeof cur);
        const char *from = to_uio ? "hv_utils" : "uio_hv_generic", *to = to_uio ? "uio_hv_generic" : "hv_utils";
        if (strcmp(cur, to) == 0) {
                log_info("vmbus: %s (%s) already with %s", ic, instance, to);
                return 0;
        }
        int r;
        if (strcmp(cur, from) == 0) {
                if ((r = vmbus_pathf(path, sizeof path, "%s/%s/unbind", drivers, from)) < 0 ||
                    (r = attr_write(path, instance)) < 0)
                        return log_error_errno(r, "vmbus: cannot unbind %s from %s: %m", ic, from);
        }
        /* driver_override pins this device alone; new_id would claim every device of the
         * class and race a reloaded hv_utils (spec §1.3), so it is only the fallback. */
        if ((r = vmbus_pathf(path, sizeof path, "%s/driver_override", dev)) < 0)
                return r;
        if (access(path, F_OK) == 0)
                r = attr_write(path, to_uio ? "uio_hv_generic\n" : "\n");
        else if (to_uio) {
                r = vmbus_pathf(path, sizeof path, "%s/uio_hv_generic/new_id", drivers);
                if (r >= 0)
                        r = attr_write(path, class_guid);
                if (r == -EEXIST)
                        r = 0;
        } else
                r = 0;
        if (r < 0)
                return log_error_errno(r, "vmbus: cannot direct %s to %s: %m", ic, to);
        r = vmbus_pathf(path, sizeof path, "%s/%s/bind", drivers, to);
        if (r >= 0)
                r = attr_write(path, instance);
        if (r < 0 && driver_of(dev, cur, sizeof cur) >= 0 && strcmp(cur, to) == 0)
                r = 0; /* probed by new_id already */
        if (r < 0)
                return log_error_errno(r, "vmbus: cannot bind %s to %s: %m", ic, to);
        log_info("vmbus: %s (%s) moved to %s", ic, instance, to);
        return 1;
}

int vmbus_bind(const char *root, unsigned ics, bool to_uio) {
        _cleanup_free_ char *devices = root_path(root, BUS "/devices");
        _cleanup_free_ char *drivers = root_path(root, BUS "/drivers");
        if (!devices || !drivers)
                return log_oom();
        int r;
        if (to_uio && (r = ensure_uio_driver(root, drivers)) < 0)
                return r;
        DIR *d = opendir(devices);
        if (!d)
                return log_error_errno(errno, "vmbus: cannot list %s: %m", devices);
        int moved = 0, failed = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || strlen(de->d_name) != 36)
                        continue;
                char dev[PATH_MAX], path[PATH_MAX], class_guid[37], instance[37];
                if (vmbus_pathf(dev, sizeof dev, "%s/%s", devices, de->d_name) < 0 ||
                    vmbus_pathf(path, sizeof path, "%s/class_id", dev) < 0 || vmbus_sysfs_read_guid(path, class_guid) < 0)
                        continue;
                int ic = vmbus_uio_ic_from_class(class_guid);
                if (ic < 0 || !(ics & (1u << ic)))
                        continue;
                /* The device's name is what bind/unbind take: the instance GUID. */
                snprintf(instance, sizeof instance, "%s", de->d_name);
                r = move_device(drivers, dev, instance, class_guid, vmbus_uio_ic_name((enum vmbus_uio_ic)ic), to_uio);
                if (r < 0)
                        failed++;
                else
                        moved += r;
        }
        closedir(d);
        return failed ? -EIO : moved;
}
