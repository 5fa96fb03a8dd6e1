/* Parsing of the host's control/pvic values (docs/xenstore-keys.md): pure functions over
 * host-supplied strings, no I/O, so they can be fuzzed (tests/fuzz/fuzz-xen-control.c). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define XEN_TOKEN_MAX 64u

/* Sequence numbers and ids echoed back: 1–64 printable ASCII characters, no spaces. */
bool xen_token_ok(const char *s);

/* A strict decimal int64: no spaces, no trailing bytes, no overflow. */
bool xen_parse_i64(const char *s, int64_t *ret);

/* control/pvic/time = "<seq> <t1>". 0, or -EINVAL. */
int xen_time_request_parse(const char *value, char seq[XEN_TOKEN_MAX + 1], int64_t *ret_t1);

/* control/pvic/time-result = "<seq> <t1> <t2> <t3> <t4>", checked against the exchange
 * we answered (seq, t1 as the host sent it, t2 and t3 as we wrote them): the NTP offset
 * (host − guest) θ = ((t1 − t2) + (t4 − t3)) / 2 and round trip δ = (t4 − t1) − (t3 − t2).
 * 0; -EINVAL malformed; -ESRCH not the exchange we answered; -ERANGE arithmetic that
 * would overflow or a round trip outside 0..max_delay_ns. */
int xen_time_result_parse(const char *value, const char *seq, int64_t t1, int64_t t2, int64_t t3,
                          int64_t max_delay_ns, int64_t *ret_offset, int64_t *ret_delay);
