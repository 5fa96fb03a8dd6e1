#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "pvic/kvp_store.h"
#include "pvic/kvp_watch.h"
#include "pvic/log.h"

/* Bursts of appends (cloud-init reports many events at boot) become one refresh. */
#define KVP_WATCH_DEBOUNCE_USEC 20000u

struct kvp_watch {
        sd_event *event;
        struct kvp_store *store;
        sd_event_source *inotify;
        sd_event_source *timer;
        unsigned dirty_pools;
};

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct kvp_watch *w = userdata;
        unsigned pools = w->dirty_pools;
        w->dirty_pools = 0;
        for (unsigned p = 0; p < KVP_POOL_COUNT; p++)
                if (pools & (1u << p)) {
                        int r = kvp_refresh(w->store, p);
                        if (r == -EAGAIN)
                                w->dirty_pools |= 1u << p; /* locked by a writer: try again */
                        else if (r < 0)
                                log_warning_errno(r, "kvp: cannot reread pool %u: %m", p);
                }
        if (w->dirty_pools) {
                sd_event_source_set_time_relative(s, KVP_WATCH_DEBOUNCE_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        struct kvp_watch *w = userdata;
        unsigned pool;
        char tail;
        if (ev->len == 0 || sscanf(ev->name, ".kvp_pool_%u%c", &pool, &tail) != 1 || pool >= KVP_POOL_COUNT)
                return 0;
        w->dirty_pools |= 1u << pool;
        int enabled = SD_EVENT_OFF;
        sd_event_source_get_enabled(w->timer, &enabled);
        if (enabled == SD_EVENT_OFF) {
                sd_event_source_set_time_relative(w->timer, KVP_WATCH_DEBOUNCE_USEC);
                sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        }
        return 0;
}

int kvp_watch_new(struct kvp_watch **ret, sd_event *e, struct kvp_store *s, const char *dir) {
        struct kvp_watch *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->store = s;
        int r = sd_event_add_time_relative(e, &w->timer, CLOCK_MONOTONIC, KVP_WATCH_DEBOUNCE_USEC, 0, on_timer, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_inotify(e, &w->inotify, dir, IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE,
                                         on_inotify, w);
        if (r < 0) {
                kvp_watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

struct kvp_watch *kvp_watch_free(struct kvp_watch *w) {
        if (!w)
                return NULL;
        w->inotify = sd_event_source_disable_unref(w->inotify);
        w->timer = sd_event_source_disable_unref(w->timer);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}
