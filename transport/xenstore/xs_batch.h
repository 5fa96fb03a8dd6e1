/* Internal between xs_client.c and xs_batch.c. */
#pragma once
#include "pvic/xs_client.h"

struct xs_batch;

struct xs_batch **xs_client_batches(struct xs_client *c);
sd_event *xs_client_event(struct xs_client *c);
/* Ends a batch with ECANCELED (client teardown); unlinks and frees it. */
void xs_batch_cancel(struct xs_client *c, struct xs_batch *b);
