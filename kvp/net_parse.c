/* rtnetlink message parsing. The bytes come from the kernel, but also describe links
 * that other netns owners and containers create, so every length is checked: a
 * message with one bad attribute is dropped whole, a broken frame ends the datagram. */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "pvic/netinfo.h"

struct attr {
        uint16_t type;
        const uint8_t *data;
        size_t len;
};

/* Iterates the attributes in [p, p+len). Returns 1 with *a filled, 0 at the end,
 * -EBADMSG if an attribute header or length does not fit. */
static int attr_next(const uint8_t **p, size_t *len, struct attr *a) {
        struct rtattr rta;

        if (*len == 0)
                return 0;
        if (*len < sizeof rta)
                return -EBADMSG;
        memcpy(&rta, *p, sizeof rta);
        if (rta.rta_len < sizeof rta || rta.rta_len > *len)
                return -EBADMSG;
        a->type = rta.rta_type & NLA_TYPE_MASK;
        a->data = *p + sizeof rta;
        a->len = rta.rta_len - sizeof rta;
        /* The last attribute may omit its padding. */
        size_t step = MIN((size_t) RTA_ALIGN(rta.rta_len), *len);
        *p += step;
        *len -= step;
        return 1;
}

static int attr_u32(const struct attr *a, uint32_t *ret) {
        if (a->len != sizeof *ret)
                return -EBADMSG;
        memcpy(ret, a->data, sizeof *ret);
        return 0;
}

static int attr_ifindex(const struct attr *a, int *ret) {
        uint32_t v;
        if (attr_u32(a, &v) < 0 || v > INT32_MAX)
                return -EBADMSG;
        *ret = (int) v;
        return 0;
}

/* A NUL-terminated string that fits `size` with its NUL; the NUL may be followed by
 * padding, but nothing before it may be missing. */
static int attr_string(const struct attr *a, char *buf, size_t size) {
        const uint8_t *nul = memchr(a->data, 0, a->len);
        if (!nul)
                return -EBADMSG;
        size_t n = (size_t) (nul - a->data);
        if (n + 1 > size)
                return -EBADMSG;
        memcpy(buf, a->data, n + 1);
        return 0;
}

/* A NUL-terminated string of any length, in place. */
static int attr_cstr(const struct attr *a, const char **ret) {
        if (!memchr(a->data, 0, a->len))
                return -EBADMSG;
        *ret = (const char *) a->data;
        return 0;
}

int net_parse_devid(const char *s, int *ret) {
        size_t n = strlen(s);
        if (n == 0 || n > 10 || strspn(s, "0123456789") != n)
                return -EINVAL;
        long long v = 0;
        for (; *s; s++)
                v = v * 10 + (*s - '0');
        if (v > INT32_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

/* xen-netfront's device is named "vif-<devid>" on the "xen" bus: xenbus derives the
 * name from the nodename "device/vif/<devid>" and the devtype from its middle part, so
 * this is exactly what sysfs's devtype and nodename would say. */
static int parent_vif(const char *bus, const char *name) {
        int devid;
        if (!bus || !name || strcmp(bus, "xen") != 0 || strncmp(name, "vif-", 4) != 0 ||
            net_parse_devid(name + 4, &devid) < 0)
                return -1;
        return devid;
}

static int parse_linkinfo(const struct attr *outer, struct net_link_info *l) {
        const uint8_t *p = outer->data;
        size_t len = outer->len;
        struct attr a;
        int r;

        while ((r = attr_next(&p, &len, &a)) > 0)
                if (a.type == IFLA_INFO_KIND && attr_string(&a, l->kind, sizeof l->kind) < 0)
                        return -EBADMSG;
        return r;
}

static int parse_link(const uint8_t *payload, size_t len, struct net_link_info *l) {
        struct ifinfomsg ifi;
        bool other_netns = false;
        const char *parent = NULL, *bus = NULL;
        struct attr a;
        int r;

        if (len < sizeof ifi)
                return -EBADMSG;
        memcpy(&ifi, payload, sizeof ifi);
        /* AF_BRIDGE messages describe bridge-port state; a DELLINK there means "left the
         * bridge", not "gone". Only the generic link messages are ours. */
        if (ifi.ifi_family != AF_UNSPEC)
                return -EOPNOTSUPP;
        if (ifi.ifi_index <= 0)
                return -EBADMSG;
        *l = (struct net_link_info) {
                .ifindex = ifi.ifi_index,
                .flags = ifi.ifi_flags,
                .type = ifi.ifi_type,
                .parent_vif = -1,
        };

        const uint8_t *p = payload + NLMSG_ALIGN(sizeof ifi);
        size_t left = len - MIN(len, (size_t) NLMSG_ALIGN(sizeof ifi));
        while ((r = attr_next(&p, &left, &a)) > 0) {
                switch (a.type) {
                case IFLA_IFNAME:
                        if (attr_string(&a, l->name, sizeof l->name) < 0 || !l->name[0])
                                return -EBADMSG;
                        break;
                case IFLA_ADDRESS:
                        if (a.len > NET_HWADDR_MAX)
                                return -EBADMSG;
                        memcpy(l->mac, a.data, a.len);
                        l->mac_len = (uint8_t) a.len;
                        break;
                case IFLA_MASTER:
                        if (attr_ifindex(&a, &l->master) < 0)
                                return -EBADMSG;
                        break;
                case IFLA_LINK:
                        if (attr_ifindex(&a, &l->link) < 0)
                                return -EBADMSG;
                        break;
                case IFLA_LINK_NETNSID:
                        if (a.len != sizeof(int32_t))
                                return -EBADMSG;
                        other_netns = true;
                        break;
                case IFLA_LINKINFO:
                        if (parse_linkinfo(&a, l) < 0)
                                return -EBADMSG;
                        break;
                case IFLA_PARENT_DEV_NAME:
                        if (attr_cstr(&a, &parent) < 0)
                                return -EBADMSG;
                        break;
                case IFLA_PARENT_DEV_BUS_NAME:
                        if (attr_cstr(&a, &bus) < 0)
                                return -EBADMSG;
                        break;
                }
        }
        if (r < 0)
                return r;
        l->parent = parent != NULL;
        l->parent_vif = parent_vif(bus, parent);
        /* The lower device lives in another namespace: its index means nothing here. */
        if (other_netns || l->link == l->ifindex)
                l->link = 0;
        return 0;
}

static int parse_addr(const uint8_t *payload, size_t len, struct net_addr_info *ad) {
        struct ifaddrmsg ifa;
        const uint8_t *local = NULL, *address = NULL;
        uint32_t flags32 = 0;
        bool have_flags32 = false;
        struct attr a;
        size_t alen;
        int r;

        if (len < sizeof ifa)
                return -EBADMSG;
        memcpy(&ifa, payload, sizeof ifa);
        if (ifa.ifa_family == AF_INET)
                alen = 4;
        else if (ifa.ifa_family == AF_INET6)
                alen = 16;
        else
                return -EOPNOTSUPP;
        if (ifa.ifa_index == 0 || ifa.ifa_index > INT32_MAX || ifa.ifa_prefixlen > alen * 8)
                return -EBADMSG;

        const uint8_t *p = payload + NLMSG_ALIGN(sizeof ifa);
        size_t left = len - MIN(len, (size_t) NLMSG_ALIGN(sizeof ifa));
        while ((r = attr_next(&p, &left, &a)) > 0) {
                switch (a.type) {
                case IFA_LOCAL:
                case IFA_ADDRESS:
                        if (a.len != alen)
                                return -EBADMSG;
                        if (a.type == IFA_LOCAL)
                                local = a.data;
                        else
                                address = a.data;
                        break;
                case IFA_FLAGS:
                        if (attr_u32(&a, &flags32) < 0)
                                return -EBADMSG;
                        have_flags32 = true;
                        break;
                }
        }
        if (r < 0)
                return r;
        /* On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours. */
        const uint8_t *mine = local ?: address;
        if (!mine)
                return -EBADMSG;
        *ad = (struct net_addr_info) {
                .ifindex = (int) ifa.ifa_index,
                .family = ifa.ifa_family,
                .prefixlen = ifa.ifa_prefixlen,
                .scope = ifa.ifa_scope,
                .flags = have_flags32 ? flags32 : ifa.ifa_flags,
        };
        memcpy(ad->addr, mine, alen);
        return 0;
}

int net_parse_msg(const void *buf, size_t len, struct net_msg *ret) {
        struct nlmsghdr h;

        if (len < sizeof h)
                return -EBADMSG;
        memcpy(&h, buf, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len)
                return -EBADMSG;

        const uint8_t *payload = (const uint8_t *) buf + NLMSG_HDRLEN;
        size_t plen = h.nlmsg_len - MIN((size_t) h.nlmsg_len, (size_t) NLMSG_HDRLEN);
        struct net_msg m = {
                .type = h.nlmsg_type,
                .nlflags = h.nlmsg_flags,
                .seq = h.nlmsg_seq,
                .pid = h.nlmsg_pid,
        };
        int r, e;

        switch (h.nlmsg_type) {
        case NLMSG_DONE:
                /* The dump's status, when the kernel includes one. */
                if (plen >= sizeof e) {
                        memcpy(&e, payload, sizeof e);
                        m.error = e < 0 && e > -4096 ? e : (e == 0 ? 0 : -EIO);
                }
                break;
        case NLMSG_ERROR:
                if (plen < sizeof e)
                        return -EBADMSG;
                memcpy(&e, payload, sizeof e);
                m.error = e < 0 && e > -4096 ? e : (e == 0 ? 0 : -EIO);
                break;
        case RTM_NEWLINK:
        case RTM_DELLINK:
                r = parse_link(payload, plen, &m.link);
                if (r < 0)
                        return r;
                break;
        case RTM_NEWADDR:
        case RTM_DELADDR:
                r = parse_addr(payload, plen, &m.addr);
                if (r < 0)
                        return r;
                break;
        default:
                return -EOPNOTSUPP;
        }
        *ret = m;
        return 0;
}

int net_parse_buffer(const void *buf, size_t len, net_msg_fn fn, void *userdata, unsigned *ret_bad) {
        const uint8_t *p = buf;
        unsigned bad = 0;
        int n = 0, r;

        while (len > 0) {
                struct nlmsghdr h;
                struct net_msg m;

                if (len < sizeof h) {
                        r = -EBADMSG;
                        goto finish;
                }
                memcpy(&h, p, sizeof h);
                if (h.nlmsg_len < sizeof h || h.nlmsg_len > len) {
                        r = -EBADMSG;
                        goto finish;
                }
                r = net_parse_msg(p, h.nlmsg_len, &m);
                if (r == -EBADMSG)
                        bad++;
                else if (r == 0) {
                        r = fn(&m, userdata);
                        if (r < 0)
                                goto finish;
                        n++;
                }
                /* Aligned in size_t: a u32 length near 4 GiB must not wrap to 0. */
                size_t step = MIN(((size_t) h.nlmsg_len + 3) & ~(size_t) 3, len);
                p += step;
                len -= step;
        }
        r = n;
finish:
        if (ret_bad)
                *ret_bad = bad;
        return r;
}
