/* pvicctl: the guest-side CLI, a thin client of pvicd's API on the system bus. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "pvic/macro.h"

#define BUS_NAME "io.pvic.Agent1"
#define BUS_PATH "/io/pvic/Agent1"
#define BUS_IFACE "io.pvic.Agent1"
#define BUS_KVP_IFACE "io.pvic.Agent1.Kvp"

static bool arg_json;
static unsigned arg_pool = 1;

static void help(void) {
        printf("Usage: pvicctl [OPTIONS] COMMAND\n"
               "Talks to pvicd on the system bus.\n\n"
               "Commands:\n"
               "  status                    agent version, transport and state\n"
               "  facts                     every guest fact the host can read\n"
               "  kvp get KEY               read a key/value item\n"
               "  kvp set KEY VALUE         publish an item (root only)\n"
               "  kvp delete KEY            remove an item (root only)\n"
               "  kvp list                  list a pool's items\n"
               "  time                      time source, last offset and corrections\n\n"
               "Options:\n"
               "  -p, --pool=N              KVP pool: 0 host to guest, 1 guest to host (default),\n"
               "                            2 guest facts, 3 host facts\n"
               "  -j, --json                JSON output (schemas in pvicctl(1))\n"
               "  -h, --help                this help\n"
               "      --version             the version\n\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 no such key.\n");
}

static int print_error(const char *what, const sd_bus_error *e, int r) {
        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "error", json_object_new_string(e && e->message ? e->message : strerror(-r)));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        }
        fprintf(stderr, "pvicctl: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        if (e && sd_bus_error_has_name(e, "io.pvic.Agent1.NoSuchKey"))
                return 3;
        return 1;
}

static int call(sd_bus *bus, const char *iface, const char *method, sd_bus_message **reply,
                const char *types, ...) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, iface, method);
        if (r >= 0 && types) {
                va_list ap;
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_call(bus, m, 5 * 1000000, &error, reply);
        sd_bus_message_unref(m);
        if (r < 0) {
                int rc = print_error(method, &error, r);
                sd_bus_error_free(&error);
                return -rc;
        }
        return 0;
}

/* Methods that answer one JSON string. */
static int cmd_json(sd_bus *bus, const char *method, void (*human)(json_object *)) {
        sd_bus_message *reply = NULL;
        int r = call(bus, BUS_IFACE, method, &reply, NULL);
        if (r < 0)
                return -r;
        const char *s = NULL;
        r = sd_bus_message_read(reply, "s", &s);
        if (r < 0) {
                sd_bus_message_unref(reply);
                return print_error(method, NULL, r);
        }
        json_object *o = json_tokener_parse(s);
        if (arg_json || !o)
                printf("%s\n", o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY) : s);
        else
                human(o);
        json_object_put(o);
        sd_bus_message_unref(reply);
        return 0;
}

static const char *jstr(json_object *o, const char *path) {
        /* "a.b" → o["a"]["b"] */
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        json_object *cur = o;
        for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
                if (!json_object_object_get_ex(cur, tok, &cur))
                        return "";
        return json_object_get_string(cur) ?: "";
}

static void human_status(json_object *o) {
        printf("Version:   %s\nTransport: %s\nState:     %s\n", jstr(o, "version"), jstr(o, "transport"),
               jstr(o, "status"));
}

static void human_facts(json_object *o) {
        printf("OS:        %s (%s %s)\n", jstr(o, "os.name"), jstr(o, "os.id"), jstr(o, "os.version_id"));
        printf("Kernel:    %s %s\n", jstr(o, "kernel.release"), jstr(o, "kernel.machine"));
        printf("Hostname:  %s\n", jstr(o, "hostname"));
        printf("Memory:    %s KiB total, %s KiB available\n", jstr(o, "memory.total_kib"),
               jstr(o, "memory.available_kib"));
        json_object *net;
        if (json_object_object_get_ex(o, "network", &net) && json_object_is_type(net, json_type_array))
                for (size_t i = 0; i < json_object_array_length(net); i++) {
                        json_object *nic = json_object_array_get_idx(net, i);
                        printf("NIC %-6s %s", jstr(nic, "name"), jstr(nic, "mac"));
                        json_object *addrs;
                        if (json_object_object_get_ex(nic, "addresses", &addrs))
                                for (size_t j = 0; j < json_object_array_length(addrs); j++)
                                        printf(" %s", json_object_get_string(json_object_array_get_idx(addrs, j)));
                        printf("\n");
                }
        printf("Agent:     %s %s (build %s)\n", jstr(o, "agent.name"), jstr(o, "agent.version"),
               jstr(o, "agent.build"));
}

static void human_time(json_object *o) {
        printf("Source:      %s\nMode:        %s\nLast offset: %s ns\n", jstr(o, "source"), jstr(o, "mode"),
               jstr(o, "last_offset_ns"));
        json_object *h;
        if (json_object_object_get_ex(o, "history", &h))
                for (size_t i = 0; i < json_object_array_length(h); i++) {
                        json_object *e = json_object_array_get_idx(h, i);
                        printf("  %-8s %-12s before %12s ns  after %12s ns\n", jstr(e, "action"), jstr(e, "source"),
                               jstr(e, "offset_before_ns"), jstr(e, "offset_after_ns"));
                }
}

static int cmd_kvp(sd_bus *bus, int argc, char **argv) {
        if (argc < 1) {
                fprintf(stderr, "pvicctl: kvp needs get, set, delete or list\n");
                return 2;
        }
        const char *op = argv[0];
        sd_bus_message *reply = NULL;
        int r;
        if (strcmp(op, "get") == 0 && argc == 2) {
                r = call(bus, BUS_KVP_IFACE, "Get", &reply, "us", arg_pool, argv[1]);
                if (r < 0)
                        return -r;
                const char *v;
                if (sd_bus_message_read(reply, "s", &v) < 0)
                        v = "";
                if (arg_json) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "pool", json_object_new_int((int)arg_pool));
                        json_object_object_add(o, "key", json_object_new_string(argv[1]));
                        json_object_object_add(o, "value", json_object_new_string(v));
                        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                        json_object_put(o);
                } else
                        printf("%s\n", v);
        } else if (strcmp(op, "set") == 0 && argc == 3) {
                r = call(bus, BUS_KVP_IFACE, "Set", &reply, "uss", arg_pool, argv[1], argv[2]);
                if (r < 0)
                        return -r;
                if (arg_json)
                        printf("{\"ok\":true}\n");
        } else if (strcmp(op, "delete") == 0 && argc == 2) {
                r = call(bus, BUS_KVP_IFACE, "Delete", &reply, "us", arg_pool, argv[1]);
                if (r < 0)
                        return -r;
                if (arg_json)
                        printf("{\"ok\":true}\n");
        } else if (strcmp(op, "list") == 0 && argc == 1) {
                r = call(bus, BUS_KVP_IFACE, "List", &reply, "u", arg_pool);
                if (r < 0)
                        return -r;
                json_object *arr = json_object_new_array();
                if (sd_bus_message_enter_container(reply, 'a', "(ss)") >= 0) {
                        const char *k, *v;
                        while (sd_bus_message_read(reply, "(ss)", &k, &v) > 0) {
                                if (arg_json) {
                                        json_object *o = json_object_new_object();
                                        json_object_object_add(o, "key", json_object_new_string(k));
                                        json_object_object_add(o, "value", json_object_new_string(v));
                                        json_object_array_add(arr, o);
                                } else
                                        printf("%s=%s\n", k, v);
                        }
                }
                if (arg_json)
                        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
                json_object_put(arr);
        } else {
                fprintf(stderr, "pvicctl: usage: kvp get KEY | set KEY VALUE | delete KEY | list\n");
                return 2;
        }
        sd_bus_message_unref(reply);
        return 0;
}

static int parse_pool(const char *s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (*end || end == s || v > 4) {
                fprintf(stderr, "pvicctl: --pool takes 0 to 4\n");
                return -EINVAL;
        }
        arg_pool = (unsigned)v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "pool", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;
        while ((c = getopt_long(argc, argv, "+jp:h", options, NULL)) >= 0) {
                switch (c) {
                case 'j': arg_json = true; break;
                case 'p':
                        if (parse_pool(optarg) < 0)
                                return 2;
                        break;
                case 'h': help(); return 0;
                case 'V':
                        printf("pvicctl %d.%d.%d\n", PVIC_VERSION_MAJOR, PVIC_VERSION_MINOR, PVIC_VERSION_MICRO);
                        return 0;
                default: return 2;
                }
        }
        /* Options may also follow the command ("pvicctl kvp list --json"). */
        int n = 0;
        char **rest = calloc((size_t)argc + 1, sizeof *rest);
        if (!rest)
                return 1;
        for (int i = optind; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
                        arg_json = true;
                else if ((strcmp(argv[i], "--pool") == 0 || strcmp(argv[i], "-p") == 0) && i + 1 < argc) {
                        if (parse_pool(argv[++i]) < 0)
                                goto usage;
                } else if (strncmp(argv[i], "--pool=", 7) == 0) {
                        if (parse_pool(argv[i] + 7) < 0)
                                goto usage;
                } else
                        rest[n++] = argv[i];
        }
        if (n == 0) {
                help();
        usage:
                free(rest);
                return 2;
        }
        sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "pvicctl: cannot reach the system bus: %s\n", strerror(-r));
                free(rest);
                return 1;
        }
        int rc;
        if (strcmp(rest[0], "status") == 0)
                rc = cmd_json(bus, "Status", human_status);
        else if (strcmp(rest[0], "facts") == 0)
                rc = cmd_json(bus, "Facts", human_facts);
        else if (strcmp(rest[0], "time") == 0)
                rc = cmd_json(bus, "Time", human_time);
        else if (strcmp(rest[0], "kvp") == 0)
                rc = cmd_kvp(bus, n - 1, rest + 1);
        else {
                fprintf(stderr, "pvicctl: unknown command '%s' (see --help)\n", rest[0]);
                rc = 2;
        }
        sd_bus_flush_close_unref(bus);
        free(rest);
        return rc;
}
