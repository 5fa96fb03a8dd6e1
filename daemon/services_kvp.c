/* The KVP service and the guest facts it presents to a Hyper-V host: intrinsic items
 * (pool 2) kept in step with the OS and network facts, GET_IP_INFO from the network
 * snapshot and the resolver configuration. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pvic/config.h"
#include "pvic/kvp_service.h"
#include "pvic/log.h"
#include "pvic/netinfo.h"
#include "pvic/pvicd.h"
#include "pvic/services.h"
#include "services_internal.h"

void pvicd_kvp(struct pvicd *d, const struct host_kvp_request *req, struct host_kvp_reply *reply) {
        kvp_service_handle(d->kvp, d->intrinsic_ready ? &d->intrinsic : NULL, req, reply);
}

/* nameserver lines of ROOT/etc/resolv.conf, ';'-separated, bounded. */
static void read_dns(const char *root, int family, char *buf, size_t size) {
        buf[0] = 0;
        _cleanup_free_ char *path = root_path(root, "/etc/resolv.conf");
        FILE *f = path ? fopen(path, "re") : NULL;
        if (!f)
                return;
        char line[256];
        size_t len = 0;
        for (unsigned n = 0; n < 64 && fgets(line, sizeof line, f); n++) {
                char addr[INET6_ADDRSTRLEN];
                unsigned char bin[16];
                if (sscanf(line, "nameserver %45s", addr) != 1)
                        continue;
                int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
                if (inet_pton(fam, addr, bin) != 1)
                        continue;
                if ((fam == AF_INET && !(family & HOST_KVP_ADDR_IPV4)) || (fam == AF_INET6 && !(family & HOST_KVP_ADDR_IPV6)))
                        continue;
                int w = snprintf(buf + len, size - len, "%s%s", len ? ";" : "", addr);
                if (w < 0 || (size_t)w >= size - len)
                        break;
                len += (size_t)w;
        }
        fclose(f);
}

static int ip_info(void *userdata, const char *mac, struct host_kvp_ip_info *out) {
        struct pvicd *d = userdata;
        const struct net_snapshot *s = d->net ? net_collector_snapshot(d->net) : NULL;
        const struct net_nic *nic = s ? net_snapshot_find_mac(s, mac) : NULL;
        if (!nic)
                return -ENOENT;
        int family = AF_UNSPEC;
        if (out->addr_family == HOST_KVP_ADDR_IPV4)
                family = AF_INET;
        else if (out->addr_family == HOST_KVP_ADDR_IPV6)
                family = AF_INET6;
        net_format_list(s, nic, family, false, out->ip_addr, sizeof out->ip_addr);
        net_format_list(s, nic, family, true, out->sub_net, sizeof out->sub_net);
        read_dns(d->config.root, out->addr_family ? out->addr_family : HOST_KVP_ADDR_IPV4 | HOST_KVP_ADDR_IPV6,
                 out->dns_addr, sizeof out->dns_addr);
        /* Gateways and DHCP state are not collected (no route dump): reported empty/false. */
        out->gate_way[0] = 0;
        out->dhcp_enabled = false;
        return 0;
}

static size_t collect(const struct net_snapshot *s, bool v6, char (*buf)[NET_ADDRSTRLEN], const char **ptrs,
                      size_t max) {
        size_t n = 0;
        for (size_t i = 0; s && i < s->n_nics; i++) {
                const struct net_nic *nic = &s->nics[i];
                const struct net_addr *a = v6 ? nic->ipv6 : nic->ipv4;
                size_t na = v6 ? nic->n_ipv6 : nic->n_ipv4;
                for (size_t j = 0; j < na && n < max; j++)
                        ptrs[n] = net_addr_to_string(&a[j], buf[n]), n++;
        }
        return n;
}

/* The intrinsic address items follow the network facts. */
void services_kvp_addresses_changed(struct pvicd *d, const struct net_snapshot *s) {
        if (!d->intrinsic_ready)
                return;
        static char v4[128][NET_ADDRSTRLEN], v6[128][NET_ADDRSTRLEN];
        const char *p4[128], *p6[128];
        size_t n4 = collect(s, false, v4, p4, ELEMENTSOF(p4)), n6 = collect(s, true, v6, p6, ELEMENTSOF(p6));
        if (kvp_intrinsic_set_addresses(&d->intrinsic, p4, n4, p6, n6) < 0)
                log_oom();
}

int services_kvp_start(struct pvicd *d) {
        services_kvp_stop(d);
        d->intrinsic.ip_info = ip_info;
        d->intrinsic.userdata = d;
        int r = kvp_intrinsic_build(&d->intrinsic, &d->os, NULL, NULL, NULL, 0, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "kvp: cannot build the intrinsic items: %m");
        d->intrinsic_ready = true;
        return 0;
}

void services_kvp_stop(struct pvicd *d) {
        if (d->intrinsic_ready)
                kvp_intrinsic_done(&d->intrinsic);
        d->intrinsic_ready = false;
}
