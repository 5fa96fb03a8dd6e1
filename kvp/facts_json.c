#include <stdio.h>

#include "pvic/facts_json.h"
#include "pvic/net_json.h"

static void add_str(json_object *o, const char *k, const char *v) {
        json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

json_object *facts_to_json(const struct pvic_os_facts *os, const struct pvic_mem_facts *mem,
                           const struct net_snapshot *net) {
        json_object *root = json_object_new_object();
        add_str(root, "schema", PVIC_FACTS_SCHEMA);

        json_object *agent = json_object_new_object();
        char version[48];
        snprintf(version, sizeof version, "%d.%d.%d", PVIC_VERSION_MAJOR, PVIC_VERSION_MINOR,
                 PVIC_VERSION_MICRO);
        add_str(agent, "name", "pvicd");
        add_str(agent, "version", version);
        json_object_object_add(agent, "build", json_object_new_int(PVIC_VERSION_BUILD));
        json_object_object_add(root, "agent", agent);

        json_object *o = json_object_new_object();
        add_str(o, "name", os->name);
        add_str(o, "id", os->id);
        add_str(o, "version_id", os->version_id);
        add_str(o, "major", os->major);
        add_str(o, "minor", os->minor);
        json_object *rel = json_object_new_object();
        for (unsigned i = 0; i < os->n_os_release; i++)
                add_str(rel, os->os_release[i].key, os->os_release[i].value);
        json_object_object_add(o, "os_release", rel);
        json_object_object_add(root, "os", o);

        json_object *k = json_object_new_object();
        add_str(k, "release", os->kernel_release);
        add_str(k, "version", os->kernel_version);
        add_str(k, "machine", os->machine);
        json_object_object_add(root, "kernel", k);
        add_str(root, "hostname", os->hostname);

        json_object *m = json_object_new_object();
        json_object_object_add(m, "total_kib", json_object_new_int64((int64_t)mem->total_kib));
        json_object_object_add(m, "available_kib", json_object_new_int64((int64_t)mem->available_kib));
        json_object_object_add(root, "memory", m);
        json_object_object_add(root, "network", net ? net_snapshot_to_json(net) : json_object_new_array());
        return root;
}
