/* The virtual clock driver (timesync/clock_virtual.c): real time plus an offset that
 * pvicd disciplines instead of the machine's clock; `pvicd --virtual-clock`. */
#pragma once
#include <stdint.h>

#include "pvic/clock.h"

struct clock_driver *clock_virtual_new(int64_t initial_offset_ns);
