/* Is another NTP daemon running? Then it owns the clock and pvicd must not fight it.
 * The signal is a live process: /proc/PID/comm under the root prefix (comm is what the
 * kernel keeps, not what argv claims). Pid files alone lie after a crash, so chronyd's
 * is only believed when the pid it names is alive with the right comm. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/config.h"
#include "pvic/log.h"
#include "pvic/macro.h"
#include "pvic/timesync.h"

/* comm is at most 15 characters: "systemd-timesyncd" reads "systemd-timesyn". */
static const struct {
        const char *comm;
        const char *name;
} ntp_daemons[] = {
        { "chronyd", "chronyd" },
        { "ntpd", "ntpd" },
        { "systemd-timesyn", "systemd-timesyncd" },
        { "openntpd", "openntpd" },
};

static const char *known_comm(const char *comm) {
        for (size_t i = 0; i < ELEMENTSOF(ntp_daemons); i++)
                if (strcmp(comm, ntp_daemons[i].comm) == 0)
                        return ntp_daemons[i].name;
        return NULL;
}

/* Reads /proc/<pid>/comm under root into buf; false when gone. */
static bool read_comm(const char *root, const char *pid, char *buf, size_t size) {
        char rel[64];
        snprintf(rel, sizeof rel, "/proc/%s/comm", pid);
        _cleanup_free_ char *p = root_path(root, rel);
        _cleanup_free_ char *text = NULL;
        if (!p || read_file_bounded(p, 256, &text, NULL) < 0)
                return false;
        text[strcspn(text, "\n")] = '\0';
        snprintf(buf, size, "%s", text);
        return true;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return false;
        return true;
}

static const char *check_pid_file(const char *root, const char *path) {
        _cleanup_free_ char *p = root_path(root, path);
        _cleanup_free_ char *text = NULL;
        char comm[32];
        if (!p || read_file_bounded(p, 64, &text, NULL) < 0)
                return NULL;
        text[strcspn(text, "\n")] = '\0';
        if (!all_digits(text) || !read_comm(root, text, comm, sizeof comm))
                return NULL;
        return known_comm(comm);
}

int ntp_detect(const char *root, const char **ret_name) {
        const char *found = check_pid_file(root, "/run/chrony/chronyd.pid");
        if (found) {
                if (ret_name)
                        *ret_name = found;
                return 1;
        }

        _cleanup_free_ char *proc = root_path(root, "/proc");
        if (!proc)
                return log_oom();
        DIR *d = opendir(proc);
        if (!d)
                return log_debug_errno(errno, "Cannot list %s: %m", proc);
        struct dirent *de;
        while (!found && (de = readdir(d))) {
                char comm[32];
                if (!all_digits(de->d_name) || !read_comm(root, de->d_name, comm, sizeof comm))
                        continue;
                found = known_comm(comm);
        }
        closedir(d);
        if (found && ret_name)
                *ret_name = found;
        return found ? 1 : 0;
}

enum tsync_mode tsync_pick_mode(const char *root, bool vmbus_relay) {
        const char *name = NULL;
        int r = ntp_detect(root, &name);
        if (r > 0) {
                log_info("%s is running: not disciplining the clock.", name);
                return strcmp(name, "chronyd") == 0 ? TSYNC_MODE_FEED_CHRONY : TSYNC_MODE_OBSERVE;
        }
        if (vmbus_relay)
                return TSYNC_MODE_RELAY_KERNEL;
        return TSYNC_MODE_DISCIPLINE;
}
