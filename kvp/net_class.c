/* Which links are NICs, from rtnetlink alone where it suffices (Linux 5.14+ names each
 * link's bus device): at start-up that spares a thousand links their sysfs reads. The
 * rules give what net_sysfs_classify would read; anything they do not settle (netvsc's
 * driver, virtio, PCI) is left to sysfs. */
#include "pvic/netinfo.h"

bool net_class_from_parent(const struct net_link_info *l, bool parents_reported, struct net_class *ret) {
        if (l->parent_vif >= 0) {
                *ret = (struct net_class) { .nic = true, .kind = NET_NIC_XEN_VIF, .devid = l->parent_vif };
                return true;
        }
        /* The kernel puts IFLA_PARENT_DEV_NAME on exactly the links whose sysfs entry
         * has a "device" link; an older kernel omits it on all of them. */
        if (!l->parent && parents_reported) {
                *ret = (struct net_class) { .nic = false, .kind = NET_NIC_OTHER, .devid = -1 };
                return true;
        }
        return false;
}
