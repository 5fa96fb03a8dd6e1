/* The KVP relay runtime (spec/hyperv-ic.md §5, design.md decision 3 "relay"): the daemon
 * end of /dev/vmbus/hv_kvp, a drop-in for hv_kvp_daemon. Opens the device (or, under
 * pvic-hostsim, a unix SEQPACKET socket at the same path: decision 6), registers, then
 * answers one 7432-byte message at a time from the sd-event loop. Any I/O error closes
 * the device and reopens it with backoff (the kernel then expects a new registration). */
#pragma once
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "pvic/hostmsg.h"

struct vmbus_relay;

/* Answers one host request: sets reply->status and the fields its operation answers
 * with (the encoder reads nothing else; the reply is not cleared before the call). */
typedef void (*vmbus_relay_fn)(void *userdata, const struct host_kvp_request *req,
                               struct host_kvp_reply *reply);

#define VMBUS_RELAY_BACKOFF_MIN_USEC (100u * 1000u)
#define VMBUS_RELAY_BACKOFF_MAX_USEC (10u * 1000u * 1000u)

/* Starts at once (a missing device is retried with backoff, never an error here). */
int vmbus_relay_new(struct vmbus_relay **ret, sd_event *e, const char *path, vmbus_relay_fn fn,
                    void *userdata);
struct vmbus_relay *vmbus_relay_free(struct vmbus_relay *r);
/* The kernel's driver version from the registration answer ("3.1"), or NULL before. */
const char *vmbus_relay_version(const struct vmbus_relay *r);
bool vmbus_relay_is_registered(const struct vmbus_relay *r);
/* Requests answered since start, and device (re)opens. */
unsigned long long vmbus_relay_n_requests(const struct vmbus_relay *r);
unsigned vmbus_relay_n_opens(const struct vmbus_relay *r);

/* Opens a kernel relay device (/dev/vmbus/hv_kvp, hv_vss), or the SEQPACKET socket
 * pvic-hostsim puts at the same path. Returns the fd or a negative errno. */
int vmbus_relay_open_path(const char *path);
