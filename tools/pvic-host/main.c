/* pvic-host: what the host operator runs. Arguments, backend choice, rendering. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "pvic/log.h"

static bool arg_json;

json_object *host_error(const char *fmt, ...) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(buf));
        return o;
}

json_object *host_kv_json(const char *g, unsigned pool, const char *key, const char *value) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "guest", json_object_new_string(g));
        json_object_object_add(o, "pool", json_object_new_int((int)pool));
        json_object_object_add(o, "key", json_object_new_string(key));
        json_object_object_add(o, "value", value ? json_object_new_string(value) : NULL);
        return o;
}

json_object *host_freeze_json(const char *guest, const char *action, const char *answer) {
        json_object *o = json_object_new_object(), *mounts = json_object_new_array();
        char state[128];
        const char *sp = strchr(answer, ' ');
        size_t n = sp ? (size_t)(sp - answer) : strlen(answer);
        snprintf(state, sizeof state, "%.*s", (int)MIN(n, sizeof state - 1), answer);
        json_object_object_add(o, "guest", json_object_new_string(guest));
        json_object_object_add(o, "action", json_object_new_string(action));
        json_object_object_add(o, "state", json_object_new_string(state));
        bool ok = strcmp(action, "freeze") == 0 ? strcmp(state, "frozen") == 0 : strncmp(state, "thawed", 6) == 0;
        json_object_object_add(o, "ok", json_object_new_boolean(ok));
        /* "path=outcome" items; mountinfo's escapes keep spaces out of paths; "+N" = N more */
        _cleanup_free_ char *copy = strdup(sp ? sp + 1 : "");
        char *save = NULL;
        for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(t, '=');
                if (t[0] == '+') {
                        json_object_object_add(o, "more_mounts", json_object_new_int(atoi(t + 1)));
                        continue;
                }
                if (!eq)
                        continue;
                *eq = 0;
                json_object *m = json_object_new_object();
                json_object_object_add(m, "mount", json_object_new_string(t));
                json_object_object_add(m, "outcome", json_object_new_string(eq + 1));
                json_object_array_add(mounts, m);
        }
        json_object_object_add(o, "mounts", mounts);
        return o;
}

static void help(void) {
        printf("Usage: pvic-host (--xen SOCKET | --hyperv SOCKET) [--json] COMMAND [ARGS]\n"
               "Reads and drives guests running pvicd, from the host.\n\n"
               "Backends:\n"
               "  --xen SOCKET      a xenstored socket: a real dom0's /run/xenstored/socket,\n"
               "                    or pvic-hostsim's host.sock; guests are named by domid\n"
               "  --hyperv SOCKET   pvic-hostsim's control.sock; guests are named by name\n\n"
               "Commands:\n"
               "  guests                          guests and their agents\n"
               "  info GUEST                      OS, addresses per NIC, agent, heartbeat, time\n"
               "  kvp get GUEST KEY [--pool N]    an item: pool 0 host->guest, 1 guest->host\n"
               "  kvp set GUEST KEY VALUE         give the guest an item (pool 0)\n"
               "  kvp delete GUEST KEY            take it back\n"
               "  kvp list GUEST [--pool N]       all items of a pool (default 1)\n"
               "  heartbeat GUEST                 ask the guest's agent whether it is alive\n"
               "  time GUEST                      a time exchange: the guest's offset from the host\n"
               "  shutdown GUEST... [--reboot|--halt|--hibernate] [--force] [--reason TEXT]\n"
               "                   [--timeout SECONDS]\n"
               "                                  orchestrated clean shutdown, all guests in\n"
               "                                  parallel, one outcome per guest\n"
               "  freeze GUEST [--lease SECONDS]  freeze the guest's filesystems for a backup;\n"
               "                                  they thaw by themselves after the lease\n"
               "                                  (default 10 s, at most 60 s). Hyper-V: a VSS\n"
               "                                  FREEZE, which names no lease (no --lease; the\n"
               "                                  guest's VssLease=, default 60 s, applies)\n"
               "  thaw GUEST                      thaw them now (Hyper-V: a VSS THAW)\n\n"
               "  --json            machine-readable output (schemas in pvic-host(1))\n"
               "  -h, --help        this help\n\n"
               "Exit status: 0 success; 1 failure (for shutdown: any guest not done); 2 usage.\n");
}

static const char *js(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return "-";
        return json_object_get_string(v);
}

/* "Label:     value [detail]"; nothing for a value the guest did not give. */
static void line(const char *label, const char *value, const char *detail) {
        if (!value || strcmp(value, "-") == 0)
                return;
        char l[32];
        snprintf(l, sizeof l, "%s:", label);
        printf("%-10s %s", l, value);
        if (detail && strcmp(detail, "-"))
                printf(" (%s)", detail);
        printf("\n");
}

static void render(const char *cmd, json_object *o) {
        json_object *arr;
        if (strcmp(cmd, "guests") == 0 && json_object_object_get_ex(o, "guests", &arr)) {
                printf("%-10s %-20s %-36s %s\n", "GUEST", "NAME", "OS", "AGENT");
                for (size_t i = 0; i < json_object_array_length(arr); i++) {
                        json_object *g = json_object_array_get_idx(arr, i), *a = json_object_object_get(g, "agent");
                        printf("%-10s %-20s %-36s %s %s\n", js(g, "guest"), js(g, "name"), js(g, "os"),
                               js(a, "name"), js(a, "version"));
                }
        } else if (strcmp(cmd, "info") == 0) {
                json_object *os = json_object_object_get(o, "os"), *a = json_object_object_get(o, "agent"),
                            *k = json_object_object_get(o, "kernel"), *m = json_object_object_get(o, "memory");
                line("Guest", js(o, "guest"), NULL);
                line("Hostname", js(o, "hostname"), NULL);
                line("OS", js(os, "name"), js(os, "id"));
                char version[96];
                snprintf(version, sizeof version, "%s%s%s", js(os, "major"), *js(os, "minor") && strcmp(js(os, "minor"), "-") ? "." : "",
                         strcmp(js(os, "minor"), "-") ? js(os, "minor") : "");
                line("Version", strcmp(js(os, "major"), "-") ? version : "-", NULL);
                line("Kernel", js(k, "release"), js(k, "machine"));
                if (m) {
                        char mem[96];
                        snprintf(mem, sizeof mem, "%s KiB total, %s KiB available", js(m, "total_kib"), js(m, "available_kib"));
                        line("Memory", mem, NULL);
                }
                line("Agent", js(a, "name"), js(a, "version"));
                if (json_object_object_get_ex(o, "network", &arr))
                        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                                json_object *nic = json_object_array_get_idx(arr, i);
                                json_object *v4 = json_object_object_get(nic, "ipv4"), *v6 = json_object_object_get(nic, "ipv6");
                                if (!strcmp(js(nic, "mac"), "-") && json_object_array_length(v4) + json_object_array_length(v6) == 0)
                                        continue;
                                printf("%-10s %s%s%s", "Addresses:", strcmp(js(nic, "devid"), "-") ? "vif " : "",
                                       strcmp(js(nic, "devid"), "-") ? js(nic, "devid") : "all NICs",
                                       strcmp(js(nic, "mac"), "-") ? " " : "");
                                if (strcmp(js(nic, "mac"), "-"))
                                        printf("%s", js(nic, "mac"));
                                for (const char *fam = "ipv4"; fam; fam = strcmp(fam, "ipv4") == 0 ? "ipv6" : NULL) {
                                        json_object *l = json_object_object_get(nic, fam);
                                        for (size_t j = 0; l && j < json_object_array_length(l); j++)
                                                printf(" %s", json_object_get_string(json_object_array_get_idx(l, j)));
                                }
                                printf("\n");
                        }
                line("Heartbeat", js(o, "heartbeat"), NULL);
                line("Time", js(o, "time"), NULL);
                line("Updated", js(o, "updated"), NULL);
        } else if (strcmp(cmd, "kvp") == 0 && json_object_object_get_ex(o, "items", &arr)) {
                for (size_t i = 0; i < json_object_array_length(arr); i++) {
                        json_object *it = json_object_array_get_idx(arr, i);
                        printf("%s=%s\n", js(it, "key"), js(it, "value"));
                }
        } else if (strcmp(cmd, "kvp") == 0) {
                if (json_object_object_get(o, "value"))
                        printf("%s\n", js(o, "value"));
        } else if (strcmp(cmd, "heartbeat") == 0) {
                if (json_object_get_boolean(json_object_object_get(o, "alive")) && json_object_object_get(o, "round_trip_us"))
                        printf("guest %s: alive, %s (%s us)\n", js(o, "guest"), js(o, "state"), js(o, "round_trip_us"));
                else if (json_object_get_boolean(json_object_object_get(o, "alive")))
                        printf("guest %s: alive, %s\n", js(o, "guest"), js(o, "state"));
                else
                        printf("guest %s: no heartbeat (%s)\n", js(o, "guest"), js(o, "error"));
        } else if (strcmp(cmd, "time") == 0) {
                if (json_object_object_get(o, "guest_offset_ns"))
                        printf("guest %s: offset %s ns from the host, round trip %s ns\n", js(o, "guest"),
                               js(o, "guest_offset_ns"), js(o, "round_trip_ns"));
                else
                        printf("guest %s: time sample delivered (status %s); the wire is one-way, the guest\n"
                               "  reports what it did in `pvicctl time`\n", js(o, "guest"), js(o, "status"));
        } else if (strcmp(cmd, "shutdown") == 0 && json_object_object_get_ex(o, "results", &arr)) {
                printf("%-10s %s\n", "GUEST", "OUTCOME");
                for (size_t i = 0; i < json_object_array_length(arr); i++) {
                        json_object *g = json_object_array_get_idx(arr, i);
                        printf("%-10s %s\n", js(g, "guest"), js(g, "outcome"));
                }
        } else if ((strcmp(cmd, "freeze") == 0 || strcmp(cmd, "thaw") == 0) &&
                   json_object_object_get_ex(o, "mounts", &arr)) {
                printf("guest %s: %s\n", js(o, "guest"), js(o, "state"));
                for (size_t i = 0; i < json_object_array_length(arr); i++) {
                        json_object *m = json_object_array_get_idx(arr, i);
                        printf("  %-30s %s\n", js(m, "mount"), js(m, "outcome"));
                }
        } else
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
}

static int parse_uint(const char *s, unsigned max, unsigned *out) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (!*s || *end || v > max)
                return -EINVAL;
        *out = (unsigned)v;
        return 0;
}

int main(int argc, char **argv) {
        enum { ARG_XEN = 0x100, ARG_HYPERV, ARG_REBOOT, ARG_HALT, ARG_HIBERNATE, ARG_FORCE, ARG_REASON, ARG_TIMEOUT, ARG_POOL, ARG_LEASE };
        static const struct option options[] = {
                { "xen", required_argument, NULL, ARG_XEN },
                { "hyperv", required_argument, NULL, ARG_HYPERV },
                { "json", no_argument, NULL, 'j' },
                { "reboot", no_argument, NULL, ARG_REBOOT },
                { "halt", no_argument, NULL, ARG_HALT },
                { "hibernate", no_argument, NULL, ARG_HIBERNATE },
                { "force", no_argument, NULL, ARG_FORCE },
                { "reason", required_argument, NULL, ARG_REASON },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "pool", required_argument, NULL, ARG_POOL },
                { "lease", required_argument, NULL, ARG_LEASE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *xen = NULL, *hyperv = NULL;
        struct host_shutdown_opts so = { .action = "poweroff", .timeout_sec = 60 };
        unsigned pool = 1, lease = 0;
        bool pool_given = false;
        int c;
        log_set_ident("pvic-host");
        log_set_max_level(LOG_ERR);
        while ((c = getopt_long(argc, argv, "jh", options, NULL)) >= 0) {
                switch (c) {
                case ARG_XEN: xen = optarg; break;
                case ARG_HYPERV: hyperv = optarg; break;
                case 'j': arg_json = true; break;
                case ARG_REBOOT: so.action = "reboot"; break;
                case ARG_HALT: so.action = "halt"; break;
                case ARG_HIBERNATE: so.action = "hibernate"; break;
                case ARG_FORCE: so.force = true; break;
                case ARG_REASON: so.reason = optarg; break;
                case ARG_TIMEOUT:
                        if (parse_uint(optarg, 86400, &so.timeout_sec) < 0) {
                                fprintf(stderr, "pvic-host: --timeout takes seconds (0 to 86400)\n");
                                return 2;
                        }
                        break;
                case ARG_POOL:
                        if (parse_uint(optarg, 4, &pool) < 0) {
                                fprintf(stderr, "pvic-host: --pool takes 0 to 4\n");
                                return 2;
                        }
                        pool_given = true;
                        break;
                case ARG_LEASE:
                        if (parse_uint(optarg, 60, &lease) < 0 || lease == 0) {
                                fprintf(stderr, "pvic-host: --lease takes seconds (1 to 60)\n");
                                return 2;
                        }
                        break;
                case 'h': help(); return 0;
                default: return 2;
                }
        }
        if (!!xen == !!hyperv || optind >= argc) {
                fprintf(stderr, "pvic-host: name one backend (--xen SOCKET or --hyperv SOCKET) and a command; see --help\n");
                return 2;
        }
        struct host_backend b;
        int r = xen ? host_xen_open(&b, xen) : host_hyperv_open(&b, hyperv);
        if (r < 0) {
                fprintf(stderr, "pvic-host: cannot reach %s: %s\n", xen ? xen : hyperv, strerror(-r));
                return 1;
        }
        const char *cmd = argv[optind];
        char **args = argv + optind + 1;
        int nargs = argc - optind - 1;
        json_object *out = NULL;
        int rc = 2;
        if (strcmp(cmd, "guests") == 0 && nargs == 0)
                r = b.guests(b.state, &out);
        else if (strcmp(cmd, "info") == 0 && nargs == 1)
                r = b.info(b.state, args[0], &out);
        else if (strcmp(cmd, "heartbeat") == 0 && nargs == 1)
                r = b.heartbeat(b.state, args[0], &out);
        else if (strcmp(cmd, "time") == 0 && nargs == 1)
                r = b.time(b.state, args[0], &out);
        else if (strcmp(cmd, "shutdown") == 0 && nargs >= 1)
                r = b.shutdown(b.state, args, nargs, &so, &out);
        else if ((strcmp(cmd, "freeze") == 0 || strcmp(cmd, "thaw") == 0) && nargs == 1)
                r = b.freeze(b.state, args[0], strcmp(cmd, "thaw") == 0, lease, &out);
        else if (strcmp(cmd, "kvp") == 0 && nargs >= 2) {
                const char *op = args[0], *g = args[1];
                if (strcmp(op, "get") == 0 && nargs == 3)
                        r = b.kvp_get(b.state, g, pool_given ? pool : 0, args[2], &out);
                else if (strcmp(op, "set") == 0 && nargs == 4)
                        r = b.kvp_set(b.state, g, args[2], args[3], &out);
                else if (strcmp(op, "delete") == 0 && nargs == 3)
                        r = b.kvp_delete(b.state, g, args[2], &out);
                else if (strcmp(op, "list") == 0 && nargs == 2)
                        r = b.kvp_list(b.state, g, pool, &out);
                else
                        goto usage;
        } else
                goto usage;

        rc = r < 0 ? 1 : 0;
        if (out) {
                json_object *err;
                if (arg_json)
                        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
                else if (json_object_object_get_ex(out, "error", &err) && !json_object_object_get(out, "guest"))
                        fprintf(stderr, "pvic-host: %s\n", json_object_get_string(err));
                else
                        render(cmd, out);
                json_object_put(out);
        } else if (r < 0)
                fprintf(stderr, "pvic-host: %s failed: %s\n", cmd, strerror(-r));
        b.close(b.state);
        return rc;
usage:
        fprintf(stderr, "pvic-host: bad arguments for '%s'; see --help\n", cmd);
        b.close(b.state);
        return 2;
}
