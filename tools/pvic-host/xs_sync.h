/* Blocking calls over the async xenstore client, for a CLI: each runs the event loop
 * until its reply arrives or the deadline passes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvic/xs_client.h"

struct xs_sync {
        sd_event *event;
        struct xs_client *client;
        bool connected;
        uint64_t timeout_usec;
};

int xs_sync_open(struct xs_sync *s, const char *socket_path, uint64_t timeout_usec);
void xs_sync_close(struct xs_sync *s);

/* *value is a new NUL-terminated string. Negative errno (-ENOENT, -EACCES, -ETIMEDOUT). */
int xs_sync_read(struct xs_sync *s, const char *path, char **value);
int xs_sync_write(struct xs_sync *s, const char *path, const char *value);
int xs_sync_rm(struct xs_sync *s, const char *path);
/* *names is a NULL-terminated array of new strings (free with xs_sync_strv_free). */
int xs_sync_directory(struct xs_sync *s, const char *path, char ***names);
int xs_sync_batch(struct xs_sync *s, const struct xs_op *ops, size_t n);
void xs_sync_strv_free(char **v);

/* Runs the loop until `done(userdata)` is true or `usec` passes; -ETIMEDOUT then. */
int xs_sync_wait(struct xs_sync *s, bool (*done)(void *userdata), void *userdata, uint64_t usec);
uint64_t xs_sync_now_usec(void);
