/* Typed host messages (design.md "Data flow"): what a transport backend hands a service
 * and what the service hands back. No wire bytes are left in them: text is UTF-8, times
 * are Unix-epoch nanoseconds, outcomes are an enum the backend maps to its wire codes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* Outcome of a host request, as a service reports it. */
enum host_status {
        HOST_STATUS_OK,
        HOST_STATUS_FAILED,        /* generic failure, refused, timed out */
        HOST_STATUS_NOT_FOUND,     /* KVP: no such key / end of enumeration */
        HOST_STATUS_INVALID_ARG,   /* KVP SET_IP_INFO: malformed address */
        HOST_STATUS_NO_ADAPTER,    /* KVP SET_IP_INFO: no interface with that id */
        HOST_STATUS_NOT_SUPPORTED,
};

/* Heartbeat: the host asks "are you alive"; answering proves the answering code runs. */
struct host_heartbeat {
        uint64_t sequence;
};

enum host_app_state {
        HOST_APP_UNKNOWN,
        HOST_APP_HEALTHY,
        HOST_APP_CRITICAL,
        HOST_APP_STOPPED,
};

enum host_shutdown_action {
        HOST_SHUTDOWN_POWEROFF,
        HOST_SHUTDOWN_REBOOT,
        HOST_SHUTDOWN_HALT,
        HOST_SHUTDOWN_HIBERNATE,
};

/* 1024 UTF-16 units at most 3 UTF-8 bytes each, plus NUL. */
#define HOST_SHUTDOWN_MESSAGE_MAX 3073

struct host_shutdown {
        enum host_shutdown_action action;
        bool force;                /* host asked to skip the orderly path */
        uint32_t timeout_sec;      /* the host's deadline; 0 = none given */
        uint32_t reason_code;      /* Windows SHTDN_REASON_*, informative */
        char message[HOST_SHUTDOWN_MESSAGE_MAX]; /* UTF-8; "" when absent or undecodable */
};

#define HOST_TIME_SYNC   0x1u /* set the clock now */
#define HOST_TIME_SAMPLE 0x2u /* a hint for discipline */

struct host_time_sample {
        int64_t host_time_ns;      /* host wall clock (UTC), ns since the Unix epoch */
        unsigned flags;            /* HOST_TIME_*; 0 = probe */
        /* When has_ref_time, host_time_ns was read when the partition reference counter
         * showed ref_time_ns (Hyper-V timesync 4.0); otherwise the sample is as old as
         * its transit time. */
        bool has_ref_time;
        uint64_t ref_time_ns;
        int64_t child_time_ns;     /* older protocols: guest time the host saw, or 0 */
        uint64_t round_trip_ns;    /* older protocols: the host's round-trip estimate, or 0 */
        uint8_t leap;              /* NTP leap indicator, 0 if unknown */
        uint8_t stratum;           /* 0 if unknown */
};

enum host_kvp_op {
        HOST_KVP_GET,
        HOST_KVP_SET,
        HOST_KVP_DELETE,
        HOST_KVP_ENUMERATE,
        HOST_KVP_GET_IP_INFO,
        HOST_KVP_SET_IP_INFO,
};

enum host_kvp_pool {
        HOST_KVP_POOL_EXTERNAL = 0,      /* host -> guest items */
        HOST_KVP_POOL_GUEST = 1,         /* guest -> host items */
        HOST_KVP_POOL_AUTO = 2,          /* generated guest facts */
        HOST_KVP_POOL_AUTO_EXTERNAL = 3, /* facts about the host */
        HOST_KVP_POOL_AUTO_INTERNAL = 4,
};

/* The type the host gave a SET value. Integers arrive already as decimal text in
 * `value`, the form the pool files and hv_kvp_daemon use. */
enum host_kvp_type {
        HOST_KVP_STRING,
        HOST_KVP_U32,
        HOST_KVP_U64,
};

/* Bytes including NUL: 256 / 1024 UTF-16 units, each at most 3 UTF-8 bytes. */
#define HOST_KVP_KEY_MAX   769
#define HOST_KVP_VALUE_MAX 3073

#define HOST_KVP_ADDR_IPV4 0x1u
#define HOST_KVP_ADDR_IPV6 0x2u

struct host_kvp_ip_info {
        char adapter_id[385];      /* GET: MAC "00:15:5D:..."; SET: "{guid}" */
        uint8_t addr_family;       /* HOST_KVP_ADDR_* bits */
        bool dhcp_enabled;
        char ip_addr[3073];        /* ';'-separated lists, UTF-8 */
        char sub_net[3073];
        char gate_way[1537];
        char dns_addr[3073];
};

struct host_kvp_request {
        enum host_kvp_op op;
        uint8_t pool;              /* enum host_kvp_pool; the host may send any byte */
        uint32_t index;            /* ENUMERATE */
        enum host_kvp_type value_type; /* SET */
        char key[HOST_KVP_KEY_MAX];    /* GET, SET, DELETE */
        char value[HOST_KVP_VALUE_MAX]; /* SET */
        struct host_kvp_ip_info ip;    /* GET_IP_INFO (adapter_id, addr_family), SET_IP_INFO */
};

struct host_kvp_reply {
        enum host_status status;
        char key[HOST_KVP_KEY_MAX];     /* ENUMERATE */
        char value[HOST_KVP_VALUE_MAX]; /* ENUMERATE, GET */
        struct host_kvp_ip_info ip;     /* GET_IP_INFO */
};
