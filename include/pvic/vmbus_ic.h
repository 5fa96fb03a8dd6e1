/* Hyper-V Integration Component framework (spec/hyperv-ic.md §2.7, §3, §4): the pipe and
 * IC headers, version negotiation, reply rules and the per-IC message codecs. All
 * functions work on one packet payload (what vmbus_ring_recv() returns: pipe header at
 * offset 0) and never touch bytes beyond the length they are given. Guest replies are
 * built in place in the request buffer, as Linux does: same length, every byte the
 * service does not define echoed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvic/hostmsg.h"

#define VMBUS_PIPE_HDR_SIZE 8u
#define VMBUS_PIPE_DATA 1u
#define VMBUS_IC_HDR_SIZE 28u  /* pipe header + icmsghdr ("ICMSG_HDR") */
#define VMBUS_IC_MAX_PAYLOAD 16384u /* Linux's receive buffer for util channels */

enum vmbus_ic_type {
        VMBUS_IC_NEGOTIATE = 0,
        VMBUS_IC_HEARTBEAT = 1,
        VMBUS_IC_KVP = 2,
        VMBUS_IC_SHUTDOWN = 3,
        VMBUS_IC_TIMESYNC = 4,
        VMBUS_IC_VSS = 5,
        VMBUS_IC_RDV = 6,
        VMBUS_IC_FCOPY = 7,
        VMBUS_IC_VMSESSION = 8,
};

#define VMBUS_ICMSGHDRFLAG_TRANSACTION 0x1u
#define VMBUS_ICMSGHDRFLAG_REQUEST     0x2u
#define VMBUS_ICMSGHDRFLAG_RESPONSE    0x4u

#define VMBUS_IC_S_OK                       0x00000000u
#define VMBUS_IC_E_FAIL                     0x80004005u
#define VMBUS_IC_S_CONT                     0x80070103u
#define VMBUS_IC_ERROR_NOT_SUPPORTED        0x80070032u
#define VMBUS_IC_ERROR_MACHINE_LOCKED       0x800704F7u
#define VMBUS_IC_ERROR_DEVICE_NOT_CONNECTED 0x8007048Fu
#define VMBUS_IC_INVALIDARG                 0x80070057u
#define VMBUS_IC_GUID_NOTFOUND              0x80041002u
#define VMBUS_IC_ERROR_ALREADY_EXISTS       0x80070050u
#define VMBUS_IC_ERROR_DISK_FULL            0x80070070u

uint32_t vmbus_ic_status_to_hresult(enum host_status s);
enum host_status vmbus_ic_status_from_hresult(uint32_t hr);

struct vmbus_ic_version {
        uint16_t major;
        uint16_t minor;
};
#define VMBUS_IC_VERSION(ma, mi) ((struct vmbus_ic_version) { .major = (ma), .minor = (mi) })
int vmbus_ic_version_cmp(struct vmbus_ic_version a, struct vmbus_ic_version b);

struct vmbus_ic_header {
        uint32_t pipe_type;        /* VMBUS_PIPE_DATA */
        uint32_t pipe_size;        /* bytes after the pipe header, unpadded */
        struct vmbus_ic_version framever;
        uint16_t msgtype;          /* enum vmbus_ic_type */
        struct vmbus_ic_version msgver;
        uint16_t msgsize;          /* IC body size */
        uint32_t status;
        uint8_t transaction_id;
        uint8_t flags;             /* VMBUS_ICMSGHDRFLAG_* */
};

/* -EBADMSG when len < VMBUS_IC_HDR_SIZE (Linux drops such packets unanswered). */
int vmbus_ic_header_decode(const uint8_t *pkt, size_t len, struct vmbus_ic_header *h);
/* Writes both headers into pkt[0..VMBUS_IC_HDR_SIZE); reserved bytes become 0. */
void vmbus_ic_header_encode(uint8_t *pkt, const struct vmbus_ic_header *h);
/* Turns a request (len >= VMBUS_IC_HDR_SIZE) into its reply: icflags exactly
 * TRANSACTION|RESPONSE, status set, everything else left as the host sent it. */
void vmbus_ic_set_reply(uint8_t *pkt, uint32_t status);

/* Host side (pvic-hostsim, tests): writes pipe + IC header (pipe type 1, sizes from
 * body_len) and copies body. Returns the payload length, -ENOBUFS, -EMSGSIZE. */
ssize_t vmbus_ic_request_encode(uint8_t *buf, size_t bufsize, const struct vmbus_ic_header *h,
                                const void *body, size_t body_len);

/* A guest's supported versions, in preference order (§3.3). */
struct vmbus_ic_versions {
        const struct vmbus_ic_version *fw;
        size_t n_fw;
        const struct vmbus_ic_version *msg;
        size_t n_msg;
};
extern const struct vmbus_ic_versions vmbus_ic_heartbeat_versions;
extern const struct vmbus_ic_versions vmbus_ic_shutdown_versions;
extern const struct vmbus_ic_versions vmbus_ic_timesync_versions;
extern const struct vmbus_ic_versions vmbus_ic_kvp_versions;
extern const struct vmbus_ic_versions vmbus_ic_vss_versions;
/* NULL for ICs pvic does not implement. */
const struct vmbus_ic_versions *vmbus_ic_versions_for(enum vmbus_ic_type t);

#define VMBUS_IC_NEGOTIATE_MAX_COUNT 100u

/* Answers a negotiate request in place with Linux's algorithm (§3.3): the first entry of
 * each of our lists that the host offers. Returns 1 on a match (*ret_fw, *ret_msg set),
 * 0 when nothing matched or the request is malformed (both counts 0, status VMBUS_IC_E_FAIL),
 * -EBADMSG when len < VMBUS_IC_HDR_SIZE or the packet is not a negotiate message (drop,
 * no reply). In every case >= 0 the buffer
 * is a reply ready to send with the request's length. */
int vmbus_ic_negotiate(uint8_t *pkt, size_t len, const struct vmbus_ic_versions *v,
                       struct vmbus_ic_version *ret_fw, struct vmbus_ic_version *ret_msg);

/* Host side: a negotiate request offering fw[] and msg[] (header versions 0.0, icflags
 * TRANSACTION|REQUEST). Returns the payload length or a negative errno. */
ssize_t vmbus_ic_negotiate_request(uint8_t *buf, size_t bufsize,
                                   const struct vmbus_ic_version *fw, size_t n_fw,
                                   const struct vmbus_ic_version *msg, size_t n_msg);
/* Host side: reads a negotiate reply. 1 with the chosen versions, 0 for "no supported
 * versions" (counts 0 or status != 0), -EBADMSG when malformed or not a reply. */
int vmbus_ic_negotiate_reply_decode(const uint8_t *pkt, size_t len,
                                    struct vmbus_ic_version *ret_fw,
                                    struct vmbus_ic_version *ret_msg);

/* ---- Heartbeat (§4.1) ---- */
#define VMBUS_IC_HEARTBEAT_MIN_BODY 8u
#define VMBUS_IC_HEARTBEAT_BODY 16u /* seq_num, application_state, reserved */

int vmbus_ic_heartbeat_decode(const uint8_t *pkt, size_t len, struct host_heartbeat *ret);
/* Writes sequence + 1 and, when msgver >= 3.1 and the body has room, the application
 * state; then the reply flags with status 0. */
int vmbus_ic_heartbeat_reply(uint8_t *pkt, size_t len, struct vmbus_ic_version msgver,
                             const struct host_heartbeat *hb, enum host_app_state state);
ssize_t vmbus_ic_heartbeat_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                                   uint64_t sequence);
/* Host side: the sequence the guest answered. */
int vmbus_ic_heartbeat_reply_decode(const uint8_t *pkt, size_t len, uint64_t *ret_seq,
                                    uint32_t *ret_app_state);

/* ---- Shutdown (§4.2) ---- */
#define VMBUS_IC_SHUTDOWN_BODY 2060u
#define VMBUS_IC_SHUTDOWN_FLAG_FORCE     0x1u
#define VMBUS_IC_SHUTDOWN_FLAG_RESTART   0x2u
#define VMBUS_IC_SHUTDOWN_FLAG_HIBERNATE 0x4u

/* -EBADMSG for a short packet (drop it, as Linux does), -EOPNOTSUPP for a flags value
 * outside §4.2's table (answer VMBUS_IC_E_FAIL). An undecodable display message is not an
 * error: the request is still valid, message is then "". */
int vmbus_ic_shutdown_decode(const uint8_t *pkt, size_t len, struct host_shutdown *ret);
/* Host side. message is UTF-8 (may be NULL). */
ssize_t vmbus_ic_shutdown_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                                  uint32_t reason_code, uint32_t timeout_sec, uint32_t flags,
                                  const char *message);

/* ---- Time synchronisation (§4.3) ---- */
#define VMBUS_IC_TIMESYNC_MIN_BODY_V3 25u
#define VMBUS_IC_TIMESYNC_MIN_BODY_V4 22u
#define VMBUS_IC_TIMESYNC_BODY_V3 28u /* OpenVMM's padded sizes */
#define VMBUS_IC_TIMESYNC_BODY_V4 24u
#define VMBUS_IC_TIMESYNC_FLAG_SYNC   0x1u
#define VMBUS_IC_TIMESYNC_FLAG_SAMPLE 0x2u
#define VMBUS_FILETIME_UNIX_DELTA 116444736000000000ull /* 100 ns ticks 1601 -> 1970 */

/* FILETIME (100 ns since 1601) <-> ns since 1970. FILETIMEs outside int64 nanoseconds
 * (before 1677, after 2262) give -ERANGE; the other direction always succeeds. */
int vmbus_filetime_to_unix_ns(uint64_t filetime, int64_t *ret);
int vmbus_unix_ns_to_filetime(int64_t ns, uint64_t *ret);

/* The layout follows the negotiated message version (>= 4.0: reference-time form). */
int vmbus_ic_timesync_decode(const uint8_t *pkt, size_t len, struct vmbus_ic_version msgver,
                             struct host_time_sample *ret);
struct vmbus_ic_timesync_wire {
        uint64_t parent_time;      /* FILETIME */
        uint64_t child_time;       /* v < 4 */
        uint64_t round_trip_time;  /* v < 4, 100 ns */
        uint64_t vm_reference_time; /* v >= 4, 100 ns */
        uint8_t flags;
        uint8_t leap_flags;        /* v >= 4 */
        uint8_t stratum;           /* v >= 4 */
};
ssize_t vmbus_ic_timesync_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                                  uint8_t icflags, const struct vmbus_ic_timesync_wire *t);

/* ---- Shared by the status-only replies (shutdown, timesync, KVP SET/DELETE/...) ---- */
void vmbus_ic_reply_status(uint8_t *pkt, enum host_status s);

/* ---- KVP (§4.4) ---- */
#define VMBUS_IC_KVP_BODY 2580u     /* every non-IP message, as hosts send it */
#define VMBUS_IC_KVP_IP_BODY 7428u  /* hv_kvp_ip_msg */
#define VMBUS_KVP_REG_SZ 1u
#define VMBUS_KVP_REG_EXPAND_SZ 2u
#define VMBUS_KVP_REG_DWORD 4u
#define VMBUS_KVP_REG_U64_LINUX 8u
#define VMBUS_KVP_REG_QWORD 11u

/* -EBADMSG for a packet too short for the KVP header, -EOPNOTSUPP for an unknown
 * operation or value type, -EILSEQ for a string that is not valid UTF-16 (answer each
 * of the last three with VMBUS_IC_E_FAIL). Short bodies are read as if zero-extended. */
int vmbus_ic_kvp_decode(const uint8_t *pkt, size_t len, struct host_kvp_request *ret);
/* Builds the reply to the request in pkt. Strings longer than their wire field are cut
 * at a character boundary (as Linux does; an error would end the host's enumeration);
 * returns 1 if something was cut, 0 if not, -EBADMSG/-EILSEQ when the reply cannot be
 * built (pkt then holds an VMBUS_IC_E_FAIL reply). */
int vmbus_ic_kvp_reply(uint8_t *pkt, size_t len, const struct host_kvp_reply *reply);
/* Host side: a request as hosts send it (full-size zero-filled body, icflags 0x3). */
ssize_t vmbus_ic_kvp_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                             const struct host_kvp_request *req);
/* Host side: reads the guest's reply to op. */
int vmbus_ic_kvp_reply_decode(const uint8_t *pkt, size_t len, struct host_kvp_reply *ret);

/* ---- VSS, backups (docs/vmbus.md "VSS": Linux's hv_snapshot.c, MacHyperVSupport) ----
 * Body: u8 operation, 7 reserved bytes, then a u32 flags field that HOT_BACKUP and
 * GET_DM_INFO answers fill in; FREEZE (and AUTO_RECOVER) requests carry more (LUN lists,
 * up to 6,260 bytes) that no guest reads. Operation codes are hv_vss_msg's
 * (VSS_OP_* in pvic/freeze.h): the relay passes the same byte on. */
#define VMBUS_IC_VSS_MIN_BODY 8u  /* operation + reserved */
#define VMBUS_IC_VSS_BODY 12u     /* + flags */
#define VMBUS_IC_VSS_FREEZE_BODY 6260u /* header, backup type, flags, LUN count, 260 LUNs */

struct vmbus_ic_vss_request {
        uint8_t operation;
        uint32_t flags;           /* 0 when the body is too short to hold it */
};
/* -EBADMSG for a packet that is not VSS or whose body has no operation header (reset
 * the channel), -EOPNOTSUPP for an operation above AUTO_RECOVER (7: none is defined
 * for message version 5.0; answer VMBUS_IC_E_FAIL). */
int vmbus_ic_vss_decode(const uint8_t *pkt, size_t len, struct vmbus_ic_vss_request *ret);
/* The reply in place: HOT_BACKUP's flags become VSS_HBU_NO_AUTO_RECOVERY and
 * GET_DM_INFO's 0 (as Linux answers), then the reply flags and status. -EMSGSIZE when
 * those flags do not fit in the host's packet: pkt then holds a VMBUS_IC_E_FAIL reply. */
int vmbus_ic_vss_reply(uint8_t *pkt, size_t len, uint8_t operation, uint32_t status);
/* Host side: a request of body_len bytes (>= VMBUS_IC_VSS_MIN_BODY; zero-filled past
 * the operation), icflags TRANSACTION|REQUEST. */
ssize_t vmbus_ic_vss_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver, uint8_t operation,
                             size_t body_len);
/* Host side: the guest's status and, when the body holds them, the flags. */
int vmbus_ic_vss_reply_decode(const uint8_t *pkt, size_t len, uint32_t *ret_status, uint32_t *ret_flags);
