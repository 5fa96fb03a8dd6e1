/* The host's control/pvic values (transport/xenstore/xen_control_parse.c): any bytes as
 * the time request and the time result, checked both against fixed exchange values and
 * against the ones the input itself names (so the arithmetic on hostile timestamps is
 * reached: it must never overflow, which UBSan reports). Properties: a parsed sequence is
 * a valid token, a returned delay is within its bounds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../transport/xenstore/xen_control_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char value[512], seq[XEN_TOKEN_MAX + 1], s2[72], f[4][32];
        int64_t t1, t[3] = { 0, 0, 0 }, offset, delay;
        const int64_t max = INT64_C(10000000000);

        if (size >= sizeof value)
                return 0;
        memcpy(value, data, size);
        value[size] = 0;

        (void) xen_token_ok(value);
        if (xen_time_request_parse(value, seq, &t1) == 0 && !xen_token_ok(seq))
                abort();

        /* Fixed exchange. */
        int r = xen_time_result_parse(value, "1", 1000, 2000, 3000, max, &offset, &delay);
        if (r == 0 && (delay < 0 || delay > max))
                abort();
        /* The exchange the input names: only t4 is then free. */
        if (sscanf(value, "%71s %31s %31s %31s %31s", s2, f[0], f[1], f[2], f[3]) == 5 &&
            xen_parse_i64(f[0], &t[0]) && xen_parse_i64(f[1], &t[1]) && xen_parse_i64(f[2], &t[2])) {
                r = xen_time_result_parse(value, s2, t[0], t[1], t[2], max, &offset, &delay);
                if (r == -ESRCH)
                        abort(); /* it names exactly this exchange */
                if (r == 0 && (delay < 0 || delay > max))
                        abort();
        }
        return 0;
}
