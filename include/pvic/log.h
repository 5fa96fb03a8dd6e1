/* Logging: journald structured fields when stderr is the journal, plain stderr
 * otherwise. Every log_* returns -abs(error) so callers can `return log_error_errno(...)`. */
#pragma once
#include <syslog.h>
#include "pvic/macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
int log_parse_level(const char *s); /* "debug".."err" or 0-7; -EINVAL if unknown */
void log_set_ident(const char *ident);
/* Forces journald (1), stderr (0) or auto-detection via JOURNAL_STREAM (-1). */
void log_set_target_journal(int on);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *fmt, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, (e), __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
