#pragma once
#include "pvic/pvicd.h"

int pvicd_new(struct pvicd **ret);
struct pvicd *pvicd_free(struct pvicd *d);
/* Signals, watchdog, facts, then the backend's init (which must not wait on the host). */
int pvicd_start(struct pvicd *d, const struct pvic_backend_ops *backend);
/* READY=1, then the loop until SIGTERM/SIGINT. */
int pvicd_run(struct pvicd *d);
