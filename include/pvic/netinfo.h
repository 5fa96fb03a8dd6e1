/* Guest network facts: which virtual NICs the guest has and which addresses the host
 * should see on each (docs/network.md). An rtnetlink collector keeps a link/address
 * table from one dump plus events; a pure topology pass turns the table into a
 * snapshot of NICs with stable per-family address slots. Presentations (facts JSON,
 * Xen attr/vif keys, Hyper-V items) only ever read snapshots. */
#pragma once
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvic/macro.h"

/* Bounds: a guest with more links or addresses than this is odd, and the table must
 * stay small whatever the kernel (or another process in our netns) creates. */
#define NET_LINKS_MAX_DEFAULT 4096u
#define NET_ADDRS_PER_LINK_MAX_DEFAULT 64u
#define NET_SLOTS_MAX 64u          /* per (NIC, family) in a snapshot */
#define NET_DEBOUNCE_USEC_DEFAULT (200u * 1000u)
#define NET_HWADDR_MAX 32u         /* MAX_ADDR_LEN */
#define NET_KIND_MAX 16u
#define NET_ADDRSTRLEN 46u         /* INET6_ADDRSTRLEN */

/* ---- netlink parsing (pure; fuzzed) ---- */

struct net_link_info {
        int ifindex;
        unsigned flags;                /* ifi_flags (IFF_*) */
        uint16_t type;                 /* ARPHRD_* */
        char name[IFNAMSIZ];           /* "" when the message had no IFLA_IFNAME */
        uint8_t mac[NET_HWADDR_MAX];
        uint8_t mac_len;
        int master;                    /* IFLA_MASTER, 0 if none */
        int link;                      /* IFLA_LINK in our netns, 0 if none or elsewhere */
        char kind[NET_KIND_MAX];       /* IFLA_INFO_KIND, "" if none */
        bool parent;                   /* IFLA_PARENT_DEV_NAME: backed by a bus device (5.14+) */
        int parent_vif;                /* N if that device is xenbus "vif-N" (bus "xen"), else -1 */
};

struct net_addr_info {
        int ifindex;
        uint8_t family;                /* AF_INET or AF_INET6 */
        uint8_t prefixlen;
        uint8_t scope;                 /* RT_SCOPE_* */
        uint32_t flags;                /* IFA_F_*, from IFA_FLAGS when present */
        uint8_t addr[16];              /* IPv4 in the first 4 bytes, rest zero */
};

struct net_msg {
        uint16_t type;                 /* RTM_{NEW,DEL}{LINK,ADDR}, NLMSG_DONE, NLMSG_ERROR */
        uint16_t nlflags;
        uint32_t seq;
        uint32_t pid;
        int error;                     /* NLMSG_ERROR/NLMSG_DONE: 0 or negative errno */
        union {
                struct net_link_info link;
                struct net_addr_info addr;
        };
};

/* Parses one netlink message of `len` bytes (len >= h->nlmsg_len is the caller's
 * check). 0 and *ret filled; -EOPNOTSUPP for messages we do not use (other families,
 * other types); -EBADMSG for malformed ones (a short header, an attribute whose length
 * is out of bounds or wrong for its type, an unterminated or overlong name). */
int net_parse_msg(const void *buf, size_t len, struct net_msg *ret);

typedef int (*net_msg_fn)(const struct net_msg *m, void *userdata);
/* Walks a datagram of netlink messages, calling fn for each usable one; malformed and
 * unused messages are skipped and counted in *ret_bad / ignored. Stops at broken
 * framing (returns -EBADMSG) or when fn returns < 0 (returned). Otherwise returns the
 * number of messages handed to fn. */
int net_parse_buffer(const void *buf, size_t len, net_msg_fn fn, void *userdata, unsigned *ret_bad);
/* A Xen devid: a plain non-negative decimal int of at most 10 digits ("0", "12"; not
 * "", "+1", "01x", "4294967296"). 0 and *ret, or -EINVAL/-ERANGE. */
int net_parse_devid(const char *s, int *ret);

/* ---- stable slots (pure) ---- */

struct net_slot {
        bool used;
        bool seen;
        uint8_t addr[16];
};

struct net_slots {
        struct net_slot *v;
        unsigned n;                    /* allocated; trailing free slots are trimmed */
};

/* Given the current addresses (in preference order), keeps each known address in its
 * slot, frees the slots of addresses no longer present, then gives each new address
 * the lowest free slot below `max`. ret_slot[i] is its slot, or -1 when no slot is
 * free (capped) or addrs[i] repeats an earlier entry. Returns 0, or -ENOMEM with the
 * slots unchanged and every new address at -1. */
int net_slots_update(struct net_slots *s, unsigned max, const uint8_t (*addrs)[16], size_t n_addrs,
                     int *ret_slot);
void net_slots_done(struct net_slots *s);

/* ---- snapshot ---- */

enum net_nic_kind {
        NET_NIC_XEN_VIF,
        NET_NIC_HYPERV_NETVSC,
        NET_NIC_OTHER,
};

struct net_addr {
        uint8_t family;
        uint8_t prefixlen;
        unsigned slot;
        uint8_t addr[16];
};

struct net_nic {
        enum net_nic_kind kind;
        int devid;                     /* Xen vif devid, -1 otherwise */
        int ifindex;
        char name[IFNAMSIZ];
        uint8_t mac[NET_HWADDR_MAX];
        uint8_t mac_len;
        char mac_str[3 * NET_HWADDR_MAX]; /* lower-case, colon-separated */
        struct net_addr *ipv4;         /* slot order; points into the snapshot */
        size_t n_ipv4;
        struct net_addr *ipv6;
        size_t n_ipv6;
};

struct net_snapshot {
        struct net_nic *nics;          /* Xen vifs by devid, then others by ifindex */
        size_t n_nics;
        struct net_addr *addrs;        /* storage for every nic's ipv4/ipv6 */
        size_t n_addrs;
};

struct net_snapshot *net_snapshot_free(struct net_snapshot *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct net_snapshot *, net_snapshot_free);
bool net_snapshot_equal(const struct net_snapshot *a, const struct net_snapshot *b);
const char *net_nic_kind_to_string(enum net_nic_kind k);
/* "192.0.2.10" / "2001:db8::10"; buf has NET_ADDRSTRLEN bytes. */
const char *net_addr_to_string(const struct net_addr *a, char buf[static NET_ADDRSTRLEN]);
/* The NIC whose MAC matches "00:15:5D:01:02:03" in any case (Hyper-V GET_IP_INFO). */
const struct net_nic *net_snapshot_find_mac(const struct net_snapshot *s, const char *mac);

/* ';'-separated addresses of one NIC, or of all NICs when nic is NULL, in snapshot and
 * slot order, IPv4 before IPv6: family AF_INET, AF_INET6 or AF_UNSPEC for both. This is
 * hv_kvp_daemon's layout for the NetworkAddressIPv4/IPv6 items and GET_IP_INFO's
 * ip_addr; with masks, the matching sub_net list (IPv4 dotted netmask, IPv6
 * "/prefixlen"). Stops before an entry that does not fit whole; returns the length. */
size_t net_format_list(const struct net_snapshot *s, const struct net_nic *nic, int family, bool masks,
                       char *buf, size_t size);

/* ---- link table (pure) ---- */

/* What sysfs says about a link: is it a NIC (has a bus device), and which. */
struct net_class {
        bool nic;
        enum net_nic_kind kind;
        int devid;
};
typedef int (*net_classify_fn)(const char *name, struct net_class *ret, void *userdata);

/* Opens ROOT/sys/class/net ("" or NULL for /) for one classification pass: an O_PATH
 * fd, or -errno. */
int net_sysfs_open(const char *root);
/* Classifies by sysfs: NAME/device/{devtype,nodename,driver} under the directory whose
 * fd `userdata` points to (an int from net_sysfs_open; -1: no link is a NIC). Never
 * fails: unreadable files mean "not that kind"; returns 0. */
int net_sysfs_classify(const char *name, struct net_class *ret, void *userdata);

/* The class rtnetlink alone decides, with no file read: true and *ret filled, or false
 * when sysfs must decide. `parents_reported`: the kernel has been seen to name links'
 * bus devices (IFLA_PARENT_DEV_NAME), so a link without one has none. Only meaningful
 * against the real /sys: a test root's fake sysfs is not what the kernel describes. */
bool net_class_from_parent(const struct net_link_info *l, bool parents_reported, struct net_class *ret);

struct net_table_options {
        unsigned max_links;
        unsigned max_addrs_per_link;
        bool ipv6_link_local;          /* report fe80::/10 (default true) */
        bool parents_from_netlink;     /* classify by net_class_from_parent where it decides */
};
#define NET_TABLE_OPTIONS_DEFAULT \
        { .max_links = NET_LINKS_MAX_DEFAULT, .max_addrs_per_link = NET_ADDRS_PER_LINK_MAX_DEFAULT, \
          .ipv6_link_local = true, .parents_from_netlink = false }

struct net_table;
int net_table_new(struct net_table **ret, const struct net_table_options *o);
struct net_table *net_table_free(struct net_table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct net_table *, net_table_free);
/* Applies an RTM_{NEW,DEL}{LINK,ADDR} message. 1 if the table changed, 0 if not,
 * -ENOMEM. Messages past a cap are dropped with a warning (returns 0). */
int net_table_apply(struct net_table *t, const struct net_msg *m);
/* Resync support: mark everything stale, apply a dump, sweep what the dump did not
 * mention. Sweeps return 1 if something was removed. Classification is kept (it is
 * redone when a link is renamed or appears under a new ifindex). */
void net_table_mark_links(struct net_table *t);
int net_table_sweep_links(struct net_table *t);
void net_table_mark_addrs(struct net_table *t);
int net_table_sweep_addrs(struct net_table *t);
size_t net_table_n_links(const struct net_table *t);
/* Classifies links not yet classified (by rtnetlink where the options allow and it
 * suffices, else by `classify`), attributes addresses to NICs by topology and assigns
 * stable slots (which live in the table, so call this once per published snapshot). */
int net_table_snapshot(struct net_table *t, net_classify_fn classify, void *userdata,
                       struct net_snapshot **ret);

/* ---- collector (sd-event) ---- */

typedef struct sd_event sd_event;
struct net_collector;

/* Called after the initial dump, then after each debounced change that alters the
 * snapshot. The snapshot stays valid until the next call or net_collector_free. */
typedef void (*net_change_fn)(struct net_collector *c, const struct net_snapshot *s, void *userdata);

struct net_collector_options {
        const char *root;              /* prefix for /sys; NULL or "" for / */
        uint64_t debounce_usec;        /* 0: NET_DEBOUNCE_USEC_DEFAULT */
        int rcvbuf;                    /* socket receive buffer; 0: 4 MiB (tests shrink it) */
        /* NULL: sysfs under root, and rtnetlink's bus devices first when root is the real
         * /sys (table.parents_from_netlink is then set for you). Otherwise called for every
         * link to classify, with table.parents_from_netlink as given. */
        net_classify_fn classify;
        void *classify_userdata;
        struct net_table_options table;
};
#define NET_COLLECTOR_OPTIONS_DEFAULT \
        { .root = NULL, .debounce_usec = 0, .rcvbuf = 0, .classify = NULL, .classify_userdata = NULL, \
          .table = NET_TABLE_OPTIONS_DEFAULT }

#define NET_COLLECTOR_RECV_BUF_SIZE (64u * 1024u)   /* one read of the rtnetlink socket */
#define NET_DUMP_REQUEST_MAX 64u
/* Writes the dump request the collector sends for RTM_GETLINK (links, no statistics) or
 * RTM_GETADDR (all families) into buf; returns its length, 0 if size is too small. */
size_t net_dump_request(uint16_t type, uint32_t seq, void *buf, size_t size);

/* Opens the rtnetlink socket, subscribes and starts the initial dump on `e`. */
int net_collector_new(struct net_collector **ret, sd_event *e, const struct net_collector_options *o,
                      net_change_fn fn, void *userdata);
struct net_collector *net_collector_free(struct net_collector *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct net_collector *, net_collector_free);
/* The last snapshot handed to the callback, NULL before the initial dump completed. */
const struct net_snapshot *net_collector_snapshot(const struct net_collector *c);
/* Re-dumps links and addresses (after resume, or whenever in doubt); the callback runs
 * if the result differs. */
int net_collector_resync(struct net_collector *c);
