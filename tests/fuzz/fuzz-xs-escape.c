/* Key escaping is a bijection: escape(unescape(x)) == x for every accepted name, and
 * unescape(escape(k)) == k for every key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/xs_escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 1024)
                return 0;
        char in[1025], a[3 * 1024 + 1], b[1025];
        memcpy(in, data, size);
        in[size] = 0;
        if (xs_key_escape(in, a, sizeof a) >= 0) {
                if (xs_key_unescape(a, b, sizeof b) < 0 || strcmp(b, in) != 0)
                        abort();
        }
        if (xs_key_unescape(in, b, sizeof b) >= 0) {
                if (xs_key_escape(b, a, sizeof a) < 0 || strcmp(a, in) != 0)
                        abort();
        }
        return 0;
}
