#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "pvic/log.h"

static int max_level = LOG_INFO;
static int to_journal = -1;
static const char *ident = "pvic";

void log_set_max_level(int level) { max_level = level; }
int log_get_max_level(void) { return max_level; }
void log_set_ident(const char *i) { ident = i; }
void log_set_target_journal(int on) { to_journal = on; }

int log_parse_level(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err",
                                             "warning", "notice", "info", "debug" };
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return (int)i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

/* systemd sets JOURNAL_STREAM=dev:ino of stderr when stderr is connected to journald;
 * it stays set in children whose stderr was redirected, so compare with our stderr. */
static int stderr_is_journal(void) {
        if (to_journal >= 0)
                return to_journal;
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return (to_journal = 0);
        return (to_journal = ((unsigned long long)st.st_dev == dev &&
                              (unsigned long long)st.st_ino == ino));
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *fmt, ...) {
        int saved = errno;
        if (error < 0)
                error = -error;
        if (level <= max_level) {
                char msg[2048];
                va_list ap;
                va_start(ap, fmt);
                /* %m in fmt refers to the error we were given, not a stale errno */
                errno = error;
                vsnprintf(msg, sizeof msg, fmt, ap);
                va_end(ap);
                if (stderr_is_journal()) {
                        char fileb[256], lineb[32];
                        snprintf(fileb, sizeof fileb, "CODE_FILE=%s", file);
                        snprintf(lineb, sizeof lineb, "CODE_LINE=%d", line);
                        if (error)
                                sd_journal_send_with_location(fileb, lineb, func,
                                                              "MESSAGE=%s", msg, "PRIORITY=%i", level,
                                                              "ERRNO=%i", error,
                                                              "SYSLOG_IDENTIFIER=%s", ident, NULL);
                        else
                                sd_journal_send_with_location(fileb, lineb, func,
                                                              "MESSAGE=%s", msg, "PRIORITY=%i", level,
                                                              "SYSLOG_IDENTIFIER=%s", ident, NULL);
                } else {
                        fprintf(stderr, "%s[%d]: %s\n", ident, (int)getpid(), msg);
                }
        }
        errno = saved;
        return -error;
}
