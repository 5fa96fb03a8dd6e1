/* The trees a toolstack builds for a domain (spec §3.2, §10.7): XAPI (xenopsd) by
 * default, upstream libxl on request. Values are what the guest agent reads. */
#include <errno.h>
#include <stdio.h>
#include <uuid/uuid.h>

#include "pvic/macro.h"
#include "xs-server.h"

int xsd_seed_base(struct xsd_store *s) {
        static const struct xsd_perm dom0 = { 'n', 0 };
        int r;
        if ((r = xsd_store_put(s, "/tool/xenstored", "", &dom0, 1)) < 0 ||
            (r = xsd_store_put(s, "/local/domain", "", &dom0, 1)) < 0 ||
            (r = xsd_store_put(s, "/vm", "", &dom0, 1)) < 0)
                return r;
        return 0;
}

int xsd_seed_domain(struct xsd_store *s, uint32_t domid, bool libxl) {
        char home[32], vm[64], uuid[37], dom_uuid[37], p[256], n[16];
        uuid_t u;
        /* The home is readable by its guest only; sub-directories the guest may write are
         * owned by it, which gives the guest full access and nobody else any. */
        const struct xsd_perm ro[] = { { 'n', 0 }, { 'r', domid } };
        const struct xsd_perm rw[] = { { 'n', domid } };
        /* Frontend directories: the guest owns them, the backend (dom0) reads them. */
        const struct xsd_perm fe[] = { { 'n', domid }, { 'r', 0 } };
        int r = 0;

        uuid_generate_random(u);
        uuid_unparse_lower(u, uuid);
        uuid_generate_random(u);
        uuid_unparse_lower(u, dom_uuid);
        snprintf(home, sizeof home, "/local/domain/%u", domid);
        snprintf(vm, sizeof vm, "/vm/%s", uuid);
        snprintf(n, sizeof n, "%u", domid);

#define PUTP(rel, val, perms, np)                                               \
        do {                                                                    \
                snprintf(p, sizeof p, "%s%s", home, rel);                       \
                if ((r = xsd_store_put(s, p, val, perms, np)) < 0)              \
                        return r;                                               \
        } while (0)
#define PUT(rel, val, perms) PUTP(rel, val, perms, ELEMENTSOF(perms))
#define PUT0(rel, val) PUTP(rel, val, NULL, 0)

        PUT("", "", ro);
        PUT0("/domid", n);
        PUT0("/name", "test-vm");
        PUT0("/vm", vm);
        PUT0("/memory/static-max", "4194304");
        PUT0("/memory/target", "4194304");
        PUT0("/cpu/0/availability", "online");
        if (libxl) {
                PUT("/control", "", ro);
                PUT("/control/shutdown", "", rw);
                PUT("/control/feature-poweroff", "", rw);
                PUT("/control/feature-reboot", "", rw);
                PUT("/control/feature-suspend", "", rw);
                PUT("/control/sysrq", "", rw);
                PUT("/device", "", ro);
        } else {
                PUT0("/unique-domain-id", dom_uuid);
                PUT("/control", "", rw);
                PUT0("/control/platform-feature-multiprocessor-suspend", "1");
                PUT0("/control/platform-feature-xs_reset_watches", "1");
                PUT("/xenserver/attr", "", rw);
                /* XAPI fills vm-data from VM.xenstore_data; the guest may write it too. */
                PUT("/vm-data", "", rw);
                PUT("/messages", "", rw);
                PUT("/rrd", "", rw);
                PUT("/device", "", rw);
        }
        PUT("/data", "", rw);
        PUT("/attr", "", rw);
        PUT("/drivers", "", rw);
        PUT("/feature", "", rw);
        PUT("/error", "", rw);
        PUT("/device/vif/0", "", fe);
        PUT0("/device/vif/0/mac", "00:16:3e:00:00:01");
#undef PUT0
#undef PUT
#undef PUTP

        if ((r = xsd_store_put(s, vm, "", ro, ELEMENTSOF(ro))) < 0)
                return r;
        snprintf(p, sizeof p, "%s/uuid", vm);
        if ((r = xsd_store_put(s, p, uuid, NULL, 0)) < 0)
                return r;
        snprintf(p, sizeof p, "%s/name", vm);
        return xsd_store_put(s, p, "test-vm", NULL, 0);
}
