/* What kind of NIC a link is, from sysfs under the root prefix: a link with a bus
 * device is a NIC; xen-netfront's device says devtype "vif" and its xenstore node,
 * hv_netvsc is named by the driver link. Names from the kernel still go through a
 * check before they become path components. Paths are opened relative to one fd on
 * ROOT/sys/class/net per pass: at a thousand links, walking the full path for every
 * file was most of the start-up time. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvic/netinfo.h"

#define SYSFS_VALUE_MAX 128

static bool name_ok(const char *name) {
        size_t n = strnlen(name, IFNAMSIZ);
        return n > 0 && n < IFNAMSIZ && !strchr(name, '/') && strcmp(name, ".") != 0 &&
               strcmp(name, "..") != 0;
}

int net_sysfs_open(const char *root) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/sys/class/net", root ?: "") >= (int) sizeof path)
                return -ENAMETOOLONG;
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* First line of a small attribute file, from an open fd; -errno if unreadable or empty. */
static int read_fd(int fd, char *buf, size_t size) {
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return buf[0] ? 0 : -ENODATA;
}

static int read_attr(int dir, const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd(fd, buf, size);
}

/* "device/vif/<N>" with N a plain non-negative decimal int. */
static int parse_vif_nodename(const char *s, int *ret) {
        static const char prefix[] = "device/vif/";
        if (strncmp(s, prefix, sizeof prefix - 1) != 0)
                return -EINVAL;
        return net_parse_devid(s + sizeof prefix - 1, ret);
}

int net_sysfs_classify(const char *name, struct net_class *ret, void *userdata) {
        int dir = userdata ? *(const int *) userdata : -1;
        char path[IFNAMSIZ + 32], buf[SYSFS_VALUE_MAX];
        struct stat st;

        *ret = (struct net_class) { .nic = false, .kind = NET_NIC_OTHER, .devid = -1 };
        if (dir < 0 || !name_ok(name))
                return 0;

        /* Opening devtype proves the device directory exists, so a vif costs two opens
         * and nothing else; only when it fails does the directory need a look of its own. */
        snprintf(path, sizeof path, "%s/device/devtype", name);
        _cleanup_close_ int fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                snprintf(path, sizeof path, "%s/device", name);
                /* No bus device: a software link (bridge, veth, bond, tunnel...). */
                if (fstatat(dir, path, &st, 0) < 0 || !S_ISDIR(st.st_mode))
                        return 0;
        }
        ret->nic = true;

        if (fd >= 0 && read_fd(fd, buf, sizeof buf) == 0 && strcmp(buf, "vif") == 0) {
                int devid;
                snprintf(path, sizeof path, "%s/device/nodename", name);
                if (read_attr(dir, path, buf, sizeof buf) == 0 && parse_vif_nodename(buf, &devid) == 0) {
                        ret->kind = NET_NIC_XEN_VIF;
                        ret->devid = devid;
                        return 0;
                }
        }

        snprintf(path, sizeof path, "%s/device/driver", name);
        ssize_t n = readlinkat(dir, path, buf, sizeof buf - 1);
        if (n > 0) {
                buf[n] = 0;
                const char *base = strrchr(buf, '/');
                base = base ? base + 1 : buf;
                if (strcmp(base, "hv_netvsc") == 0)
                        ret->kind = NET_NIC_HYPERV_NETVSC;
        }
        return 0;
}
