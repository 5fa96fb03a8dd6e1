/* pvicd: arguments, configuration, hypervisor detection, then the manager's loop. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "manager.h"
#include "pvic/detect.h"
#include "pvic/freeze.h"
#include "pvic/log.h"
#include "pvic/vmbus_bind.h"

struct args {
        const char *config;
        const char *root;
        const char *transport;
        const char *vmbus_mode;
        const char *log_level;
        const char *xenstore_path;
        const char *signature;
        const char *virtual_clock;
        const char *vmbus_bind;
        bool vmbus_to_uio;
        bool thaw_journal;
};

static void help(void) {
        printf("Usage: pvicd [OPTIONS]\n"
               "Paravirtual integration daemon: makes this guest a first-class citizen under\n"
               "Hyper-V and Xen (guest facts, key/value exchange, heartbeat, clean shutdown, time).\n\n"
               "  -c, --config=PATH             configuration file (default %s/pvic/pvicd.conf\n"
               "                                under --root; drop-ins in pvicd.conf.d/)\n"
               "  -t, --transport=auto|vmbus|xenstore\n"
               "                                hypervisor transport (default: detect)\n"
               "      --vmbus-mode=auto|relay|uio\n"
               "                                VMBus: kernel KVP relay, user-space IC channels, or\n"
               "                                uio where channels are bound to uio_hv_generic\n"
               "  -r, --root=DIR                prefix for every system path (/dev, /sys, /proc,\n"
               "                                /etc, /var, /run); for tests and containers\n"
               "  -x, --xenstore-path=PATH      xenstore device or socket (default: $XENSTORED_PATH,\n"
               "                                then /dev/xen/xenbus, then /proc/xen/xenbus)\n"
               "      --hypervisor-signature=SIG\n"
               "                                use SIG instead of CPUID leaf 0x40000000 when\n"
               "                                detecting (\"\" for none)\n"
               "      --virtual-clock[=OFFSET_MS]\n"
               "                                discipline a virtual clock (real time + OFFSET_MS)\n"
               "                                instead of the system clock: tests and demos\n"
               "      --vmbus-bind[=ICS]        move IC channels from hv_utils to uio_hv_generic and\n"
               "                                exit (ICS: heartbeat,shutdown,timesync,kvp,vss or\n"
               "                                all; default heartbeat,shutdown,timesync)\n"
               "      --vmbus-unbind[=ICS]      give them back to hv_utils and exit\n"
               "      --thaw-journal            thaw what an interrupted freeze left frozen and\n"
               "                                exit (for ExecStopPost=)\n"
               "  -l, --log-level=LEVEL         err, warning, notice, info (default), debug\n"
               "  -h, --help                    show this help\n"
               "      --version                 show the version\n\n"
               "Logs go to the journal when started by systemd, to stderr otherwise.\n"
               "See pvicd(8) and pvicd.conf(5).\n",
               PVIC_SYSCONFDIR);
}

enum { ARG_VERSION = 0x100, ARG_VMBUS_MODE, ARG_SIGNATURE, ARG_VIRTUAL_CLOCK, ARG_VMBUS_BIND, ARG_VMBUS_UNBIND, ARG_THAW_JOURNAL };

static int parse_argv(int argc, char **argv, struct args *a) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "transport", required_argument, NULL, 't' },
                { "vmbus-mode", required_argument, NULL, ARG_VMBUS_MODE },
                { "root", required_argument, NULL, 'r' },
                { "xenstore-path", required_argument, NULL, 'x' },
                { "hypervisor-signature", required_argument, NULL, ARG_SIGNATURE },
                { "log-level", required_argument, NULL, 'l' },
                { "virtual-clock", optional_argument, NULL, ARG_VIRTUAL_CLOCK },
                { "vmbus-bind", optional_argument, NULL, ARG_VMBUS_BIND },
                { "vmbus-unbind", optional_argument, NULL, ARG_VMBUS_UNBIND },
                { "thaw-journal", no_argument, NULL, ARG_THAW_JOURNAL },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;
        while ((c = getopt_long(argc, argv, "c:t:r:x:l:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c': a->config = optarg; break;
                case 't': a->transport = optarg; break;
                case ARG_VMBUS_MODE: a->vmbus_mode = optarg; break;
                case 'r': a->root = optarg; break;
                case 'x': a->xenstore_path = optarg; break;
                case ARG_SIGNATURE: a->signature = optarg; break;
                case 'l': a->log_level = optarg; break;
                case ARG_VIRTUAL_CLOCK: a->virtual_clock = optarg ? optarg : "0"; break;
                case ARG_VMBUS_BIND:
                case ARG_VMBUS_UNBIND:
                        a->vmbus_bind = optarg ? optarg : "heartbeat,shutdown,timesync";
                        a->vmbus_to_uio = c == ARG_VMBUS_BIND;
                        break;
                case ARG_THAW_JOURNAL: a->thaw_journal = true; break;
                case 'h': help(); return 0;
                case ARG_VERSION:
                        printf("pvicd %d.%d.%d (build %d)\n", PVIC_VERSION_MAJOR, PVIC_VERSION_MINOR,
                               PVIC_VERSION_MICRO, PVIC_VERSION_BUILD);
                        return 0;
                default: return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "pvicd: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int replace_string(char **dst, const char *src) {
        char *n = strdup(src);
        if (!n)
                return log_oom();
        free(*dst);
        *dst = n;
        return 0;
}

/* Flags win over the configuration file. */
static int apply_args(struct pvic_config *c, const struct args *a) {
        int r;
        if (a->transport && config_parse_transport(a->transport, &c->transport) < 0) {
                log_error("invalid --transport '%s' (auto, vmbus or xenstore)", a->transport);
                return -EINVAL;
        }
        if (a->vmbus_mode && config_parse_vmbus_mode(a->vmbus_mode, &c->vmbus_mode) < 0) {
                log_error("invalid --vmbus-mode '%s' (auto, relay or uio)", a->vmbus_mode);
                return -EINVAL;
        }
        if (a->log_level) {
                int l = log_parse_level(a->log_level);
                if (l < 0) {
                        log_error("invalid --log-level '%s'", a->log_level);
                        return -EINVAL;
                }
                c->log_level = l;
        }
        if (a->xenstore_path && (r = replace_string(&c->xenstore_path, a->xenstore_path)) < 0)
                return r;
        if (a->signature && (r = replace_string(&c->hypervisor_signature, a->signature)) < 0)
                return r;
        if (a->virtual_clock) {
                char *end;
                long long ms = strtoll(a->virtual_clock, &end, 10);
                if (*end || ms < -86400000LL * 365 || ms > 86400000LL * 365) {
                        log_error("invalid --virtual-clock offset '%s' (milliseconds)", a->virtual_clock);
                        return -EINVAL;
                }
                c->virtual_clock = true;
                c->virtual_clock_offset_ns = ms * 1000000LL;
        }
        return 0;
}

static int load_config(struct pvic_config *c, const struct args *a) {
        int r;
        if (a->root && (r = replace_string(&c->root, a->root)) < 0)
                return r;
        if (a->log_level) {
                /* So that messages about the configuration itself honour the flag. */
                int l = log_parse_level(a->log_level);
                if (l >= 0)
                        log_set_max_level(l);
        }
        if (a->config)
                r = config_load(c, a->config, true);
        else {
                _cleanup_free_ char *path = root_path(c->root, PVIC_SYSCONFDIR "/pvic/pvicd.conf");
                if (!path)
                        return log_oom();
                r = config_load(c, path, false);
        }
        if (r < 0)
                return r;
        r = apply_args(c, a);
        if (r < 0)
                return r;
        log_set_max_level(c->log_level);
        return 0;
}

static const struct pvic_backend_ops *backend_for(enum pvic_transport t) {
        switch (t) {
        case PVIC_TRANSPORT_XENSTORE: return &xenstore_backend_ops;
        case PVIC_TRANSPORT_VMBUS: return &vmbus_backend_ops;
        default: return NULL;
        }
}

int main(int argc, char **argv) {
        struct args a = {};
        /* The freeze's thaw guard: pvicd re-executed with a fixed argv (freeze/freeze-guard.c). */
        if (argc > 1 && strcmp(argv[1], "--thaw-guard") == 0)
                return freeze_guard_main(argc, argv) != 0 ? 1 : 0;
        log_set_ident("pvicd");
        int r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? 1 : 0;

        struct pvicd *d = NULL;
        r = pvicd_new(&d);
        if (r < 0)
                return 1;
        r = load_config(&d->config, &a);
        if (r < 0)
                goto out;

        if (a.vmbus_bind) {
                unsigned ics;
                if (vmbus_parse_ic_list(a.vmbus_bind, &ics) < 0) {
                        r = log_error_errno(EINVAL, "unknown IC in '%s' (heartbeat, shutdown, timesync, kvp, all)",
                                            a.vmbus_bind);
                        goto out;
                }
                r = vmbus_bind(d->config.root, ics, a.vmbus_to_uio);
                if (r >= 0)
                        log_info("vmbus: %d channel(s) moved", r);
                goto out;
        }

        /* A freeze that outlived the pvicd that made it ends before anything else runs. */
        r = freeze_recover(d->config.root);
        if (r > 0)
                log_notice("freeze: %d filesystem(s) left frozen by an earlier pvicd were thawed", r);
        if (a.thaw_journal) {
                r = r < 0 ? r : 0;
                goto out;
        }

        enum pvic_transport t = d->config.transport;
        if (t == PVIC_TRANSPORT_AUTO) {
                struct detect_inputs in = {
                        .root = d->config.root,
                        .cpuid_signature = d->config.hypervisor_signature,
                        .xenstored_path = d->config.xenstore_path ? d->config.xenstore_path
                                                                  : getenv("XENSTORED_PATH"),
                };
                struct detect_result res;
                r = detect_hypervisor(&in, &res);
                if (r < 0)
                        goto out;
                if (res.transport == PVIC_TRANSPORT_AUTO) {
                        /* Not an error: the same image boots on bare metal and other hypervisors. */
                        log_notice("%s; nothing to do, exiting", res.reason);
                        sd_notifyf(0, "READY=1\nSTATUS=No supported hypervisor: %s", res.reason);
                        r = 0;
                        goto out;
                }
                t = res.transport;
        }
        const struct pvic_backend_ops *ops = backend_for(t);
        if (!ops) {
                r = log_error_errno(EOPNOTSUPP, "the %s transport is not available in this build",
                                    config_transport_name(t));
                goto out;
        }
        r = pvicd_start(d, ops);
        if (r >= 0)
                r = pvicd_run(d);
out:
        pvicd_free(d);
        return r < 0 ? 1 : 0;
}
