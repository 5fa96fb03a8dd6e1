/* Filesystem freeze for application-consistent backups (docs/freeze.md): every writable
 * local filesystem frozen with FIFREEZE (root last), hooks around it, and a thaw that
 * does not depend on the host coming back: a lease timer, a guard process holding a
 * pidfd of pvicd, and a journal in /run that a restarted pvicd thaws first. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define FREEZE_LEASE_DEFAULT_SEC 10u
#define FREEZE_LEASE_MAX_SEC 60u
#define FREEZE_HOOK_TIMEOUT_SEC 10u
/* The guard acts this long after the lease: pvicd's own timer goes first when alive. */
#define FREEZE_GUARD_GRACE_MSEC 300u
#define FREEZE_JOURNAL "/run/pvic/freeze.journal"
#define FREEZE_HOOKS_DIR "/etc/pvic/freeze.d"
/* "path=outcome ..." is cut here (xenstore values are small); "+N" says how many more. */
#define FREEZE_MOUNTS_TEXT_MAX 1900u

enum freeze_mount_state {
        FREEZE_MOUNT_CANDIDATE,
        FREEZE_MOUNT_SKIPPED,
        FREEZE_MOUNT_FROZEN,
        FREEZE_MOUNT_THAWED,
        FREEZE_MOUNT_FAILED,
};

struct freeze_mount {
        char *path;          /* as mountinfo spells it: octal escapes kept, so no spaces */
        unsigned major, minor;
        char fstype[32];
        enum freeze_mount_state state;
        const char *skip;    /* why it is skipped (static string) */
        int error;           /* FAILED: positive errno */
        int fd;              /* open while frozen: thaw uses the same superblock */
};

struct freeze_mounts {
        struct freeze_mount *m;
        size_t n;
};

/* freeze-mounts.c: one mountinfo line into *m (path allocated); -EINVAL if malformed. */
int freeze_parse_mountinfo_line(const char *line, struct freeze_mount *m);
/* Reads ROOT/proc/self/mountinfo, classifies each mount, orders candidates for freezing
 * (reverse mount order, "/" last). */
int freeze_mounts_load(const char *root, struct freeze_mounts *ret);
void freeze_mounts_clear(struct freeze_mounts *ms);
/* "/mnt/a=frozen /=skipped:pseudo ..." (frozen/failed first), bounded. */
void freeze_mounts_text(const struct freeze_mounts *ms, char *buf, size_t size);
const char *freeze_mount_state_name(enum freeze_mount_state s);

/* freeze-fs.c: the mount point under root, checked to be that device, then the ioctl. */
int freeze_open_mount(const char *root, const char *escaped_path, unsigned major, unsigned minor);
int freeze_unescape(const char *in, char *out, size_t size);
/* freeze-ioctl.c: opens the candidates (the others become SKIPPED with the reason) and
 * returns how many are open; FIFREEZE in order (-errno at the first real failure, that
 * mount FAILED); FITHAW in reverse, returning how many would not thaw. */
size_t freeze_mounts_open(const char *root, struct freeze_mounts *ms);
int freeze_mounts_freeze(struct freeze_mounts *ms);
size_t freeze_mounts_thaw(struct freeze_mounts *ms);
/* Journal: written before anything is frozen, removed after the thaw. */
int freeze_journal_write(const char *root, const struct freeze_mounts *ms);
int freeze_journal_remove(const char *root);
/* Thaws what the journal lists and removes it; returns how many were thawed, 0 when
 * there is no journal. For pvicd's start, `pvicd --thaw-journal` and the guard. */
int freeze_recover(const char *root);

/* freeze-hooks.c: the executables in ROOT/etc/pvic/freeze.d in name order ("freeze") or
 * reverse order ("thaw"), one at a time on the loop, each killed (its process group) at
 * timeout; with limit, only the names sorting before it (or up to it, inclusive). done
 * comes once, from the loop: 0, or -ETIMEDOUT/-EIO naming the first failing hook, or
 * -ECANCELED naming the hook killed by freeze_hooks_cancel(). A failing "freeze" hook
 * ends the sequence; "thaw" hooks all run. */
struct freeze_hooks;
typedef void (*freeze_hooks_done_fn)(int result, const char *failed, void *userdata);
int freeze_hooks_start(struct freeze_hooks **ret, sd_event *e, const char *root, const char *action,
                       unsigned timeout_sec, const char *limit, bool inclusive, freeze_hooks_done_fn done,
                       void *userdata);
/* Kills the running hook and runs no more; done still comes. */
void freeze_hooks_cancel(struct freeze_hooks *h);
/* The hook started last, NULL before the first. */
const char *freeze_hooks_last_started(const struct freeze_hooks *h);
/* Kills a running hook without calling done. */
struct freeze_hooks *freeze_hooks_free(struct freeze_hooks *h);

/* freeze-guard.c */
/* Starts `self_exe --thaw-guard ROOT PID LEASE_MS`; *ret_pidfd watches it. */
int freeze_guard_spawn(const char *self_exe, const char *root, unsigned lease_ms, int *ret_pid, int *ret_pidfd);
void freeze_guard_stop(int *pid, int *pidfd);
/* argv as above: thaws the journal's mounts when pvicd exits, at SIGTERM, or at the lease. */
int freeze_guard_main(int argc, char **argv);

/* freeze-service.c */
struct freeze_service;
/* state: "frozen", "thawed", "thawed:lease-expired", "thawed:cancelled", "failed:<why>",
 * "refused:<why>"; mounts: per-mount outcomes (may be ""). Each request's callback comes
 * once with its outcome (from the loop, or at once for a refusal); a freeze's callback
 * comes once more for the lease or guard thaw that ends it. */
typedef void (*freeze_report_fn)(const char *state, const char *mounts, void *userdata);

int freeze_service_new(struct freeze_service **ret, sd_event *e, const char *root);
struct freeze_service *freeze_service_free(struct freeze_service *s);
bool freeze_service_frozen(const struct freeze_service *s);
/* Asynchronous: the pre-freeze hooks run on the loop, then the freeze, then the report.
 * One freeze at a time: "refused:already-frozen" while frozen, "refused:busy" while the
 * hooks of another freeze or thaw run. lease_sec 0 means the default; larger than the
 * cap is capped. */
int freeze_request(struct freeze_service *s, unsigned lease_sec, freeze_report_fn fn, void *userdata);
/* While frozen: FITHAW at once, then the post-thaw hooks, then "thawed". During the
 * pre-freeze hooks: cancels the freeze (the running hook is killed, nothing is frozen,
 * the thaw hooks of the hooks that started run): the freeze hears "failed:cancelled",
 * this thaw "thawed:cancelled". During post-thaw hooks: "thawed:not-frozen" once they
 * are done. Not frozen: "thawed:not-frozen" at once. */
int freeze_thaw(struct freeze_service *s, freeze_report_fn fn, void *userdata);

/* freeze-vss.c: Hyper-V VSS through the kernel's /dev/vmbus/hv_vss (spec §4.5), a
 * drop-in for hv_vss_daemon. Message: u8 operation + 7 reserved, then u32 flags (12
 * bytes); the reply overlays an i32 error on the first 4 bytes. */
#define VSS_MSG_SIZE 12u
#define VSS_OP_CREATE 0u
#define VSS_OP_DELETE 1u
#define VSS_OP_HOT_BACKUP 2u
#define VSS_OP_GET_DM_INFO 3u
#define VSS_OP_BU_COMPLETE 4u
#define VSS_OP_FREEZE 5u
#define VSS_OP_THAW 6u
#define VSS_OP_AUTO_RECOVER 7u
#define VSS_OP_REGISTER 128u
#define VSS_OP_REGISTER1 129u
#define VSS_HBU_NO_AUTO_RECOVERY 0x00000005u
#define VSS_HV_S_OK 0x00000000u
#define VSS_HV_E_FAIL 0x80004005u

enum vss_action {
        VSS_ACTION_INVALID,    /* wrong size: the device never sends that; drop the device */
        VSS_ACTION_VERSION,    /* the kernel's answer to REGISTER1 */
        VSS_ACTION_FREEZE,
        VSS_ACTION_THAW,
        VSS_ACTION_HOT_BACKUP,
        VSS_ACTION_OTHER,      /* answered "ok" like hv_vss_daemon */
};

struct vss_request {
        enum vss_action action;
        uint8_t operation;
        uint32_t flags;
        uint32_t version;      /* VSS_ACTION_VERSION */
};

/* in_handshake: after our REGISTER1, the first message is the kernel's u32 version. */
enum vss_action vss_decode(const void *buf, size_t len, bool in_handshake, struct vss_request *ret);
/* The 12-byte reply to req (flags answered for HOT_BACKUP). */
void vss_encode_reply(const struct vss_request *req, uint32_t error, uint8_t out[VSS_MSG_SIZE]);
void vss_encode_register(uint8_t out[VSS_MSG_SIZE]);
/* The status the host hears for the freeze service's report on its FREEZE or THAW (one
 * rule for the relay and the uio channel). freeze_ended_early: the last freeze was ended
 * by its lease or its guard, not by the host's THAW (reported to the freeze's callback
 * while no request was pending). */
uint32_t vss_status_for(enum vss_action action, const char *state, bool freeze_ended_early);

struct vss_relay;
struct vss_ops {
        int (*freeze)(void *userdata, unsigned lease_sec, freeze_report_fn fn, void *fn_userdata);
        int (*thaw)(void *userdata, freeze_report_fn fn, void *fn_userdata);
        void *userdata;
};
/* The host names no lease: this one covers Hyper-V's checkpoint (frozen → thawed). */
#define VSS_LEASE_SEC FREEZE_LEASE_MAX_SEC
/* path: the device, or a SEQPACKET socket at that path (pvic-hostsim, tests). A missing
 * or failing device is retried after a second, then less often (at most a minute apart). */
int vss_relay_new(struct vss_relay **ret, sd_event *e, const char *path, const struct vss_ops *ops);
struct vss_relay *vss_relay_free(struct vss_relay *r);
