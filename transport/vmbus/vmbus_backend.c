/* The VMBus backend (design.md decision 3): per IC, either the kernel keeps the channel
 * (relay mode: hv_utils answers heartbeat/shutdown/timesync, KVP comes through
 * /dev/vmbus/hv_kvp) or we own it through uio_hv_generic (uio mode). auto picks uio for
 * the ICs bound to uio_hv_generic and the relays for KVP and VSS otherwise
 * (/dev/vmbus/hv_kvp, /dev/vmbus/hv_vss): never both for one IC. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/freeze.h"
#include "pvic/log.h"
#include "pvic/pvicd.h"
#include "pvic/services.h"
#include "pvic/vmbus_relay.h"
#include "vmbus_uio.h"

struct vmbus_backend {
        struct pvicd *d;
        struct vss_ops vss_ops; /* one set for the relay and the uio channel */
        struct vmbus_relay *relay;
        struct vmbus_uio *uio;
        struct vss_relay *vss;
};

static void on_relay_kvp(void *userdata, const struct host_kvp_request *req, struct host_kvp_reply *reply) {
        struct vmbus_backend *b = userdata;
        pvicd_kvp(b->d, req, reply);
}

static int start_relay(struct vmbus_backend *b) {
        _cleanup_free_ char *path = root_path(b->d->config.root, "/dev/vmbus/hv_kvp");
        if (!path)
                return log_oom();
        return vmbus_relay_new(&b->relay, b->d->event, path, on_relay_kvp, b);
}

static int on_vss_freeze(void *userdata, unsigned lease_sec, freeze_report_fn fn, void *fn_userdata) {
        struct vmbus_backend *b = userdata;
        /* The wire names no lease: the guest's [HyperV] VssLease= (default VSS_LEASE_SEC). */
        return pvicd_freeze(b->d, b->d->config.vss_lease_sec, fn, fn_userdata);
}

static int on_vss_thaw(void *userdata, freeze_report_fn fn, void *fn_userdata) {
        struct vmbus_backend *b = userdata;
        return pvicd_thaw(b->d, fn, fn_userdata);
}

/* The relay says once if the device is missing (hv_utils without VSS, or VSS refused as
 * in isolated VMs) and keeps looking for it quietly; everything else is served meanwhile. */
static int start_vss(struct vmbus_backend *b) {
        _cleanup_free_ char *path = root_path(b->d->config.root, "/dev/vmbus/hv_vss");
        if (!path)
                return log_oom();
        return vss_relay_new(&b->vss, b->d->event, path, &b->vss_ops);
}

static void vmbus_fini(void *state) {
        struct vmbus_backend *b = state;
        if (!b)
                return;
        b->vss = vss_relay_free(b->vss);
        b->relay = vmbus_relay_free(b->relay);
        b->uio = vmbus_uio_free(b->uio);
        free(b);
}

static int vmbus_init(struct pvicd *d, void **ret) {
        struct vmbus_backend *b = calloc(1, sizeof *b);
        enum pvic_vmbus_mode mode = d->config.vmbus_mode;
        unsigned uio_ics = 0;
        int r;

        if (!b)
                return log_oom();
        b->d = d;
        b->vss_ops = (struct vss_ops){ .freeze = on_vss_freeze, .thaw = on_vss_thaw, .userdata = b };

        if (mode != PVIC_VMBUS_RELAY) {
                r = vmbus_uio_new(&b->uio, d, mode == PVIC_VMBUS_UIO, &b->vss_ops);
                if (r < 0 && mode == PVIC_VMBUS_UIO) {
                        vmbus_fini(b);
                        return r;
                }
                if (r >= 0)
                        uio_ics = vmbus_uio_ics(b->uio);
        }
        /* KVP through the kernel unless we own its channel. */
        if (!(uio_ics & (1u << VMBUS_UIO_IC_KVP))) {
                r = start_relay(b);
                if (r < 0) {
                        vmbus_fini(b);
                        return r;
                }
        }
        /* VSS through the kernel unless we own its channel: one owner per IC. */
        r = uio_ics & (1u << VMBUS_UIO_IC_VSS) ? 0 : start_vss(b);
        if (r < 0) {
                vmbus_fini(b);
                return r;
        }
        log_info("vmbus: mode %s: %s, %s%s%s%s%s", config_vmbus_mode_name(mode),
                 b->relay ? "kvp via relay" : "kvp via uio", b->vss ? "vss via relay" : "vss via uio",
                 uio_ics & (1u << VMBUS_UIO_IC_HEARTBEAT) ? ", heartbeat" : "",
                 uio_ics & (1u << VMBUS_UIO_IC_SHUTDOWN) ? ", shutdown" : "",
                 uio_ics & (1u << VMBUS_UIO_IC_TIMESYNC) ? ", timesync" : "",
                 uio_ics & ~(1u << VMBUS_UIO_IC_KVP | 1u << VMBUS_UIO_IC_VSS) ? " via uio" : "");
        pvicd_set_status(d, "vmbus: %s", b->relay ? "kvp relay" : "uio channels");
        *ret = b;
        return 0;
}

static void vmbus_facts_changed(void *state) {
        /* Nothing to push: the host reads our facts when it enumerates pool 2. */
}

const struct pvic_backend_ops vmbus_backend_ops = {
        .name = "vmbus",
        .init = vmbus_init,
        .fini = vmbus_fini,
        .facts_changed = vmbus_facts_changed,
};
