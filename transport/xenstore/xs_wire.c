#include <errno.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/xs_wire.h"

static const char *const type_names[XS_TYPE_COUNT] = {
        [XS_CONTROL] = "CONTROL",
        [XS_DIRECTORY] = "DIRECTORY",
        [XS_READ] = "READ",
        [XS_GET_PERMS] = "GET_PERMS",
        [XS_WATCH] = "WATCH",
        [XS_UNWATCH] = "UNWATCH",
        [XS_TRANSACTION_START] = "TRANSACTION_START",
        [XS_TRANSACTION_END] = "TRANSACTION_END",
        [XS_INTRODUCE] = "INTRODUCE",
        [XS_RELEASE] = "RELEASE",
        [XS_GET_DOMAIN_PATH] = "GET_DOMAIN_PATH",
        [XS_WRITE] = "WRITE",
        [XS_MKDIR] = "MKDIR",
        [XS_RM] = "RM",
        [XS_SET_PERMS] = "SET_PERMS",
        [XS_WATCH_EVENT] = "WATCH_EVENT",
        [XS_ERROR] = "ERROR",
        [XS_IS_DOMAIN_INTRODUCED] = "IS_DOMAIN_INTRODUCED",
        [XS_RESUME] = "RESUME",
        [XS_SET_TARGET] = "SET_TARGET",
        [XS_RESET_WATCHES] = "RESET_WATCHES",
        [XS_DIRECTORY_PART] = "DIRECTORY_PART",
        [XS_GET_FEATURE] = "GET_FEATURE",
        [XS_SET_FEATURE] = "SET_FEATURE",
        [XS_GET_QUOTA] = "GET_QUOTA",
        [XS_SET_QUOTA] = "SET_QUOTA",
};

const char *xs_type_name(uint32_t type) {
        if (type < XS_TYPE_COUNT && type_names[type])
                return type_names[type];
        return "UNKNOWN";
}

/* In xs_wire.h order; new names are only ever appended upstream. */
static const struct {
        int num;
        const char *name;
} errors[] = {
        { EINVAL, "EINVAL" }, { EACCES, "EACCES" },   { EEXIST, "EEXIST" },
        { EISDIR, "EISDIR" }, { ENOENT, "ENOENT" },   { ENOMEM, "ENOMEM" },
        { ENOSPC, "ENOSPC" }, { EIO, "EIO" },         { ENOTEMPTY, "ENOTEMPTY" },
        { ENOSYS, "ENOSYS" }, { EROFS, "EROFS" },     { EBUSY, "EBUSY" },
        { EAGAIN, "EAGAIN" }, { EISCONN, "EISCONN" }, { E2BIG, "E2BIG" },
        { EPERM, "EPERM" },
};

const char *xs_error_name(int errnum) {
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].num == errnum)
                        return errors[i].name;
        return NULL;
}

int xs_error_parse(const uint8_t *payload, size_t len) {
        /* Tolerate a missing NUL; compare the bytes before the first NUL. */
        const uint8_t *nul = memchr(payload, 0, len);
        size_t n = nul ? (size_t)(nul - payload) : len;
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (strlen(errors[i].name) == n && memcmp(errors[i].name, payload, n) == 0)
                        return errors[i].num;
        return EINVAL;
}

static uint32_t get_u32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof v); /* host byte order, as the protocol says */
        return v;
}

void xs_header_decode(const uint8_t buf[XS_HEADER_SIZE], struct xs_header *h) {
        h->type = get_u32(buf);
        h->req_id = get_u32(buf + 4);
        h->tx_id = get_u32(buf + 8);
        h->len = get_u32(buf + 12);
}

void xs_header_encode(uint8_t buf[XS_HEADER_SIZE], const struct xs_header *h) {
        memcpy(buf, &h->type, 4);
        memcpy(buf + 4, &h->req_id, 4);
        memcpy(buf + 8, &h->tx_id, 4);
        memcpy(buf + 12, &h->len, 4);
}

ssize_t xs_frame_next(const uint8_t *buf, size_t len, size_t max_payload, struct xs_header *h) {
        if (len < XS_HEADER_SIZE)
                return 0;
        xs_header_decode(buf, h);
        if (h->len > max_payload)
                return -E2BIG;
        if (len < XS_HEADER_SIZE + (size_t)h->len)
                return 0;
        return (ssize_t)(XS_HEADER_SIZE + h->len);
}

ssize_t xs_msg_encode(uint8_t *buf, size_t bufsize, size_t max_payload, uint32_t type,
                      uint32_t req_id, uint32_t tx_id, const struct iovec *parts, size_t nparts) {
        size_t total = 0;
        for (size_t i = 0; i < nparts; i++) {
                if (parts[i].iov_len > max_payload)
                        return -E2BIG;
                total += parts[i].iov_len;
        }
        if (total > max_payload)
                return -E2BIG;
        if (bufsize < XS_HEADER_SIZE + total)
                return -ENOBUFS;
        struct xs_header h = { type, req_id, tx_id, (uint32_t)total };
        xs_header_encode(buf, &h);
        size_t off = XS_HEADER_SIZE;
        for (size_t i = 0; i < nparts; i++) {
                if (parts[i].iov_len)
                        memcpy(buf + off, parts[i].iov_base, parts[i].iov_len);
                off += parts[i].iov_len;
        }
        return (ssize_t)off;
}

int xs_split_strings(const uint8_t *payload, size_t len, const char **out, size_t max) {
        if (len == 0)
                return 0;
        if (payload[len - 1] != 0)
                return -EINVAL;
        size_t n = 0;
        for (size_t off = 0; off < len;) {
                if (n == max)
                        return -E2BIG;
                out[n++] = (const char *)payload + off;
                off += strlen((const char *)payload + off) + 1;
        }
        return (int)n;
}

int xs_event_parse(const uint8_t *payload, size_t len, const char **path, const char **token) {
        const uint8_t *nul1 = memchr(payload, 0, len);
        if (!nul1)
                return -EINVAL;
        size_t rest = len - (size_t)(nul1 + 1 - payload);
        if (!memchr(nul1 + 1, 0, rest))
                return -EINVAL;
        *path = (const char *)payload;
        *token = (const char *)nul1 + 1;
        return 0;
}

bool xs_path_valid(const char *path, bool allow_special) {
        size_t len = strlen(path);
        if (len == 0 || len > XS_ABS_PATH_MAX)
                return false;
        if (path[0] == '@') {
                if (!allow_special)
                        return false;
                return strcmp(path, "@introduceDomain") == 0 || strcmp(path, "@releaseDomain") == 0 ||
                       strncmp(path, "@releaseDomain/", 15) == 0;
        }
        if (strcmp(path, "/") == 0)
                return true;
        if (path[len - 1] == '/')
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = path[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '/' || c == '_' || c == '@';
                if (!ok)
                        return false;
                if (c == '/' && path[i + 1] == '/')
                        return false;
        }
        return true;
}
