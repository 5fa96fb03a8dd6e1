/* Guest facts: what the host reads about the guest (OS, kernel, memory, addresses).
 * Collectors fill them from files under the root prefix; presentations (xenstore keys,
 * Hyper-V intrinsic KVP items) read them and never collect anything themselves. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* os-release is guest-local but still parsed with bounds: longer lines are skipped,
 * fields past the limit dropped. */
#define OS_RELEASE_FILE_MAX (64u * 1024u)
#define OS_RELEASE_LINE_MAX 4096u
#define OS_RELEASE_FIELDS_MAX 128u
#define MEMINFO_FILE_MAX (64u * 1024u)

struct pvic_kv {
        char *key;
        char *value;
};

struct pvic_os_facts {
        char *name;        /* os-release PRETTY_NAME (fallback NAME, then "Linux") */
        char *id;          /* os-release ID, lowercase (fallback "linux") */
        char *version_id;  /* os-release VERSION_ID or "" */
        char *major;       /* digits before the first '.' of VERSION_ID, or "0" */
        char *minor;       /* digits after it, or "0" */
        char *kernel_release; /* uname -r */
        char *kernel_version; /* uname -v */
        char *machine;     /* uname -m */
        char *hostname;
        struct pvic_kv *os_release; /* every os-release field, file order */
        unsigned n_os_release;
};

struct pvic_mem_facts {
        uint64_t total_kib;
        uint64_t available_kib; /* MemAvailable, MemFree when the kernel lacks it */
};

/* Reads ROOT/etc/os-release (then ROOT/usr/lib/os-release, only if the first is missing)
 * and uname(2). `os` must be zeroed or hold earlier facts, which are replaced only on
 * success. Missing or unreadable os-release files give the defaults, not an error. */
int facts_os_collect(struct pvic_os_facts *os, const char *root);
void facts_os_done(struct pvic_os_facts *os);
/* Parses os-release text per os-release(5): quoting, escapes, comments. Replaces the
 * os-release fields of `os` (name, id, version_id, major, minor, os_release) and keeps
 * the uname ones. Invalid lines are skipped. Returns 0 or -ENOMEM. */
int facts_os_release_parse(struct pvic_os_facts *os, const char *text, size_t len);

/* Parses ROOT/proc/meminfo; `mem` is changed only on success. -EBADMSG without MemTotal
 * or without both MemAvailable and MemFree. */
int facts_mem_collect(struct pvic_mem_facts *mem, const char *root);
/* The text part of facts_mem_collect (tests, fuzzing). */
int facts_mem_parse(struct pvic_mem_facts *mem, const char *text);
