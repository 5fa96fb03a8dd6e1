/* libFuzzer target: pvicd.conf parsing (config_parse_text), a
 * guest-local text read as root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/config.h"
#include "pvic/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct pvic_config c;

        if (size > CONFIG_FILE_MAX + 16)
                return 0;
        log_set_max_level(-1);

        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        config_init(&c);
        if (config_parse_text(&c, text, "fuzz") == 0) {
                /* Whatever was accepted must be usable. */
                if (!c.state_dir || c.state_dir[0] != '/' || !c.runtime_dir || c.runtime_dir[0] != '/')
                        abort();
                if (c.xenstore_path && c.xenstore_path[0] != '/')
                        abort();
                if (c.log_level < 0 || c.log_level > 7)
                        abort();
                if (strcmp(config_transport_name(c.transport), "invalid") == 0 ||
                    strcmp(config_vmbus_mode_name(c.vmbus_mode), "invalid") == 0)
                        abort();
        }
        config_done(&c);
        free(text);
        return 0;
}
