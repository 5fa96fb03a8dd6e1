/* libFuzzer target: os-release(5) parsing. The file is guest-local, but its values go
 * to the host verbatim, so the parser must hold on any bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/facts.h"
#include "pvic/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct pvic_os_facts os = {};

        if (size > OS_RELEASE_FILE_MAX)
                return 0;
        log_set_max_level(-1);

        /* An exact-size copy, so ASan sees any read past `size`. */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        if (size)
                memcpy(text, data, size);

        if (facts_os_release_parse(&os, text, size) == 0) {
                /* The derived fields are always set and the bounds hold. */
                if (!os.name || !os.id || !os.version_id || !os.major || !os.minor ||
                    os.n_os_release > OS_RELEASE_FIELDS_MAX)
                        abort();
                if (strspn(os.major, "0123456789") != strlen(os.major) || !os.major[0] ||
                    strspn(os.minor, "0123456789") != strlen(os.minor) || !os.minor[0])
                        abort();
                /* Parsing twice into the same facts replaces, not leaks. */
                (void) facts_os_release_parse(&os, text, size);
        }
        facts_os_done(&os);
        free(text);
        return 0;
}
