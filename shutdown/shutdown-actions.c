/* The real last resort: the kernel's reboot(2). Only ever reached when the configuration
 * allows it and logind and systemd both failed; tests install a recording stub instead. */
#include <errno.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "shutdown-internal.h"

static int real_reboot_syscall(enum host_shutdown_action action, void *userdata) {
        int cmd;

        switch (action) {
        case HOST_SHUTDOWN_POWEROFF:
                cmd = RB_POWER_OFF;
                break;
        case HOST_SHUTDOWN_REBOOT:
                cmd = RB_AUTOBOOT;
                break;
        case HOST_SHUTDOWN_HALT:
                cmd = RB_HALT_SYSTEM;
                break;
        default:
                return -EOPNOTSUPP;
        }
        /* no orderly shutdown follows: what the page cache holds must reach the disks now */
        sync();
        if (reboot(cmd) < 0)
                return -errno;
        return 0;
}

const struct shutdown_actions shutdown_actions_real = {
        .reboot_syscall = real_reboot_syscall,
};
