/* LD_PRELOAD shim that lets Debian's real hv_kvp_daemon run against a test harness
 * (tests/interop/kvp-differential.sh) without a Hyper-V machine and without touching
 * this one:
 *   - open("/dev/vmbus/hv_kvp") connects to the SEQPACKET socket $HV_SHIM_KVP_SOCKET
 *     (the harness plays the kernel; read/write/poll work unchanged on the socket);
 *   - /var/lib/hyperv (access, mkdir, open, fopen) becomes $HV_SHIM_POOL_DIR;
 *   - popen() and system() fail: the daemon runs `ip route`, hv_get_dns_info,
 *     hv_get_dhcp_info and hv_set_ifconfig through a shell, and none of that may run;
 *   - getaddrinfo() answers the canonical name $HV_SHIM_FQDN without DNS;
 *   - syslog goes to stderr so the harness log shows what the daemon said.
 * Built without sanitizers (the Makefile's *.so.c rule): it lives in the peer. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#define KVP_DEV "/dev/vmbus/hv_kvp"
#define POOL_DIR "/var/lib/hyperv"

#define REAL(name) ((__typeof__(&name))real_sym(#name))

static void *real_sym(const char *name) {
        void *p = dlsym(RTLD_NEXT, name);
        if (!p) {
                fprintf(stderr, "hv-kvp-shim: no %s\n", name);
                abort();
        }
        return p;
}

/* Maps /var/lib/hyperv[/...] to $HV_SHIM_POOL_DIR[/...]; other paths unchanged. An
 * unset variable is fatal: the daemon must never see the machine's own pools. */
static const char *map_path(const char *path, char *buf, size_t size) {
        size_t n = strlen(POOL_DIR);
        if (!path || strncmp(path, POOL_DIR, n) != 0 || (path[n] != 0 && path[n] != '/'))
                return path;
        const char *dir = getenv("HV_SHIM_POOL_DIR");
        if (!dir || !*dir) {
                fprintf(stderr, "hv-kvp-shim: HV_SHIM_POOL_DIR is not set; refusing %s\n", path);
                _exit(98);
        }
        if ((size_t)snprintf(buf, size, "%s%s", dir, path + n) >= size)
                _exit(98);
        return buf;
}

static int connect_kvp(void) {
        const char *sock = getenv("HV_SHIM_KVP_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (!sock || strlen(sock) >= sizeof sa.sun_path) {
                errno = ENOENT;
                return -1;
        }
        strcpy(sa.sun_path, sock);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return fd;
}

int open(const char *path, int flags, ...) {
        char buf[4096];
        mode_t mode = 0;
        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = (mode_t)va_arg(ap, int);
                va_end(ap);
        }
        if (strcmp(path, KVP_DEV) == 0)
                return connect_kvp();
        return REAL(open)(map_path(path, buf, sizeof buf), flags, mode);
}

FILE *fopen(const char *path, const char *mode) {
        char buf[4096];
        return REAL(fopen)(map_path(path, buf, sizeof buf), mode);
}

int access(const char *path, int amode) {
        char buf[4096];
        return REAL(access)(map_path(path, buf, sizeof buf), amode);
}

int mkdir(const char *path, mode_t mode) {
        char buf[4096];
        return REAL(mkdir)(map_path(path, buf, sizeof buf), mode);
}

FILE *popen(const char *command, const char *type) {
        fprintf(stderr, "hv-kvp-shim: refused popen(\"%s\")\n", command);
        errno = EPERM;
        return NULL;
}

int system(const char *command) {
        fprintf(stderr, "hv-kvp-shim: refused system(\"%s\")\n", command ? command : "(null)");
        return command ? -1 : 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
        const char *fqdn = getenv("HV_SHIM_FQDN");
        if (!fqdn)
                return EAI_NONAME;
        /* One entry, laid out as glibc's freeaddrinfo() expects to free it. */
        struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_in));
        if (!ai)
                return EAI_MEMORY;
        ai->ai_family = AF_INET;
        ai->ai_addrlen = sizeof(struct sockaddr_in);
        ai->ai_addr = (struct sockaddr *)(ai + 1);
        ai->ai_addr->sa_family = AF_INET;
        ai->ai_canonname = strdup(fqdn);
        *res = ai;
        return 0;
}

void __syslog_chk(int prio, int flag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void __syslog_chk(int prio, int flag, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "hv_kvp_daemon[%d]: ", LOG_PRI(prio));
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

void syslog(int prio, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "hv_kvp_daemon[%d]: ", LOG_PRI(prio));
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}
