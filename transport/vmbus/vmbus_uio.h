/* IC channels owned in user space through uio_hv_generic (spec §1.3, §2, §3). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct pvicd;
struct vss_ops;

enum vmbus_uio_ic {
        VMBUS_UIO_IC_HEARTBEAT,
        VMBUS_UIO_IC_SHUTDOWN,
        VMBUS_UIO_IC_TIMESYNC,
        VMBUS_UIO_IC_KVP,
        VMBUS_UIO_IC_VSS,
        _VMBUS_UIO_IC_MAX,
};

struct vmbus_uio;

/* Finds the IC channels bound to uio_hv_generic under ROOT/sys/bus/vmbus and starts
 * each. required (--vmbus-mode=uio): no channel at all is an error (-ENODEV);
 * otherwise 0 with none. vss: what a VSS channel's FREEZE/THAW call (the relay's ops;
 * must outlive the channels). */
int vmbus_uio_new(struct vmbus_uio **ret, struct pvicd *d, bool required, const struct vss_ops *vss);
struct vmbus_uio *vmbus_uio_free(struct vmbus_uio *u);
/* Bit n set: IC n (enum vmbus_uio_ic) is served by a uio channel. */
unsigned vmbus_uio_ics(const struct vmbus_uio *u);
const char *vmbus_uio_ic_name(enum vmbus_uio_ic ic);
struct vmbus_channel;
const struct vmbus_channel *vmbus_uio_channel(const struct vmbus_uio *u, enum vmbus_uio_ic ic);

/* The IC (enum vmbus_uio_ic) of a class GUID in lower-case text form, or -ENOENT. */
int vmbus_uio_ic_from_class(const char *class_guid);
const char *vmbus_uio_ic_class(enum vmbus_uio_ic ic);
/* Reads a sysfs GUID ("{57164F39-...}" any case) into lower-case 8-4-4-4-12 form. */
int vmbus_sysfs_read_guid(const char *path, char out[static 37]);
/* snprintf for paths: a path that does not fit is an error (-ENAMETOOLONG), never a cut path. */
int vmbus_pathf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
