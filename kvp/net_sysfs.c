/* What kind of NIC a link is, from sysfs under the root prefix: a link with a bus
 * device is a NIC; xen-netfront's device says devtype "vif" and its xenstore node,
 * hv_netvsc is named by the driver link. Names from the kernel still go through a
 * check before they become path components. */
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

static int leaf(char *buf, size_t size, const char *dir, const char *name) {
        int n = snprintf(buf, size, "%s/%s", dir, name);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

/* First line of a small attribute file; -errno if unreadable or empty. */
static int read_attr(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return buf[0] ? 0 : -ENODATA;
}

/* "device/vif/<N>" with N a plain non-negative decimal int. */
static int parse_vif_nodename(const char *s, int *ret) {
        static const char prefix[] = "device/vif/";
        if (strncmp(s, prefix, sizeof prefix - 1) != 0)
                return -EINVAL;
        s += sizeof prefix - 1;
        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
                return -EINVAL;
        long long v = 0;
        for (; *s; s++)
                v = v * 10 + (*s - '0');
        if (v > INT_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

int net_sysfs_classify(const char *name, struct net_class *ret, void *userdata) {
        const char *root = userdata ?: "";
        char dir[PATH_MAX], path[PATH_MAX], buf[SYSFS_VALUE_MAX];
        struct stat st;

        *ret = (struct net_class) { .nic = false, .kind = NET_NIC_OTHER, .devid = -1 };
        if (!name_ok(name))
                return 0;
        if (snprintf(dir, sizeof dir, "%s/sys/class/net/%s/device", root, name) >= (int) sizeof dir)
                return 0;
        /* No bus device: a software link (bridge, veth, bond, tunnel...). */
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return 0;
        ret->nic = true;

        if (leaf(path, sizeof path, dir, "devtype") == 0 && read_attr(path, buf, sizeof buf) == 0 &&
            strcmp(buf, "vif") == 0) {
                int devid;
                if (leaf(path, sizeof path, dir, "nodename") == 0 && read_attr(path, buf, sizeof buf) == 0 &&
                    parse_vif_nodename(buf, &devid) == 0) {
                        ret->kind = NET_NIC_XEN_VIF;
                        ret->devid = devid;
                        return 0;
                }
        }

        ssize_t n = leaf(path, sizeof path, dir, "driver") == 0 ? readlink(path, buf, sizeof buf - 1) : -1;
        if (n > 0) {
                buf[n] = 0;
                const char *base = strrchr(buf, '/');
                base = base ? base + 1 : buf;
                if (strcmp(base, "hv_netvsc") == 0)
                        ret->kind = NET_NIC_HYPERV_NETVSC;
        }
        return 0;
}
