/* Network facts: the rtnetlink parser on crafted (and broken) messages, stable slots,
 * the topology walk on synthetic link tables, the facts JSON and the Xen attr/vif keys. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../../transport/xenstore/xen_vif.h"
#include "pvic/log.h"
#include "pvic/net_json.h"
#include "pvic/netinfo.h"

/* ---- message builder ---- */

struct msg {
        _Alignas(4) uint8_t buf[4096];
        size_t len;                    /* whole buffer */
        size_t start;                  /* current message */
};

static void put(struct msg *m, const void *p, size_t n) {
        ck_assert_uint_le(m->len + n, sizeof m->buf);
        memcpy(m->buf + m->len, p, n);
        m->len += n;
}

static void pad(struct msg *m) {
        while (m->len % 4)
                m->buf[m->len++] = 0;
}

static void begin(struct msg *m, uint16_t type, uint16_t flags, uint32_t seq, const void *body, size_t n) {
        struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };
        m->start = m->len;
        put(m, &h, sizeof h);
        put(m, body, n);
        pad(m);
}

static void attr(struct msg *m, uint16_t type, const void *p, size_t n) {
        struct rtattr a = { .rta_len = (unsigned short) (sizeof a + n), .rta_type = type };
        put(m, &a, sizeof a);
        put(m, p, n);
        pad(m);
}

static void attr_u32(struct msg *m, uint16_t type, uint32_t v) {
        attr(m, type, &v, sizeof v);
}

static void attr_str(struct msg *m, uint16_t type, const char *s) {
        attr(m, type, s, strlen(s) + 1);
}

static void end(struct msg *m) {
        uint32_t len = (uint32_t) (m->len - m->start);
        memcpy(m->buf + m->start, &len, sizeof len);
}

static void link_msg(struct msg *m, uint16_t type, int ifindex, const char *name, int master, int lower,
                     const char *kind, const uint8_t mac[6]) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_type = ARPHRD_ETHER };
        begin(m, type, 0, 0, &ifi, sizeof ifi);
        if (name)
                attr_str(m, IFLA_IFNAME, name);
        if (mac)
                attr(m, IFLA_ADDRESS, mac, 6);
        if (master)
                attr_u32(m, IFLA_MASTER, (uint32_t) master);
        if (lower)
                attr_u32(m, IFLA_LINK, (uint32_t) lower);
        if (kind) {
                struct msg inner = {};
                attr_str(&inner, IFLA_INFO_KIND, kind);
                attr(m, IFLA_LINKINFO | NLA_F_NESTED, inner.buf, inner.len);
        }
        end(m);
}

static void addr_msg(struct msg *m, uint16_t type, int ifindex, const char *text, uint8_t prefix,
                     uint8_t scope, uint32_t flags) {
        uint8_t a[16] = {};
        int family = strchr(text, ':') ? AF_INET6 : AF_INET;
        ck_assert_int_eq(inet_pton(family, text, a), 1);
        struct ifaddrmsg ifa = { .ifa_family = (uint8_t) family, .ifa_prefixlen = prefix,
                                 .ifa_scope = scope, .ifa_index = (uint32_t) ifindex };
        begin(m, type, 0, 0, &ifa, sizeof ifa);
        attr(m, IFA_ADDRESS, a, family == AF_INET ? 4 : 16);
        attr_u32(m, IFA_FLAGS, flags);
        end(m);
}

static int parse1(const struct msg *m, struct net_msg *ret) {
        return net_parse_msg(m->buf, m->len, ret);
}

/* ---- parser ---- */

START_TEST(test_parse_link) {
        static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0, 0, 1 };
        struct msg m = {};
        struct net_msg r;

        link_msg(&m, RTM_NEWLINK, 7, "enX0", 9, 3, "vlan", mac);
        ck_assert_int_eq(parse1(&m, &r), 0);
        ck_assert_int_eq(r.type, RTM_NEWLINK);
        ck_assert_int_eq(r.link.ifindex, 7);
        ck_assert_str_eq(r.link.name, "enX0");
        ck_assert_int_eq(r.link.master, 9);
        ck_assert_int_eq(r.link.link, 3);
        ck_assert_str_eq(r.link.kind, "vlan");
        ck_assert_int_eq(r.link.mac_len, 6);
        ck_assert_mem_eq(r.link.mac, mac, 6);

        /* A lower device in another netns: its index is not ours to follow. */
        m = (struct msg) {};
        struct ifinfomsg ifi = { .ifi_index = 4 };
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, "veth0");
        attr_u32(&m, IFLA_LINK, 2);
        attr_u32(&m, IFLA_LINK_NETNSID, 0);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), 0);
        ck_assert_int_eq(r.link.link, 0);

        /* Bridge-port messages are not link lifecycle messages. */
        m = (struct msg) {};
        ifi = (struct ifinfomsg) { .ifi_family = AF_BRIDGE, .ifi_index = 4 };
        begin(&m, RTM_DELLINK, 0, 0, &ifi, sizeof ifi);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_parse_addr) {
        struct msg m = {};
        struct net_msg r;

        addr_msg(&m, RTM_NEWADDR, 3, "2001:db8::10", 64, RT_SCOPE_UNIVERSE, IFA_F_TENTATIVE | 0x100);
        ck_assert_int_eq(parse1(&m, &r), 0);
        ck_assert_int_eq(r.addr.family, AF_INET6);
        ck_assert_int_eq(r.addr.prefixlen, 64);
        ck_assert_uint_eq(r.addr.flags, IFA_F_TENTATIVE | 0x100);    /* IFA_FLAGS wins */

        /* Point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer. */
        m = (struct msg) {};
        struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = 5 };
        uint8_t local[4] = { 10, 0, 0, 1 }, peer[4] = { 10, 0, 0, 2 };
        begin(&m, RTM_NEWADDR, 0, 0, &ifa, sizeof ifa);
        attr(&m, IFA_ADDRESS, peer, 4);
        attr(&m, IFA_LOCAL, local, 4);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), 0);
        ck_assert_mem_eq(r.addr.addr, local, 4);

        /* Other families are skipped, not errors. */
        m = (struct msg) {};
        ifa.ifa_family = AF_PACKET;
        begin(&m, RTM_NEWADDR, 0, 0, &ifa, sizeof ifa);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_parse_malformed) {
        struct msg m = {};
        struct net_msg r;
        struct ifinfomsg ifi = { .ifi_index = 2 };
        struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = 2 };
        uint8_t six[6] = {}, big[40] = {};

        /* Attribute length past the end of the message. */
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, "eth0");
        end(&m);
        struct rtattr bad = { .rta_len = 200, .rta_type = IFLA_MTU };
        memcpy(m.buf + NLMSG_LENGTH(sizeof ifi), &bad, sizeof bad);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* Attribute length below its own header. */
        bad.rta_len = 2;
        memcpy(m.buf + NLMSG_LENGTH(sizeof ifi), &bad, sizeof bad);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* A truncated attribute header (2 stray bytes at the end). */
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, "eth0");
        m.buf[m.len++] = 8;
        m.buf[m.len++] = 0;
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* u32 attributes of the wrong size. */
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr(&m, IFLA_MASTER, six, 6);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* Names: unterminated, overlong, empty. */
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr(&m, IFLA_IFNAME, "eth0", 4);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, "0123456789abcdef");
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, "");
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* Oversized hardware address and kind. */
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr(&m, IFLA_ADDRESS, big, sizeof big);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);
        m = (struct msg) {};
        struct msg inner = {};
        attr_str(&inner, IFLA_INFO_KIND, "averyveryverylongkind");
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr(&m, IFLA_LINKINFO, inner.buf, inner.len);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* A nested attribute overrunning its parent. */
        m = (struct msg) {};
        inner = (struct msg) {};
        attr_str(&inner, IFLA_INFO_KIND, "vlan");
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr(&m, IFLA_LINKINFO, inner.buf, 6);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* Addresses: wrong length for the family, prefix too long, none at all. */
        m = (struct msg) {};
        begin(&m, RTM_NEWADDR, 0, 0, &ifa, sizeof ifa);
        attr(&m, IFA_ADDRESS, six, 6);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);
        m = (struct msg) {};
        ifa.ifa_prefixlen = 33;
        begin(&m, RTM_NEWADDR, 0, 0, &ifa, sizeof ifa);
        attr(&m, IFA_ADDRESS, six, 4);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);
        m = (struct msg) {};
        ifa.ifa_prefixlen = 24;
        begin(&m, RTM_NEWADDR, 0, 0, &ifa, sizeof ifa);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);

        /* Headers shorter than their structs. */
        m = (struct msg) {};
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, 4);
        end(&m);
        m.len = m.start + NLMSG_HDRLEN + 4;
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), -EBADMSG);
        ck_assert_int_eq(net_parse_msg(m.buf, 10, &r), -EBADMSG);
}
END_TEST

static int count_cb(const struct net_msg *m, void *userdata) {
        (*(int *) userdata)++;
        return 0;
}

START_TEST(test_parse_buffer) {
        struct msg m = {};
        struct ifinfomsg ifi = { .ifi_index = 2 };
        unsigned bad = 99;
        int n = 0;

        link_msg(&m, RTM_NEWLINK, 2, "a", 0, 0, NULL, NULL);
        /* A malformed message between good ones is skipped, not fatal. */
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        attr(&m, IFLA_IFNAME, "xx", 2);
        end(&m);
        link_msg(&m, RTM_NEWLINK, 3, "b", 0, 0, NULL, NULL);
        /* The last attribute of the last message without its padding. */
        begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof ifi);
        struct rtattr a = { .rta_len = 6, .rta_type = IFLA_IFNAME };
        put(&m, &a, sizeof a);
        m.buf[m.len++] = 'x';
        m.buf[m.len++] = 0;
        end(&m);
        ck_assert_int_eq(net_parse_buffer(m.buf, m.len, count_cb, &n, &bad), 3);
        ck_assert_int_eq(n, 3);
        ck_assert_uint_eq(bad, 1);

        /* A frame claiming more than the datagram holds ends the walk. */
        uint32_t huge = (uint32_t) m.len + 100;
        memcpy(m.buf, &huge, sizeof huge);
        n = 0;
        ck_assert_int_eq(net_parse_buffer(m.buf, m.len, count_cb, &n, &bad), -EBADMSG);
        ck_assert_int_eq(n, 0);
        ck_assert_int_eq(net_parse_buffer(m.buf, 7, count_cb, &n, &bad), -EBADMSG);

        /* Errors and ends of dumps. */
        m = (struct msg) {};
        int err = -EBUSY;
        begin(&m, NLMSG_ERROR, 0, 42, &err, sizeof err);
        end(&m);
        struct net_msg r;
        ck_assert_int_eq(parse1(&m, &r), 0);
        ck_assert_int_eq(r.error, -EBUSY);
        ck_assert_uint_eq(r.seq, 42);
        m = (struct msg) {};
        err = 0;
        begin(&m, NLMSG_DONE, NLM_F_MULTI, 43, &err, sizeof err);
        end(&m);
        ck_assert_int_eq(parse1(&m, &r), 0);
        ck_assert_int_eq(r.type, NLMSG_DONE);
        ck_assert_int_eq(r.error, 0);
}
END_TEST

/* ---- slots ---- */

static void a4(uint8_t out[16], uint8_t last) {
        memset(out, 0, 16);
        out[0] = 192;
        out[3] = last;
}

START_TEST(test_slots) {
        struct net_slots s = {};
        uint8_t v[4][16];
        int slot[4];

        a4(v[0], 1), a4(v[1], 2), a4(v[2], 3);
        ck_assert_int_eq(net_slots_update(&s, 10, (const uint8_t (*)[16]) v, 3, slot), 0);
        ck_assert_int_eq(slot[0], 0);
        ck_assert_int_eq(slot[1], 1);
        ck_assert_int_eq(slot[2], 2);

        /* .1 goes, .3 stays in slot 2 even though it is now listed first. */
        memcpy(v[0], v[2], 16);
        a4(v[1], 2);
        ck_assert_int_eq(net_slots_update(&s, 10, (const uint8_t (*)[16]) v, 2, slot), 0);
        ck_assert_int_eq(slot[0], 2);
        ck_assert_int_eq(slot[1], 1);

        /* A new address takes the lowest free slot (0), the next one 3. */
        a4(v[2], 4), a4(v[3], 5);
        ck_assert_int_eq(net_slots_update(&s, 10, (const uint8_t (*)[16]) v, 4, slot), 0);
        ck_assert_int_eq(slot[0], 2);
        ck_assert_int_eq(slot[1], 1);
        ck_assert_int_eq(slot[2], 0);
        ck_assert_int_eq(slot[3], 3);

        /* A removal and an addition in the same update: the new one reuses the slot. */
        a4(v[3], 6);
        ck_assert_int_eq(net_slots_update(&s, 10, (const uint8_t (*)[16]) v, 4, slot), 0);
        ck_assert_int_eq(slot[3], 3);

        /* Repeats get no slot; a full table gives -1 and keeps the others. */
        memcpy(v[1], v[0], 16);
        ck_assert_int_eq(net_slots_update(&s, 10, (const uint8_t (*)[16]) v, 2, slot), 0);
        ck_assert_int_eq(slot[0], 2);
        ck_assert_int_eq(slot[1], -1);
        a4(v[1], 7), a4(v[2], 8), a4(v[3], 9);
        ck_assert_int_eq(net_slots_update(&s, 3, (const uint8_t (*)[16]) v, 4, slot), 0);
        ck_assert_int_eq(slot[0], 2);
        ck_assert_int_eq(slot[1], 0);
        ck_assert_int_eq(slot[2], 1);
        ck_assert_int_eq(slot[3], -1);

        /* Empty: everything freed (and the memory with it). */
        ck_assert_int_eq(net_slots_update(&s, 10, NULL, 0, slot), 0);
        ck_assert_uint_eq(s.n, 0);
        ck_assert_ptr_null(s.v);
        net_slots_done(&s);
}
END_TEST

/* ---- topology on a synthetic table ---- */

/* Fake sysfs: links named in the table below are NICs. */
static const struct {
        const char *name;
        struct net_class cls;
} nic_names[] = {
        { "enX0", { true, NET_NIC_XEN_VIF, 0 } },
        { "enX3", { true, NET_NIC_XEN_VIF, 3 } },
        { "enX5", { true, NET_NIC_XEN_VIF, 5 } },
        { "hv0", { true, NET_NIC_HYPERV_NETVSC, -1 } },
        { "vf0", { true, NET_NIC_OTHER, -1 } },
        { "virtio0", { true, NET_NIC_OTHER, -1 } },
};
static unsigned classify_calls;

static int fake_classify(const char *name, struct net_class *ret, void *userdata) {
        classify_calls++;
        *ret = (struct net_class) { .kind = NET_NIC_OTHER, .devid = -1 };
        for (size_t i = 0; i < ELEMENTSOF(nic_names); i++)
                if (strcmp(name, nic_names[i].name) == 0)
                        *ret = nic_names[i].cls;
        return 0;
}

static void feed(struct net_table *t, const struct msg *m) {
        struct net_msg r;
        ck_assert_int_eq(net_parse_msg(m->buf, m->len, &r), 0);
        ck_assert_int_ge(net_table_apply(t, &r), 0);
}

static void add_link(struct net_table *t, int ifindex, const char *name, int master, int lower, const char *kind) {
        static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc };
        struct msg m = {};
        link_msg(&m, RTM_NEWLINK, ifindex, name, master, lower, kind, mac);
        feed(t, &m);
}

static void add_addr(struct net_table *t, int ifindex, const char *a, uint8_t prefix) {
        struct msg m = {};
        addr_msg(&m, RTM_NEWADDR, ifindex, a, prefix, strncmp(a, "fe80", 4) == 0 ? RT_SCOPE_LINK : 0, 0);
        feed(t, &m);
}

static void del_addr(struct net_table *t, int ifindex, const char *a, uint8_t prefix) {
        struct msg m = {};
        addr_msg(&m, RTM_DELADDR, ifindex, a, prefix, 0, 0);
        feed(t, &m);
}

static const struct net_nic *nic_by_name(const struct net_snapshot *s, const char *name) {
        for (size_t i = 0; i < s->n_nics; i++)
                if (strcmp(s->nics[i].name, name) == 0)
                        return &s->nics[i];
        return NULL;
}

static bool has(const struct net_addr *v, size_t n, const char *text) {
        char buf[NET_ADDRSTRLEN];
        for (size_t i = 0; i < n; i++)
                if (strcmp(net_addr_to_string(&v[i], buf), text) == 0)
                        return true;
        return false;
}

static bool snapshot_has(const struct net_snapshot *s, const char *text) {
        for (size_t i = 0; i < s->n_nics; i++)
                if (has(s->nics[i].ipv4, s->nics[i].n_ipv4, text) || has(s->nics[i].ipv6, s->nics[i].n_ipv6, text))
                        return true;
        return false;
}

static struct net_snapshot *snap(struct net_table *t) {
        struct net_snapshot *s = NULL;
        ck_assert_int_eq(net_table_snapshot(t, fake_classify, NULL, &s), 0);
        ck_assert_ptr_nonnull(s);
        return s;
}

START_TEST(test_topology) {
        _cleanup_(net_table_freep) struct net_table *t = NULL;
        ck_assert_int_eq(net_table_new(&t, NULL), 0);

        add_link(t, 1, "lo", 0, 0, NULL);
        add_link(t, 2, "enX0", 10, 0, NULL);          /* vif 0, port of br0 */
        add_link(t, 3, "enX3", 11, 0, NULL);          /* vif 3 and 5 bonded */
        add_link(t, 4, "enX5", 11, 0, NULL);
        add_link(t, 10, "br0", 0, 0, "bridge");
        add_link(t, 11, "bond0", 0, 0, "bond");
        add_link(t, 12, "bond0.7", 0, 11, "vlan");     /* vlan on the bond */
        add_link(t, 13, "mv0", 0, 12, "macvlan");      /* macvlan on the vlan */
        add_link(t, 20, "docker0", 0, 0, "bridge");
        add_link(t, 21, "veth1", 20, 22, "veth");
        add_link(t, 22, "ceth1", 0, 21, "veth");       /* peer in the same netns */
        add_link(t, 23, "eth9", 0, 0, "veth");         /* a NIC-like name on a veth */
        add_link(t, 30, "br1", 0, 0, "bridge");        /* a bridge over a veth whose peer... */
        add_link(t, 31, "vethA", 30, 32, "veth");
        add_link(t, 32, "vethB", 10, 31, "veth");      /* ...is a port of br0 */

        struct msg m = {};
        addr_msg(&m, RTM_NEWADDR, 1, "127.0.0.1", 8, RT_SCOPE_HOST, 0);
        feed(t, &m);
        add_addr(t, 10, "192.0.2.10", 24);
        add_addr(t, 10, "2001:db8::10", 64);
        add_addr(t, 10, "fe80::1", 64);
        add_addr(t, 10, "169.254.3.4", 16);
        add_addr(t, 12, "198.51.100.7", 24);
        add_addr(t, 13, "203.0.113.9", 24);
        add_addr(t, 20, "10.99.0.1", 16);
        add_addr(t, 21, "10.99.0.2", 16);
        add_addr(t, 22, "10.99.0.3", 16);
        add_addr(t, 23, "10.99.0.4", 16);
        add_addr(t, 30, "10.98.0.1", 16);
        m = (struct msg) {};
        addr_msg(&m, RTM_NEWADDR, 10, "2001:db8::99", 64, 0, IFA_F_TENTATIVE);
        feed(t, &m);
        m = (struct msg) {};
        addr_msg(&m, RTM_NEWADDR, 10, "2001:db8::98", 64, 0, IFA_F_DADFAILED);
        feed(t, &m);

        _cleanup_(net_snapshot_freep) struct net_snapshot *s = snap(t);
        ck_assert_uint_eq(s->n_nics, 3);
        /* Vifs in devid order. */
        ck_assert_int_eq(s->nics[0].devid, 0);
        ck_assert_int_eq(s->nics[1].devid, 3);
        ck_assert_int_eq(s->nics[2].devid, 5);
        ck_assert_str_eq(s->nics[0].mac_str, "00:16:3e:aa:bb:cc");

        const struct net_nic *v0 = &s->nics[0], *v3 = &s->nics[1], *v5 = &s->nics[2];
        ck_assert(has(v0->ipv4, v0->n_ipv4, "192.0.2.10"));
        ck_assert_uint_eq(v0->n_ipv4, 1);                     /* not 169.254 */
        ck_assert(has(v0->ipv6, v0->n_ipv6, "2001:db8::10"));
        ck_assert(has(v0->ipv6, v0->n_ipv6, "fe80::1"));
        ck_assert_uint_eq(v0->n_ipv6, 2);                     /* not tentative/dadfailed */
        /* Global before link-local among simultaneous arrivals. */
        ck_assert_uint_eq(v0->ipv6[0].slot, 0);
        ck_assert(has(v0->ipv6, 1, "2001:db8::10"));
        /* vlan on bond of vif 3 and 5: lowest devid; macvlan on top too. */
        ck_assert(has(v3->ipv4, v3->n_ipv4, "198.51.100.7"));
        ck_assert(has(v3->ipv4, v3->n_ipv4, "203.0.113.9"));
        ck_assert_uint_eq(v5->n_ipv4, 0);
        /* Nothing from docker, veths, loopback, or a bridge whose veth peers with br0. */
        ck_assert(!snapshot_has(s, "10.99.0.1") && !snapshot_has(s, "10.99.0.2"));
        ck_assert(!snapshot_has(s, "10.99.0.3") && !snapshot_has(s, "10.99.0.4"));
        ck_assert(!snapshot_has(s, "10.98.0.1"));
        ck_assert(!snapshot_has(s, "127.0.0.1"));

        /* Same table, same snapshot; classification is cached. */
        unsigned calls = classify_calls;
        _cleanup_(net_snapshot_freep) struct net_snapshot *s2 = snap(t);
        ck_assert(net_snapshot_equal(s, s2));
        ck_assert_uint_eq(classify_calls, calls);

        /* Remove the first address; the second keeps slot 1, a new one takes slot 0. */
        add_addr(t, 10, "192.0.2.11", 24);
        net_snapshot_free(s2);
        s2 = snap(t);
        ck_assert_uint_eq(s2->nics[0].ipv4[1].slot, 1);
        del_addr(t, 10, "192.0.2.10", 24);
        net_snapshot_free(s2);
        s2 = snap(t);
        ck_assert_uint_eq(s2->nics[0].n_ipv4, 1);
        ck_assert_uint_eq(s2->nics[0].ipv4[0].slot, 1);
        add_addr(t, 2, "192.0.2.12", 24);                     /* on the vif itself */
        net_snapshot_free(s2);
        s2 = snap(t);
        ck_assert_uint_eq(s2->nics[0].n_ipv4, 2);
        ck_assert(has(s2->nics[0].ipv4, 1, "192.0.2.12"));
        ck_assert_uint_eq(s2->nics[0].ipv4[0].slot, 0);
        ck_assert(!net_snapshot_equal(s, s2));

        /* A bridge-port DELLINK (AF_BRIDGE) is not a link removal. */
        m = (struct msg) {};
        struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE, .ifi_index = 2 };
        begin(&m, RTM_DELLINK, 0, 0, &ifi, sizeof ifi);
        end(&m);
        struct net_msg r;
        ck_assert_int_eq(net_parse_msg(m.buf, m.len, &r), -EOPNOTSUPP);

        /* The vif leaves the bridge: br0's addresses have no NIC below any more. */
        add_link(t, 2, "enX0", 0, 0, NULL);
        net_snapshot_free(s2);
        s2 = snap(t);
        ck_assert(!snapshot_has(s2, "2001:db8::10"));
        ck_assert(snapshot_has(s2, "192.0.2.12"));

        /* A renamed link is classified again. */
        calls = classify_calls;
        add_link(t, 23, "virtio0", 0, 0, NULL);
        net_snapshot_free(s2);
        s2 = snap(t);
        ck_assert_uint_eq(classify_calls, calls + 1);
        ck_assert_ptr_nonnull(nic_by_name(s2, "virtio0"));
        ck_assert(snapshot_has(s2, "10.99.0.4"));
        ck_assert_int_eq(nic_by_name(s2, "virtio0")->kind, NET_NIC_OTHER);
        ck_assert_int_eq(nic_by_name(s2, "virtio0")->devid, -1);

        /* DELLINK removes the link and its addresses. */
        m = (struct msg) {};
        link_msg(&m, RTM_DELLINK, 23, "virtio0", 0, 0, NULL, NULL);
        feed(t, &m);
        net_snapshot_free(s2);
        s2 = snap(t);
        ck_assert_ptr_null(nic_by_name(s2, "virtio0"));
}
END_TEST

START_TEST(test_topology_loops_and_vf) {
        _cleanup_(net_table_freep) struct net_table *t = NULL;
        struct net_table_options o = NET_TABLE_OPTIONS_DEFAULT;
        o.ipv6_link_local = false;
        ck_assert_int_eq(net_table_new(&t, &o), 0);

        /* Masters in a cycle and a vlan on itself: terminate, attribute nothing. */
        add_link(t, 2, "a", 3, 0, "bridge");
        add_link(t, 3, "b", 2, 0, "bridge");
        add_link(t, 4, "v", 0, 4, "vlan");
        add_link(t, 5, "m", 0, 6, "macvlan");
        add_link(t, 6, "n", 0, 5, "macvlan");
        add_addr(t, 2, "192.0.2.1", 24);
        add_addr(t, 4, "192.0.2.2", 24);
        add_addr(t, 5, "192.0.2.3", 24);
        /* Hyper-V accelerated networking: the VF is enslaved to netvsc. */
        add_link(t, 7, "hv0", 0, 0, NULL);
        add_link(t, 8, "vf0", 7, 0, NULL);
        add_addr(t, 7, "192.0.2.4", 24);
        add_addr(t, 7, "fe80::4", 64);
        add_addr(t, 7, "2001:db8::4", 64);

        _cleanup_(net_snapshot_freep) struct net_snapshot *s = snap(t);
        ck_assert_uint_eq(s->n_nics, 1);
        ck_assert_int_eq(s->nics[0].kind, NET_NIC_HYPERV_NETVSC);
        ck_assert_int_eq(s->nics[0].devid, -1);
        ck_assert_uint_eq(s->nics[0].n_ipv4, 1);
        ck_assert_uint_eq(s->nics[0].n_ipv6, 1);              /* link-local off */
        ck_assert_ptr_eq(net_snapshot_find_mac(s, "00:16:3E:AA:BB:CC"), &s->nics[0]);
        ck_assert_ptr_null(net_snapshot_find_mac(s, "00:16:3E:AA:BB:CD"));
}
END_TEST

START_TEST(test_caps_and_sweep) {
        _cleanup_(net_table_freep) struct net_table *t = NULL;
        struct net_table_options o = { .max_links = 3, .max_addrs_per_link = 70, .ipv6_link_local = true };
        ck_assert_int_eq(net_table_new(&t, &o), 0);

        add_link(t, 2, "enX0", 0, 0, NULL);
        add_link(t, 3, "br0", 0, 0, "bridge");
        add_link(t, 4, "enX3", 3, 0, NULL);
        add_link(t, 5, "enX5", 0, 0, NULL);            /* over the link cap */
        ck_assert_uint_eq(net_table_n_links(t), 3);

        char a[32];
        for (int i = 0; i < 70; i++) {
                snprintf(a, sizeof a, "10.0.%d.%d", i / 200, i % 200 + 1);
                add_addr(t, 2, a, 16);
        }
        add_addr(t, 2, "10.1.0.1", 16);                 /* over the address cap */
        add_addr(t, 3, "192.0.2.1", 24);
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = snap(t);
        ck_assert_uint_eq(s->n_nics, 2);
        ck_assert_uint_eq(s->nics[0].n_ipv4, NET_SLOTS_MAX);  /* 70 stored, 64 slotted */
        ck_assert(!snapshot_has(s, "10.1.0.1"));
        ck_assert(snapshot_has(s, "192.0.2.1"));
        for (size_t i = 0; i < s->nics[0].n_ipv4; i++)
                ck_assert_uint_eq(s->nics[0].ipv4[i].slot, i);

        /* A re-dump that no longer mentions br0 or most addresses sweeps them. */
        net_table_mark_links(t);
        add_link(t, 2, "enX0", 0, 0, NULL);
        add_link(t, 4, "enX3", 0, 0, NULL);
        ck_assert_int_eq(net_table_sweep_links(t), 1);
        ck_assert_uint_eq(net_table_n_links(t), 2);
        net_table_mark_addrs(t);
        add_addr(t, 2, "10.0.0.5", 16);
        ck_assert_int_eq(net_table_sweep_addrs(t), 1);
        ck_assert_int_eq(net_table_sweep_addrs(t), 0);
        net_snapshot_free(s);
        s = snap(t);
        ck_assert_uint_eq(s->nics[0].n_ipv4, 1);
        ck_assert_uint_eq(s->nics[0].ipv4[0].slot, 4);        /* it kept its slot */
        ck_assert(!snapshot_has(s, "192.0.2.1"));
}
END_TEST

/* ---- presentations ---- */

static struct net_snapshot *sample(void) {
        struct net_table *t = NULL;
        ck_assert_int_eq(net_table_new(&t, NULL), 0);
        add_link(t, 2, "enX3", 0, 0, NULL);
        add_link(t, 3, "enX0", 0, 0, NULL);
        add_link(t, 4, "virtio0", 0, 0, NULL);
        add_link(t, 5, "enX5", 0, 0, NULL);
        char a[32];
        for (int i = 1; i <= 12; i++) {
                snprintf(a, sizeof a, "192.0.2.%d", i);
                add_addr(t, 2, a, 24);
        }
        add_addr(t, 2, "2001:db8::1", 64);
        add_addr(t, 3, "198.51.100.1", 24);
        add_addr(t, 4, "203.0.113.1", 24);
        struct net_snapshot *s = snap(t);
        net_table_free(t);
        return s;
}

START_TEST(test_xen_vif_keys) {
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = sample();
        struct xen_vif_kv kv[64];

        size_t n = xen_vif_keys(s, kv, ELEMENTSOF(kv));
        /* vif 0: node + 1; vif 3: node + 10 ipv4 (12 capped) + 1 ipv6; vif 5: node. */
        ck_assert_uint_eq(n, 2 + 12 + 1);
        ck_assert_str_eq(kv[0].key, "attr/vif/0");
        ck_assert_str_eq(kv[0].value, "");
        ck_assert_str_eq(kv[1].key, "attr/vif/0/ipv4/0");
        ck_assert_str_eq(kv[1].value, "198.51.100.1");
        ck_assert_str_eq(kv[2].key, "attr/vif/3");
        ck_assert_str_eq(kv[3].key, "attr/vif/3/ipv4/0");
        ck_assert_str_eq(kv[3].value, "192.0.2.1");
        ck_assert_str_eq(kv[12].key, "attr/vif/3/ipv4/9");
        ck_assert_str_eq(kv[12].value, "192.0.2.10");
        ck_assert_str_eq(kv[13].key, "attr/vif/3/ipv6/0");
        ck_assert_str_eq(kv[13].value, "2001:db8::1");
        ck_assert_str_eq(kv[14].key, "attr/vif/5");
        for (size_t i = 0; i < n; i++)
                ck_assert(strstr(kv[i].value, "203.0.113") == NULL);  /* not a vif */

        /* Short output: the count still tells the caller how much it needs. */
        ck_assert_uint_eq(xen_vif_keys(s, kv, 2), n);
        ck_assert_uint_eq(xen_vif_keys(NULL, kv, 2), 0);

        /* A second NIC claiming a devid already published is skipped. */
        s->nics[2].devid = 3;
        ck_assert_uint_eq(xen_vif_keys(s, kv, ELEMENTSOF(kv)), n - 1);
}
END_TEST

START_TEST(test_json) {
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = sample();
        json_object *j = net_snapshot_to_json(s);

        ck_assert_uint_eq(json_object_array_length(j), 4);
        json_object *v0 = json_object_array_get_idx(j, 0), *x;
        ck_assert(json_object_object_get_ex(v0, "kind", &x));
        ck_assert_str_eq(json_object_get_string(x), "xen-vif");
        ck_assert(json_object_object_get_ex(v0, "devid", &x));
        ck_assert_int_eq(json_object_get_int(x), 0);
        ck_assert(json_object_object_get_ex(v0, "ipv4", &x));
        ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(x, 0)), "198.51.100.1");
        ck_assert(json_object_object_get_ex(v0, "ipv4_prefix", &x));
        ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(x, 0)), 24);
        /* Byte for byte what it was before repeated values were shared. */
        ck_assert_str_eq(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
                         "[{\"name\":\"enX0\",\"mac\":\"00:16:3e:aa:bb:cc\",\"kind\":\"xen-vif\",\"devid\":0,"
                         "\"ipv4\":[\"198.51.100.1\"],\"ipv4_prefix\":[24],\"ipv4_slot\":[0],"
                         "\"ipv6\":[],\"ipv6_prefix\":[],\"ipv6_slot\":[]},"
                         "{\"name\":\"enX3\",\"mac\":\"00:16:3e:aa:bb:cc\",\"kind\":\"xen-vif\",\"devid\":3,"
                         "\"ipv4\":[\"192.0.2.1\",\"192.0.2.2\",\"192.0.2.3\",\"192.0.2.4\",\"192.0.2.5\",\"192.0.2.6\","
                         "\"192.0.2.7\",\"192.0.2.8\",\"192.0.2.9\",\"192.0.2.10\",\"192.0.2.11\",\"192.0.2.12\"],"
                         "\"ipv4_prefix\":[24,24,24,24,24,24,24,24,24,24,24,24],"
                         "\"ipv4_slot\":[0,1,2,3,4,5,6,7,8,9,10,11],"
                         "\"ipv6\":[\"2001:db8::1\"],\"ipv6_prefix\":[64],\"ipv6_slot\":[0]},"
                         "{\"name\":\"enX5\",\"mac\":\"00:16:3e:aa:bb:cc\",\"kind\":\"xen-vif\",\"devid\":5,"
                         "\"ipv4\":[],\"ipv4_prefix\":[],\"ipv4_slot\":[],\"ipv6\":[],\"ipv6_prefix\":[],\"ipv6_slot\":[]},"
                         "{\"name\":\"virtio0\",\"mac\":\"00:16:3e:aa:bb:cc\",\"kind\":\"other\",\"devid\":-1,"
                         "\"ipv4\":[\"203.0.113.1\"],\"ipv4_prefix\":[24],\"ipv4_slot\":[0],"
                         "\"ipv6\":[],\"ipv6_prefix\":[],\"ipv6_slot\":[]}]");
        json_object *other = json_object_array_get_idx(j, 3);
        ck_assert(json_object_object_get_ex(other, "kind", &x));
        ck_assert_str_eq(json_object_get_string(x), "other");
        ck_assert(json_object_object_get_ex(other, "devid", &x));
        ck_assert_int_eq(json_object_get_int(x), -1);
        json_object_put(j);

        j = net_snapshot_to_json(NULL);
        ck_assert_uint_eq(json_object_array_length(j), 0);
        json_object_put(j);
}
END_TEST

START_TEST(test_format_list) {
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = sample();
        char buf[2048];

        ck_assert_uint_eq(net_format_list(s, &s->nics[0], AF_UNSPEC, false, buf, sizeof buf), strlen(buf));
        ck_assert_str_eq(buf, "198.51.100.1");
        net_format_list(s, &s->nics[1], AF_INET6, false, buf, sizeof buf);
        ck_assert_str_eq(buf, "2001:db8::1");
        net_format_list(s, &s->nics[1], AF_UNSPEC, true, buf, sizeof buf);
        ck_assert(strncmp(buf, "255.255.255.0;255.255.255.0;", 28) == 0);
        ck_assert(strstr(buf, ";/64") != NULL);
        net_format_list(s, NULL, AF_INET, false, buf, sizeof buf);
        ck_assert(strncmp(buf, "198.51.100.1;192.0.2.1;192.0.2.2;", 33) == 0);
        ck_assert(strstr(buf, "203.0.113.1") != NULL);
        ck_assert(strstr(buf, "2001:") == NULL);
        /* Never a partial address. */
        ck_assert_uint_eq(net_format_list(s, NULL, AF_INET, false, buf, 20), 12);
        ck_assert_str_eq(buf, "198.51.100.1");
        ck_assert_uint_eq(net_format_list(s, NULL, AF_INET, false, buf, 12), 0);
        ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("net");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_parse_link);
        tcase_add_test(tc, test_parse_addr);
        tcase_add_test(tc, test_parse_malformed);
        tcase_add_test(tc, test_parse_buffer);
        tcase_add_test(tc, test_slots);
        tcase_add_test(tc, test_topology);
        tcase_add_test(tc, test_topology_loops_and_vf);
        tcase_add_test(tc, test_caps_and_sweep);
        tcase_add_test(tc, test_xen_vif_keys);
        tcase_add_test(tc, test_json);
        tcase_add_test(tc, test_format_list);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        log_set_target_journal(0);
        log_set_max_level(LOG_ERR);
        SRunner *sr = srunner_create(suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
