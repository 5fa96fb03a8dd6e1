/* What a backend calls with a typed host message (design.md "Data flow"). Services never
 * see wire bytes or the hypervisor's name; backends never know what a service does.
 * Implemented in daemon/services.c on top of health, shutdown, timesync and the KVP
 * store; every function is safe to call whatever is configured (a missing service
 * answers "not supported"/failure, never crashes). */
#pragma once
#include "pvic/hostmsg.h"
#include "pvic/shutdown.h"
#include "pvic/timesync.h"

struct pvicd;

/* Answered at once from the main loop: the loop turning is what proves liveness. */
enum host_app_state pvicd_heartbeat(struct pvicd *d, const struct host_heartbeat *hb);

/* Acknowledged at once through report (exactly one of accepted / refused / in-progress
 * / blocked), then progress reports; see docs/shutdown.md. Returns 0 or negative errno
 * when the request could not even be acknowledged (report not called). */
int pvicd_shutdown(struct pvicd *d, const struct host_shutdown *req, shutdown_report_fn report,
                   void *userdata);

/* A host time sample and how and when it arrived. */
void pvicd_time_sample(struct pvicd *d, const struct host_time_sample *s, const struct tsync_rx *rx);
/* Fills rx with the local clocks now (receive instant), send_realtime_ns = 0. Realtime
 * is read through the clock driver pvicd disciplines (the system clock, or the virtual
 * one in tests), so samples and corrections refer to the same clock. */
void pvicd_time_rx_now(struct pvicd *d, struct tsync_rx *rx);

/* A backend saw the domain resume or migrate (Xen: a new domain identity). */
void pvicd_resumed(struct pvicd *d);

/* A host KVP request against the pools: pool 2 is generated from the guest's facts
 * (Hyper-V intrinsic items), GET_IP_INFO from the network facts, the rest from the store. */
void pvicd_kvp(struct pvicd *d, const struct host_kvp_request *req, struct host_kvp_reply *reply);

/* Filesystem freeze for a backup (docs/freeze.md): report is called with the outcome
 * before these return, and again by a freeze's report when its lease ends it; userdata
 * must stay valid until then. lease_sec 0 = default, capped at FREEZE_LEASE_MAX_SEC. */
#include "pvic/freeze.h"
int pvicd_freeze(struct pvicd *d, unsigned lease_sec, freeze_report_fn report, void *userdata);
int pvicd_thaw(struct pvicd *d, freeze_report_fn report, void *userdata);
