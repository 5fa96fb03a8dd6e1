/* uio mode: finds the IC channels bound to uio_hv_generic (spec §1.3, §1.4) under the
 * root prefix and runs one vmbus_channel per IC. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ic_services.h"
#include "pvic/config.h"
#include "pvic/log.h"
#include "pvic/pvicd.h"
#include "vmbus_uio.h"

#define SYSFS_SMALL_FILE_MAX 256u

static const struct {
        const char *name;
        const char *class_guid;
        enum vmbus_ic_type type;
} ics[_VMBUS_UIO_IC_MAX] = {
        [VMBUS_UIO_IC_HEARTBEAT] = { "heartbeat", "57164f39-9115-4e78-ab55-382f3bd5422d", VMBUS_IC_HEARTBEAT },
        [VMBUS_UIO_IC_SHUTDOWN] = { "shutdown", "0e0b6031-5213-4934-818b-38d90ced39db", VMBUS_IC_SHUTDOWN },
        [VMBUS_UIO_IC_TIMESYNC] = { "timesync", "9527e630-d0ae-497b-adce-e80ab0175caf", VMBUS_IC_TIMESYNC },
        [VMBUS_UIO_IC_KVP] = { "kvp", "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", VMBUS_IC_KVP },
        [VMBUS_UIO_IC_VSS] = { "vss", "35fa2e29-ea23-4236-96ae-3a6ebacba440", VMBUS_IC_VSS },
};

struct vmbus_uio {
        unsigned ics;
        struct vmbus_channel *channel[_VMBUS_UIO_IC_MAX];
        struct vmbus_ic_ctx ctx[_VMBUS_UIO_IC_MAX];
};

/* snprintf for paths: a path that does not fit is an error, never a cut path. */
int vmbus_pathf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size) {
                buf[0] = 0;
                return -ENAMETOOLONG;
        }
        return 0;
}

const char *vmbus_uio_ic_name(enum vmbus_uio_ic ic) {
        return ic < _VMBUS_UIO_IC_MAX ? ics[ic].name : NULL;
}

int vmbus_uio_ic_from_class(const char *class_guid) {
        for (int i = 0; i < _VMBUS_UIO_IC_MAX; i++)
                if (strcmp(class_guid, ics[i].class_guid) == 0)
                        return i;
        return -ENOENT;
}

const char *vmbus_uio_ic_class(enum vmbus_uio_ic ic) {
        return ic < _VMBUS_UIO_IC_MAX ? ics[ic].class_guid : NULL;
}

/* "{57164F39-...}\n" -> "57164f39-..." ; -EBADMSG unless it is a GUID. */
int vmbus_sysfs_read_guid(const char *path, char out[static 37]) {
        _cleanup_free_ char *s = NULL;
        int r = read_file_bounded(path, SYSFS_SMALL_FILE_MAX, &s, NULL);
        if (r < 0)
                return r;
        const char *p = s + (s[0] == '{');
        for (unsigned i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? p[i] != '-' : !isxdigit((unsigned char)p[i]))
                        return -EBADMSG;
                out[i] = (char)tolower((unsigned char)p[i]);
        }
        out[36] = 0;
        return 0;
}

/* A sysfs directory entry we are about to put into a path: a plain name only. */
static bool name_ok(const char *n, const char *prefix) {
        size_t l = strlen(prefix);
        if (strncmp(n, prefix, l) != 0 || !n[l] || strlen(n) > 64)
                return false;
        for (const char *p = n + l; *p; p++)
                if (!isdigit((unsigned char)*p))
                        return false;
        return true;
}

/* The single entry of dir matching prefix+digits ("uio0", "13"), copied into out. */
static int only_entry(const char *dir, const char *prefix, char *out, size_t size) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        int r = -ENOENT;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!name_ok(de->d_name, prefix))
                        continue;
                snprintf(out, size, "%s", de->d_name);
                r = 0;
                break;
        }
        closedir(d);
        return r;
}

static int parse_size(const char *path, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r = read_file_bounded(path, SYSFS_SMALL_FILE_MAX, &s, NULL);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || end == s || (*end && *end != '\n'))
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* Bound to uio_hv_generic: the device has a uio/ node, and its driver link (when
 * present) names uio_hv_generic, not hv_utils. */
static bool bound_to_uio(const char *devdir, char *uio, size_t size) {
        char link[PATH_MAX], target[PATH_MAX];
        vmbus_pathf(link, sizeof link, "%s/driver", devdir);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n >= 0) {
                target[n] = 0;
                const char *b = strrchr(target, '/');
                if (strcmp(b ? b + 1 : target, "uio_hv_generic") != 0)
                        return false;
        }
        vmbus_pathf(link, sizeof link, "%s/uio", devdir);
        return only_entry(link, "uio", uio, size) >= 0;
}

static int start_channel(struct vmbus_uio *u, struct pvicd *d, enum vmbus_uio_ic ic, const char *devdir,
                         const char *uio) {
        char path[PATH_MAX], relid[80] = "", ring[PATH_MAX] = "";
        uint64_t map0 = 0;
        const char *root = d->config.root ? d->config.root : "";

        vmbus_pathf(path, sizeof path, "%s/sys/class/uio/%s/maps/map0/size", root, uio);
        int r = parse_size(path, &map0);
        vmbus_pathf(path, sizeof path, "%s/channels", devdir);
        if (only_entry(path, "", relid, sizeof relid) >= 0)
                vmbus_pathf(ring, sizeof ring, "%s/channels/%s/ring", devdir, relid);
        if (r < 0 && ring[0]) {
                /* Older kernels: the ring file's size (§2.1, §8.7). */
                struct stat st;
                if (stat(ring, &st) == 0) {
                        map0 = (uint64_t)st.st_size;
                        r = 0;
                }
        }
        if (r < 0 || map0 < 2 * 8192 || map0 % 16 != 0 || map0 > (uint64_t)1 << 32)
                return log_warning_errno(r < 0 ? r : EBADMSG, "vmbus %s: no usable ring size for %s", ics[ic].name, uio);

        vmbus_pathf(path, sizeof path, "%s/dev/%s", root, uio);
        struct vmbus_channel_config cfg = {
                .name = ics[ic].name,
                .type = ics[ic].type,
                .versions = vmbus_ic_versions_for(ics[ic].type),
                .dev_path = path,
                .ring_path = ring[0] ? ring : NULL,
                .ring_size = (size_t)(map0 / 2),
        };
        u->ctx[ic].d = d;
        r = vmbus_channel_new(&u->channel[ic], d->event, &cfg, vmbus_ic_services_handle, &u->ctx[ic]);
        if (r < 0)
                return r;
        u->ics |= 1u << ic;
        log_info("vmbus %s: using %s (uio, ring %llu bytes per direction)", ics[ic].name, uio,
                 (unsigned long long)(map0 / 2));
        return 0;
}

int vmbus_uio_new(struct vmbus_uio **ret, struct pvicd *d, bool required, const struct vss_ops *vss) {
        _cleanup_free_ char *devices = root_path(d->config.root, "/sys/bus/vmbus/devices");
        struct vmbus_uio *u = calloc(1, sizeof *u);
        if (!devices || !u) {
                free(u);
                return log_oom();
        }
        u->ctx[VMBUS_UIO_IC_VSS].vss.ops = vss;
        DIR *dir = opendir(devices);
        if (dir) {
                struct dirent *de;
                while ((de = readdir(dir))) {
                        char devdir[PATH_MAX], path[PATH_MAX], guid[37], uio[80];
                        if (de->d_name[0] == '.' || strlen(de->d_name) > 64)
                                continue;
                        vmbus_pathf(devdir, sizeof devdir, "%s/%s", devices, de->d_name);
                        vmbus_pathf(path, sizeof path, "%s/class_id", devdir);
                        if (vmbus_sysfs_read_guid(path, guid) < 0)
                                continue;
                        for (unsigned ic = 0; ic < _VMBUS_UIO_IC_MAX; ic++) {
                                if (strcmp(guid, ics[ic].class_guid) != 0)
                                        continue;
                                if (u->channel[ic]) {
                                        log_warning("vmbus %s: a second device %s ignored", ics[ic].name, de->d_name);
                                        break;
                                }
                                if (!bound_to_uio(devdir, uio, sizeof uio)) {
                                        log_info("vmbus %s: %s is not bound to uio_hv_generic; the kernel keeps it",
                                                 ics[ic].name, de->d_name);
                                        break;
                                }
                                start_channel(u, d, ic, devdir, uio);
                                break;
                        }
                }
                closedir(dir);
        }
        if (u->ics == 0) {
                vmbus_uio_free(u);
                *ret = NULL;
                if (required)
                        return log_error_errno(ENODEV, "vmbus: no IC channel under %s is bound to uio_hv_generic",
                                               devices);
                return 0;
        }
        *ret = u;
        return 0;
}

struct vmbus_uio *vmbus_uio_free(struct vmbus_uio *u) {
        if (!u)
                return NULL;
        for (unsigned ic = 0; ic < _VMBUS_UIO_IC_MAX; ic++) {
                vmbus_channel_free(u->channel[ic]);
                vmbus_ic_ctx_done(&u->ctx[ic]);
        }
        free(u);
        return NULL;
}

unsigned vmbus_uio_ics(const struct vmbus_uio *u) {
        return u ? u->ics : 0;
}

const struct vmbus_channel *vmbus_uio_channel(const struct vmbus_uio *u, enum vmbus_uio_ic ic) {
        return u && ic < _VMBUS_UIO_IC_MAX ? u->channel[ic] : NULL;
}
