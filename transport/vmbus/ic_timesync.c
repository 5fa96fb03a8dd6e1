#include <errno.h>

#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

/* Body offsets (§4.3): service versions below 4.0, and 4.0 ("reference time"). */
enum {
        TS3_PARENT = 0,
        TS3_CHILD = 8,
        TS3_ROUNDTRIP = 16,
        TS3_FLAGS = 24,
        TS4_PARENT = 0,
        TS4_REFTIME = 8,
        TS4_FLAGS = 16,
        TS4_LEAP = 17,
        TS4_STRATUM = 18,
};

int vmbus_filetime_to_unix_ns(uint64_t filetime, int64_t *ret) {
        /* Work in signed 128-bit-free arithmetic: shift the epoch first, then scale. */
        int64_t ticks, ns;

        if (filetime >= VMBUS_FILETIME_UNIX_DELTA) {
                if (filetime - VMBUS_FILETIME_UNIX_DELTA > INT64_MAX)
                        return -ERANGE;
                ticks = (int64_t)(filetime - VMBUS_FILETIME_UNIX_DELTA);
        } else
                ticks = -(int64_t)(VMBUS_FILETIME_UNIX_DELTA - filetime);

        if (__builtin_mul_overflow(ticks, (int64_t)100, &ns))
                return -ERANGE;
        *ret = ns;
        return 0;
}

int vmbus_unix_ns_to_filetime(int64_t ns, uint64_t *ret) {
        /* Floor division, so times before 1970 map to the tick that contains them.
         * int64 nanoseconds reach back to 1677 only, so every value has a FILETIME. */
        int64_t ticks = ns / 100 - (ns % 100 < 0);

        *ret = ticks >= 0 ? (uint64_t)ticks + VMBUS_FILETIME_UNIX_DELTA :
                            VMBUS_FILETIME_UNIX_DELTA - (uint64_t)(-ticks);
        return 0;
}

static bool is_v4(struct vmbus_ic_version v) {
        return v.major >= 4;
}

int vmbus_ic_timesync_decode(const uint8_t *pkt, size_t len, struct vmbus_ic_version msgver,
                             struct host_time_sample *ret) {
        const uint8_t *body = pkt + VMBUS_IC_HDR_SIZE;
        struct vmbus_ic_header h;
        struct host_time_sample s = { 0 };
        int r;

        r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        if (h.msgtype != VMBUS_IC_TIMESYNC)
                return -EBADMSG;
        if (len < VMBUS_IC_HDR_SIZE + (is_v4(msgver) ? VMBUS_IC_TIMESYNC_MIN_BODY_V4 :
                                                        VMBUS_IC_TIMESYNC_MIN_BODY_V3))
                return -EBADMSG;

        r = vmbus_filetime_to_unix_ns(wire_get64(body + TS3_PARENT), &s.host_time_ns);
        if (r < 0)
                return r;

        if (is_v4(msgver)) {
                uint64_t ref = wire_get64(body + TS4_REFTIME);

                if (__builtin_mul_overflow(ref, (uint64_t)100, &s.ref_time_ns))
                        return -ERANGE;
                s.has_ref_time = true;
                s.flags = body[TS4_FLAGS];
                s.leap = body[TS4_LEAP];
                s.stratum = body[TS4_STRATUM];
        } else {
                uint64_t child = wire_get64(body + TS3_CHILD);

                /* Unused by hosts in practice: report 0 rather than fail on junk. */
                if (child == 0 || vmbus_filetime_to_unix_ns(child, &s.child_time_ns) < 0)
                        s.child_time_ns = 0;
                if (__builtin_mul_overflow(wire_get64(body + TS3_ROUNDTRIP), (uint64_t)100,
                                           &s.round_trip_ns))
                        s.round_trip_ns = 0;
                s.flags = body[TS3_FLAGS];
        }
        s.flags &= HOST_TIME_SYNC | HOST_TIME_SAMPLE;

        *ret = s;
        return 0;
}

ssize_t vmbus_ic_timesync_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                                  uint8_t icflags, const struct vmbus_ic_timesync_wire *t) {
        uint8_t body[VMBUS_IC_TIMESYNC_BODY_V3] = { 0 };
        struct vmbus_ic_header h = {
                .framever = VMBUS_IC_VERSION(3, 0),
                .msgtype = VMBUS_IC_TIMESYNC,
                .msgver = msgver,
                .flags = icflags,
        };

        wire_put64(body + TS3_PARENT, t->parent_time);
        if (is_v4(msgver)) {
                wire_put64(body + TS4_REFTIME, t->vm_reference_time);
                body[TS4_FLAGS] = t->flags;
                body[TS4_LEAP] = t->leap_flags;
                body[TS4_STRATUM] = t->stratum;
                return vmbus_ic_request_encode(buf, bufsize, &h, body, VMBUS_IC_TIMESYNC_BODY_V4);
        }
        wire_put64(body + TS3_CHILD, t->child_time);
        wire_put64(body + TS3_ROUNDTRIP, t->round_trip_time);
        body[TS3_FLAGS] = t->flags;
        return vmbus_ic_request_encode(buf, bufsize, &h, body, VMBUS_IC_TIMESYNC_BODY_V3);
}
