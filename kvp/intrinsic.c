/* The ten intrinsic items of hv_kvp_daemon (spec hyperv-ic.md §7), from the guest facts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/kvp_intrinsic.h"
#include "pvic/macro.h"

static const char *const intrinsic_keys[KVP_INTRINSIC_COUNT] = {
        [KVP_INTRINSIC_FQDN] = "FullyQualifiedDomainName",
        [KVP_INTRINSIC_IC_VERSION] = "IntegrationServicesVersion",
        [KVP_INTRINSIC_IPV4] = "NetworkAddressIPv4",
        [KVP_INTRINSIC_IPV6] = "NetworkAddressIPv6",
        [KVP_INTRINSIC_OS_BUILD] = "OSBuildNumber",
        [KVP_INTRINSIC_OS_NAME] = "OSName",
        [KVP_INTRINSIC_OS_MAJOR] = "OSMajorVersion",
        [KVP_INTRINSIC_OS_MINOR] = "OSMinorVersion",
        [KVP_INTRINSIC_OS_VERSION] = "OSVersion",
        [KVP_INTRINSIC_ARCH] = "ProcessorArchitecture",
};

const char *kvp_intrinsic_key(unsigned item) {
        return item < KVP_INTRINSIC_COUNT ? intrinsic_keys[item] : NULL;
}

static const char *os_release_field(const struct pvic_os_facts *os, const char *key) {
        for (unsigned i = 0; i < os->n_os_release; i++)
                if (os->os_release[i].key && strcmp(os->os_release[i].key, key) == 0)
                        return os->os_release[i].value;
        return NULL;
}

char *kvp_intrinsic_join(const char *const *addrs, size_t n, size_t max) {
        size_t len = 0;
        char *s = malloc(max ? max : 1);
        if (!s)
                return NULL;
        s[0] = 0;
        for (size_t i = 0; i < n; i++) {
                if (!addrs[i] || !addrs[i][0])
                        continue;
                size_t l = strlen(addrs[i]);
                size_t need = len + (len ? 1 : 0) + l;
                if (need >= max)
                        break; /* later addresses would not fit either way: keep order */
                if (len)
                        s[len++] = ';';
                memcpy(s + len, addrs[i], l + 1);
                len += l;
        }
        return s;
}

static void values_free(char *v[static KVP_INTRINSIC_COUNT]) {
        for (unsigned i = 0; i < KVP_INTRINSIC_COUNT; i++) {
                free(v[i]);
                v[i] = NULL;
        }
}

int kvp_intrinsic_build(struct kvp_intrinsic *intr, const struct pvic_os_facts *os, const char *fqdn,
                        const char *ic_version, const char *const *ipv4, size_t n_ipv4,
                        const char *const *ipv6, size_t n_ipv6) {
        char *v[KVP_INTRINSIC_COUNT] = {};
        const char *release = os->kernel_release ? os->kernel_release : "";
        const char *name = os_release_field(os, "NAME");
        const char *version_id = os_release_field(os, "VERSION_ID");

        /* hv_kvp_daemon: FQDN from the canonical host name, OSName = NAME (else uname -s),
         * OSMajorVersion = the whole VERSION_ID, OSMinorVersion empty, OSBuildNumber =
         * uname -r, OSVersion = uname -r up to the first '-'. Hosts have seen these forms
         * from Linux guests for a decade; "fixing" them would break their parsers. */
        v[KVP_INTRINSIC_FQDN] = strdup(fqdn ? fqdn : os->hostname ? os->hostname : "");
        v[KVP_INTRINSIC_IC_VERSION] = strdup(ic_version ? ic_version : KVP_INTRINSIC_IC_VERSION_DEFAULT);
        v[KVP_INTRINSIC_IPV4] = kvp_intrinsic_join(ipv4, n_ipv4, KVP_INTRINSIC_ADDRS_MAX);
        v[KVP_INTRINSIC_IPV6] = kvp_intrinsic_join(ipv6, n_ipv6, KVP_INTRINSIC_ADDRS_MAX);
        v[KVP_INTRINSIC_OS_BUILD] = strdup(release);
        v[KVP_INTRINSIC_OS_NAME] = strdup(name ? name : "Linux");
        v[KVP_INTRINSIC_OS_MAJOR] = strdup(version_id ? version_id : "");
        v[KVP_INTRINSIC_OS_MINOR] = strdup("");
        v[KVP_INTRINSIC_OS_VERSION] = strndup(release, strcspn(release, "-"));
        v[KVP_INTRINSIC_ARCH] = strdup(os->machine ? os->machine : "");
        for (unsigned i = 0; i < KVP_INTRINSIC_COUNT; i++)
                if (!v[i]) {
                        values_free(v);
                        return -ENOMEM;
                }
        values_free(intr->value);
        memcpy(intr->value, v, sizeof v);
        return 0;
}

int kvp_intrinsic_set_addresses(struct kvp_intrinsic *intr, const char *const *ipv4, size_t n_ipv4,
                                const char *const *ipv6, size_t n_ipv6) {
        _cleanup_free_ char *a4 = kvp_intrinsic_join(ipv4, n_ipv4, KVP_INTRINSIC_ADDRS_MAX);
        _cleanup_free_ char *a6 = kvp_intrinsic_join(ipv6, n_ipv6, KVP_INTRINSIC_ADDRS_MAX);
        if (!a4 || !a6)
                return -ENOMEM;
        free(intr->value[KVP_INTRINSIC_IPV4]);
        free(intr->value[KVP_INTRINSIC_IPV6]);
        intr->value[KVP_INTRINSIC_IPV4] = TAKE_PTR(a4);
        intr->value[KVP_INTRINSIC_IPV6] = TAKE_PTR(a6);
        return 0;
}

void kvp_intrinsic_done(struct kvp_intrinsic *intr) {
        values_free(intr->value);
}
