/* Which links are NICs: rtnetlink's bus-device attributes in the parser, the rules that
 * decide from them alone, the table using them before its classifier, sysfs on a fake
 * tree, and (on this machine, where the kernel reports bus devices) the two agreeing
 * about every link of the real /sys. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvic/log.h"
#include "pvic/netinfo.h"

/* ---- message builder (as in test-net.c) ---- */

struct msg {
        _Alignas(4) uint8_t buf[1024];
        size_t len;
};

static void put(struct msg *m, const void *p, size_t n) {
        ck_assert_uint_le(m->len + n, sizeof m->buf);
        memcpy(m->buf + m->len, p, n);
        m->len += n;
        while (m->len % 4)
                m->buf[m->len++] = 0;
}

static void attr(struct msg *m, uint16_t type, const void *p, size_t n) {
        struct rtattr a = { .rta_len = (unsigned short) (sizeof a + n), .rta_type = type };
        put(m, &a, sizeof a);
        put(m, p, n);
}

static void attr_str(struct msg *m, uint16_t type, const char *s) {
        attr(m, type, s, strlen(s) + 1);
}

/* A NEWLINK with name and, when given, a parent device and its bus (in that order, or
 * bus first with `bus_first`). */
static struct msg link_msg(int ifindex, const char *name, const char *parent, const char *bus, bool bus_first) {
        struct msg m = {};
        struct nlmsghdr h = { .nlmsg_type = RTM_NEWLINK };
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_type = ARPHRD_ETHER };
        put(&m, &h, sizeof h);
        put(&m, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, name);
        if (bus && bus_first)
                attr_str(&m, IFLA_PARENT_DEV_BUS_NAME, bus);
        if (parent)
                attr_str(&m, IFLA_PARENT_DEV_NAME, parent);
        if (bus && !bus_first)
                attr_str(&m, IFLA_PARENT_DEV_BUS_NAME, bus);
        uint32_t len = (uint32_t) m.len;
        memcpy(m.buf, &len, sizeof len);
        return m;
}

static struct net_link_info parse_link(int ifindex, const char *name, const char *parent, const char *bus) {
        struct msg m = link_msg(ifindex, name, parent, bus, false);
        struct net_msg r;
        ck_assert_int_eq(net_parse_msg(m.buf, m.len, &r), 0);
        return r.link;
}

/* ---- parser ---- */

START_TEST(test_parse_parent) {
        struct net_link_info l = parse_link(2, "enX3", "vif-3", "xen");
        ck_assert(l.parent);
        ck_assert_int_eq(l.parent_vif, 3);

        /* Attribute order does not matter. */
        struct msg m = link_msg(2, "enX3", "vif-12", "xen", true);
        struct net_msg r;
        ck_assert_int_eq(net_parse_msg(m.buf, m.len, &r), 0);
        ck_assert_int_eq(r.link.parent_vif, 12);

        /* Other buses and names: a bus device, not a vif. */
        static const char *const not_vif[][2] = {
                { "000d3a6e-1234-5678-9abc-def012345678", "vmbus" },
                { "virtio2", "virtio" },
                { "0000:00:03.0", "pci" },
                { "vif-1-0", "xen-backend" },      /* dom0's backend side */
                { "vbd-768", "xen" },
                { "vif-", "xen" },
                { "vif-01x", "xen" },
                { "vif--1", "xen" },
                { "vif-4294967296", "xen" },
                { "vif-3", "Xen" },
        };
        for (size_t i = 0; i < ELEMENTSOF(not_vif); i++) {
                l = parse_link(2, "eth0", not_vif[i][0], not_vif[i][1]);
                ck_assert_msg(l.parent, "%s", not_vif[i][0]);
                ck_assert_int_eq(l.parent_vif, -1);
        }
        /* A parent without a bus (a class device), or a bus without a parent. */
        l = parse_link(2, "eth0", "vif-3", NULL);
        ck_assert(l.parent);
        ck_assert_int_eq(l.parent_vif, -1);
        l = parse_link(2, "eth0", NULL, "xen");
        ck_assert(!l.parent);
        ck_assert_int_eq(l.parent_vif, -1);
        /* No parent at all: a software link (or a kernel before 5.14). */
        l = parse_link(2, "veth0", NULL, NULL);
        ck_assert(!l.parent);
        ck_assert_int_eq(l.parent_vif, -1);

        /* Device names may be long (GUIDs, PCI paths); only termination is required. */
        char longname[200];
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        l = parse_link(2, "eth0", longname, "platform");
        ck_assert(l.parent);

        /* Unterminated: the whole message is dropped. */
        m = (struct msg) {};
        struct nlmsghdr h = { .nlmsg_type = RTM_NEWLINK };
        struct ifinfomsg ifi = { .ifi_index = 2 };
        put(&m, &h, sizeof h);
        put(&m, &ifi, sizeof ifi);
        attr_str(&m, IFLA_IFNAME, "eth0");
        attr(&m, IFLA_PARENT_DEV_NAME, "vif-3", 5);
        uint32_t len = (uint32_t) m.len;
        memcpy(m.buf, &len, sizeof len);
        ck_assert_int_eq(net_parse_msg(m.buf, m.len, &r), -EBADMSG);
}
END_TEST

START_TEST(test_parse_devid) {
        int v = -7;
        ck_assert_int_eq(net_parse_devid("0", &v), 0);
        ck_assert_int_eq(v, 0);
        ck_assert_int_eq(net_parse_devid("51712", &v), 0);
        ck_assert_int_eq(v, 51712);
        ck_assert_int_eq(net_parse_devid("2147483647", &v), 0);
        ck_assert_int_eq(v, 2147483647);
        ck_assert_int_eq(net_parse_devid("2147483648", &v), -ERANGE);
        ck_assert_int_eq(net_parse_devid("9999999999", &v), -ERANGE);
        static const char *const bad[] = { "", "+1", "-1", " 1", "1 ", "1x", "0x1", "12345678901" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(net_parse_devid(bad[i], &v) == -EINVAL, "'%s'", bad[i]);
        ck_assert_int_eq(v, 2147483647);                /* untouched on failure */
}
END_TEST

/* ---- rules ---- */

START_TEST(test_class_from_parent) {
        struct net_link_info vif = { .parent = true, .parent_vif = 5 }, bus = { .parent = true, .parent_vif = -1 },
                             none = { .parent = false, .parent_vif = -1 };
        struct net_class c = { .nic = true, .kind = NET_NIC_HYPERV_NETVSC, .devid = 9 };

        for (int reported = 0; reported < 2; reported++) {
                ck_assert(net_class_from_parent(&vif, reported, &c));
                ck_assert(c.nic);
                ck_assert_int_eq(c.kind, NET_NIC_XEN_VIF);
                ck_assert_int_eq(c.devid, 5);
                /* netvsc, virtio, PCI: sysfs's driver link decides. */
                ck_assert(!net_class_from_parent(&bus, reported, &c));
        }
        /* No parent means none only once the kernel is known to report them. */
        c = (struct net_class) { .nic = true, .kind = NET_NIC_HYPERV_NETVSC, .devid = 9 };
        ck_assert(!net_class_from_parent(&none, false, &c));
        ck_assert(c.nic);                               /* untouched */
        ck_assert(net_class_from_parent(&none, true, &c));
        ck_assert(!c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_OTHER);
        ck_assert_int_eq(c.devid, -1);
}
END_TEST

/* ---- the table ---- */

static unsigned classify_calls;

/* Sysfs stand-in: "hv*" are netvsc, "virtio*" other NICs, the rest software links. */
static int fake_classify(const char *name, struct net_class *ret, void *userdata) {
        classify_calls++;
        *ret = (struct net_class) { .kind = NET_NIC_OTHER, .devid = -1 };
        if (strncmp(name, "hv", 2) == 0)
                *ret = (struct net_class) { true, NET_NIC_HYPERV_NETVSC, -1 };
        else if (strncmp(name, "virtio", 6) == 0)
                ret->nic = true;
        return 0;
}

static void feed(struct net_table *t, int ifindex, const char *name, const char *parent, const char *bus) {
        struct msg m = link_msg(ifindex, name, parent, bus, false);
        struct net_msg r;
        ck_assert_int_eq(net_parse_msg(m.buf, m.len, &r), 0);
        ck_assert_int_ge(net_table_apply(t, &r), 0);
}

static const struct net_nic *nic_by_name(const struct net_snapshot *s, const char *name) {
        for (size_t i = 0; i < s->n_nics; i++)
                if (strcmp(s->nics[i].name, name) == 0)
                        return &s->nics[i];
        return NULL;
}

START_TEST(test_table_from_netlink) {
        _cleanup_(net_table_freep) struct net_table *t = NULL;
        struct net_table_options o = NET_TABLE_OPTIONS_DEFAULT;
        o.parents_from_netlink = true;
        ck_assert_int_eq(net_table_new(&t, &o), 0);

        feed(t, 1, "lo", NULL, NULL);
        feed(t, 2, "enX0", "vif-0", "xen");
        feed(t, 3, "enX7", "vif-7", "xen");
        feed(t, 4, "hv0", "000d3a6e-1234-5678-9abc-def012345678", "vmbus");
        feed(t, 5, "virtio0", "virtio2", "virtio");
        feed(t, 6, "br0", NULL, NULL);
        feed(t, 7, "veth0", NULL, NULL);

        classify_calls = 0;
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = NULL;
        ck_assert_int_eq(net_table_snapshot(t, fake_classify, NULL, &s), 0);
        /* Only the netvsc and virtio links needed sysfs. */
        ck_assert_uint_eq(classify_calls, 2);
        ck_assert_uint_eq(s->n_nics, 4);
        ck_assert_str_eq(s->nics[0].name, "enX0");
        ck_assert_int_eq(s->nics[0].devid, 0);
        ck_assert_str_eq(s->nics[1].name, "enX7");
        ck_assert_int_eq(s->nics[1].devid, 7);
        ck_assert_int_eq(nic_by_name(s, "hv0")->kind, NET_NIC_HYPERV_NETVSC);
        ck_assert_int_eq(nic_by_name(s, "virtio0")->kind, NET_NIC_OTHER);
        ck_assert_ptr_null(nic_by_name(s, "br0"));

        /* A link whose bus device changes (a new device behind a reused ifindex and
         * name) is classified again. */
        feed(t, 5, "virtio0", "vif-9", "xen");
        net_snapshot_free(s);
        s = NULL;
        classify_calls = 0;
        ck_assert_int_eq(net_table_snapshot(t, fake_classify, NULL, &s), 0);
        ck_assert_uint_eq(classify_calls, 0);
        ck_assert_int_eq(nic_by_name(s, "virtio0")->kind, NET_NIC_XEN_VIF);
        ck_assert_int_eq(nic_by_name(s, "virtio0")->devid, 9);
}
END_TEST

START_TEST(test_table_without_reports) {
        /* An older kernel says nothing about bus devices: sysfs decides every link. */
        _cleanup_(net_table_freep) struct net_table *t = NULL;
        struct net_table_options o = NET_TABLE_OPTIONS_DEFAULT;
        o.parents_from_netlink = true;
        ck_assert_int_eq(net_table_new(&t, &o), 0);
        feed(t, 2, "virtio0", NULL, NULL);
        feed(t, 3, "veth0", NULL, NULL);
        classify_calls = 0;
        _cleanup_(net_snapshot_freep) struct net_snapshot *s = NULL;
        ck_assert_int_eq(net_table_snapshot(t, fake_classify, NULL, &s), 0);
        ck_assert_uint_eq(classify_calls, 2);
        ck_assert_uint_eq(s->n_nics, 1);

        /* And without the option (a test root), netlink is never consulted. */
        _cleanup_(net_table_freep) struct net_table *t2 = NULL;
        ck_assert_int_eq(net_table_new(&t2, NULL), 0);
        feed(t2, 2, "enX0", "vif-0", "xen");
        feed(t2, 3, "veth0", NULL, NULL);
        classify_calls = 0;
        _cleanup_(net_snapshot_freep) struct net_snapshot *s2 = NULL;
        ck_assert_int_eq(net_table_snapshot(t2, fake_classify, NULL, &s2), 0);
        ck_assert_uint_eq(classify_calls, 2);
        ck_assert_uint_eq(s2->n_nics, 0);               /* the fake sysfs says so */
}
END_TEST

/* ---- sysfs on a fake tree ---- */

static void mkfile(const char *dir, const char *path, const char *text) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, path);
        for (char *s = strchr(p + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                (void) mkdir(p, 0755);
                *s = '/';
        }
        if (text) {
                FILE *f = fopen(p, "we");
                ck_assert_ptr_nonnull(f);
                fputs(text, f);
                fclose(f);
        } else
                ck_assert_int_eq(mkdir(p, 0755), 0);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        return remove(p) < 0 ? -1 : 0;
}

static struct net_class sysfs(int dir, const char *name) {
        struct net_class c = { .nic = true, .kind = NET_NIC_HYPERV_NETVSC, .devid = 42 };
        ck_assert_int_eq(net_sysfs_classify(name, &c, &dir), 0);
        return c;
}

START_TEST(test_sysfs) {
        char root[] = "/tmp/pvic-test-net-class.XXXXXX", p[4096];
        ck_assert_ptr_nonnull(mkdtemp(root));

        mkfile(root, "sys/class/net/enX3/device/devtype", "vif\n");
        mkfile(root, "sys/class/net/enX3/device/nodename", "device/vif/3\n");
        mkfile(root, "sys/class/net/enX4/device/devtype", "vif\n");
        mkfile(root, "sys/class/net/enX4/device/nodename", "device/vif/4x\n");
        mkfile(root, "sys/class/net/vbd/device/devtype", "vbd\n");
        mkfile(root, "sys/class/net/vbd/device/nodename", "device/vif/5\n");
        mkfile(root, "sys/class/net/hv0/device", NULL);
        mkfile(root, "sys/class/net/virtio0/device", NULL);
        mkfile(root, "sys/class/net/empty/device/devtype", "");
        mkfile(root, "sys/class/net/br0/bridge", NULL);
        mkfile(root, "sys/class/net/flat/device", "not a directory\n");
        mkfile(root, "sys/bus/vmbus/drivers/hv_netvsc/.keep", "");
        snprintf(p, sizeof p, "%s/sys/class/net/hv0/device/driver", root);
        ck_assert_int_eq(symlink("../../../../bus/vmbus/drivers/hv_netvsc", p), 0);
        snprintf(p, sizeof p, "%s/sys/class/net/virtio0/device/driver", root);
        ck_assert_int_eq(symlink("../../../../bus/virtio/drivers/virtio_net", p), 0);

        int dir = net_sysfs_open(root);
        ck_assert_int_ge(dir, 0);
        struct net_class c = sysfs(dir, "enX3");
        ck_assert(c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_XEN_VIF);
        ck_assert_int_eq(c.devid, 3);
        c = sysfs(dir, "enX4");                         /* a bad nodename: just a NIC */
        ck_assert(c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_OTHER);
        ck_assert_int_eq(c.devid, -1);
        c = sysfs(dir, "vbd");                          /* the devtype must say vif */
        ck_assert(c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_OTHER);
        c = sysfs(dir, "hv0");
        ck_assert(c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_HYPERV_NETVSC);
        c = sysfs(dir, "virtio0");
        ck_assert(c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_OTHER);
        c = sysfs(dir, "empty");
        ck_assert(c.nic);
        ck_assert_int_eq(c.kind, NET_NIC_OTHER);
        static const char *const software[] = { "br0", "flat", "gone", "..", ".", "a/b", "", "0123456789abcdef" };
        for (size_t i = 0; i < ELEMENTSOF(software); i++) {
                c = sysfs(dir, software[i]);
                ck_assert_msg(!c.nic, "'%s'", software[i]);
                ck_assert_int_eq(c.kind, NET_NIC_OTHER);
                ck_assert_int_eq(c.devid, -1);
        }
        ck_assert(!sysfs(-1, "enX3").nic);              /* no sys/class/net: no NICs */
        close(dir);

        snprintf(p, sizeof p, "%s/nothing-here", root);
        ck_assert_int_eq(net_sysfs_open(p), -ENOENT);
        ck_assert_int_eq(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}
END_TEST

/* ---- netlink against the real /sys ---- */

struct real {
        struct net_link_info links[256];
        size_t n;
        bool parents_reported;
};

static int collect(const struct net_msg *m, void *userdata) {
        struct real *r = userdata;
        if (m->type == RTM_NEWLINK && r->n < ELEMENTSOF(r->links)) {
                r->links[r->n++] = m->link;
                r->parents_reported |= m->link.parent;
        }
        return 0;
}

/* /sys/class/net shows the netns that mounted it, which need not be ours. */
static bool same_link(int dir, const struct net_link_info *l) {
        char path[64], buf[32] = "";
        snprintf(path, sizeof path, "%s/ifindex", l->name);
        int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        return n > 0 && atoi(buf) == l->ifindex;
}

START_TEST(test_netlink_agrees_with_sysfs) {
        struct {
                struct nlmsghdr h;
                struct ifinfomsg ifi;
        } req = { .h = { .nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 } };
        static struct real r;
        static uint8_t buf[64 * 1024];
        bool done = false;

        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(send(fd, &req, sizeof req, 0), (ssize_t) sizeof req);
        while (!done) {
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                ck_assert_int_gt(n, 0);
                ck_assert_int_ge(net_parse_buffer(buf, (size_t) n, collect, &r, NULL), 0);
                for (struct nlmsghdr *h = (void *) buf; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n))
                        done |= h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR;
        }
        close(fd);

        int dir = net_sysfs_open("");
        unsigned compared = 0;
        for (size_t i = 0; dir >= 0 && i < r.n; i++) {
                struct net_class from_netlink, from_sysfs;
                if (!same_link(dir, &r.links[i]))
                        continue;
                ck_assert_int_eq(net_sysfs_classify(r.links[i].name, &from_sysfs, &dir), 0);
                /* A bus device where sysfs has a device link, even when sysfs names its kind. */
                ck_assert_msg(!r.links[i].parent || from_sysfs.nic, "%s: a parent but no device", r.links[i].name);
                if (!net_class_from_parent(&r.links[i], r.parents_reported, &from_netlink))
                        continue;
                ck_assert_msg(from_netlink.nic == from_sysfs.nic && from_netlink.kind == from_sysfs.kind &&
                              from_netlink.devid == from_sysfs.devid, "%s: netlink and sysfs disagree",
                              r.links[i].name);
                compared++;
        }
        if (dir >= 0)
                close(dir);
        /* Vacuous on kernels before 5.14 or with /sys from another netns. */
        fprintf(stderr, "netlink and sysfs agree on %u of %zu links (parents %sreported)\n", compared, r.n,
                r.parents_reported ? "" : "not ");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("net-class");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_parse_parent);
        tcase_add_test(tc, test_parse_devid);
        tcase_add_test(tc, test_class_from_parent);
        tcase_add_test(tc, test_table_from_netlink);
        tcase_add_test(tc, test_table_without_reports);
        tcase_add_test(tc, test_sysfs);
        tcase_add_test(tc, test_netlink_agrees_with_sysfs);
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
