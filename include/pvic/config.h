/* pvicd configuration: INI file (default /etc/pvic/pvicd.conf under the root prefix)
 * plus drop-ins from pvicd.conf.d/ *.conf in name order (later wins), then flags.
 * Unknown keys warn and are ignored; malformed values are errors. docs/pvicd.conf.md
 * lists every key. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Bounds for guest-local files: anything larger is a mistake or an attack. */
#define CONFIG_FILE_MAX (64u * 1024u)
#define CONFIG_LINE_MAX 4096u
#define CONFIG_DROPINS_MAX 256u

enum pvic_transport { PVIC_TRANSPORT_AUTO, PVIC_TRANSPORT_VMBUS, PVIC_TRANSPORT_XENSTORE };
enum pvic_vmbus_mode { PVIC_VMBUS_AUTO, PVIC_VMBUS_RELAY, PVIC_VMBUS_UIO };

struct pvic_config {
        char *root;                  /* prefix for every system path; "" means "/" */
        char *config_path;           /* explicit --config, or NULL for the default */
        enum pvic_transport transport;
        enum pvic_vmbus_mode vmbus_mode;
        unsigned vss_lease_sec;      /* [HyperV] VssLease=: a VSS freeze's lease (the wire names none) */
        int log_level;               /* syslog level */
        char *xenstore_path;         /* [Xen] Path=, or NULL: XENSTORED_PATH, then the devices */
        char *hypervisor_signature;  /* overrides CPUID leaf 0x40000000 (tests, odd nesting) */
        char *state_dir;             /* /var/lib/pvic */
        char *runtime_dir;           /* /run/pvic */
        bool virtual_clock;          /* discipline a virtual clock, not the system's (tests, demos) */
        int64_t virtual_clock_offset_ns;
};

void config_init(struct pvic_config *c);   /* defaults */
void config_done(struct pvic_config *c);   /* frees strings */

/* Loads the main file and its drop-ins into c. A missing main file is not an error
 * when it is the default one. Returns 0 or a negative errno (logged, with file:line). */
int config_load(struct pvic_config *c, const char *path, bool explicit_path);

/* Parses one INI text (for tests and fuzzing); `source` names it in messages. */
int config_parse_text(struct pvic_config *c, const char *text, const char *source);

int config_parse_transport(const char *s, enum pvic_transport *ret);
int config_parse_vmbus_mode(const char *s, enum pvic_vmbus_mode *ret);
const char *config_transport_name(enum pvic_transport t);
const char *config_vmbus_mode_name(enum pvic_vmbus_mode m);

/* Joins the root prefix and an absolute system path ("/etc/os-release") into a new
 * string; root "" or "/" gives the path itself. Returns NULL on OOM. */
char *root_path(const char *root, const char *path);

/* Reads a whole regular file of at most `max` bytes into a new NUL-terminated buffer
 * (*ret_size excludes the NUL; may be NULL). Does not follow st_size, so /proc files
 * work. -ENOENT if missing, -EFBIG if larger than max, -EISDIR/-EBADFD for a directory
 * or anything else that is not a regular file. Logs nothing: callers know the context. */
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size);
