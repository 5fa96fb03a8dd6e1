/* The xenstore wire protocol (spec/xen-guest.md §1): framing, message types, error
 * names and path rules. Shared by the guest client and pvic-hostsim's server; pure
 * functions over bytes, no I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define XS_HEADER_SIZE 16u
#define XS_PAYLOAD_MAX 4096u
/* The kernel's per-file buffer holds header and payload in 4096 bytes. */
#define XS_DEVICE_PAYLOAD_MAX (XS_PAYLOAD_MAX - XS_HEADER_SIZE)
#define XS_ABS_PATH_MAX 3072u
#define XS_REL_PATH_MAX 2048u

enum xs_type {
        XS_CONTROL = 0,
        XS_DIRECTORY = 1,
        XS_READ = 2,
        XS_GET_PERMS = 3,
        XS_WATCH = 4,
        XS_UNWATCH = 5,
        XS_TRANSACTION_START = 6,
        XS_TRANSACTION_END = 7,
        XS_INTRODUCE = 8,
        XS_RELEASE = 9,
        XS_GET_DOMAIN_PATH = 10,
        XS_WRITE = 11,
        XS_MKDIR = 12,
        XS_RM = 13,
        XS_SET_PERMS = 14,
        XS_WATCH_EVENT = 15,
        XS_ERROR = 16,
        XS_IS_DOMAIN_INTRODUCED = 17,
        XS_RESUME = 18,
        XS_SET_TARGET = 19,
        XS_RESTRICT_REMOVED = 20,
        XS_RESET_WATCHES = 21,
        XS_DIRECTORY_PART = 22,
        XS_GET_FEATURE = 23,
        XS_SET_FEATURE = 24,
        XS_GET_QUOTA = 25,
        XS_SET_QUOTA = 26,
        XS_TYPE_COUNT = 27,
};

struct xs_header {
        uint32_t type;
        uint32_t req_id;
        uint32_t tx_id;
        uint32_t len;
};

const char *xs_type_name(uint32_t type); /* "READ", or "UNKNOWN" */

/* Error names: only the wire list of xs_wire.h is ever emitted. */
const char *xs_error_name(int errnum);                 /* NULL if errnum has no wire name */
int xs_error_parse(const uint8_t *payload, size_t len); /* positive errno; unknown → EINVAL */

void xs_header_decode(const uint8_t buf[XS_HEADER_SIZE], struct xs_header *h);
void xs_header_encode(uint8_t buf[XS_HEADER_SIZE], const struct xs_header *h);

/* Finds one complete message at the start of a byte stream. Returns its total size
 * (header + payload), 0 when more bytes are needed, -E2BIG when the header claims more
 * than max_payload (the stream cannot be resynchronised: drop the connection). */
ssize_t xs_frame_next(const uint8_t *buf, size_t len, size_t max_payload, struct xs_header *h);

/* Encodes header + concatenated parts into buf. Returns the total size, -E2BIG when the
 * payload exceeds max_payload, -ENOBUFS when buf is too small. */
ssize_t xs_msg_encode(uint8_t *buf, size_t bufsize, size_t max_payload, uint32_t type,
                      uint32_t req_id, uint32_t tx_id, const struct iovec *parts, size_t nparts);

/* Splits a payload of NUL-terminated strings. Returns the count, or -EINVAL when the
 * payload does not end in NUL, -E2BIG when there are more than max strings. An empty
 * payload gives 0 strings. */
int xs_split_strings(const uint8_t *payload, size_t len, const char **out, size_t max);

/* A WATCH_EVENT payload: the first two strings are path and token; more are ignored. */
int xs_event_parse(const uint8_t *payload, size_t len, const char **path, const char **token);

/* Path rules of §1.5: allowed characters, no "//", no trailing '/', not empty, length.
 * '@' specials (@introduceDomain, @releaseDomain) only when allow_special. */
bool xs_path_valid(const char *path, bool allow_special);
