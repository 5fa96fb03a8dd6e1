#include <string.h>

#include "pvic/bus-util.h"

const char *bus_error_short(const sd_bus_error *e, int r) {
        if (e && e->name) {
                const char *dot = strrchr(e->name, '.');
                return dot ? dot + 1 : e->name;
        }
        const char *n = strerrorname_np(r < 0 ? -r : r);
        return n ? n : "unknown";
}
