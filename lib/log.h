/* log.h — logging to stderr with sd-daemon priority prefixes.
 *
 * Each line starts with "<N>" (N = syslog priority), which journald turns into
 * the record's priority when the daemon runs under systemd; on a terminal
 * (stderr is a tty) the prefix is left out. Library code (raft, tree, tls,
 * lib) never logs above debug; the daemon logs once per failure.
 *
 * log_*_errno(r, ...) log with errno set to -r, so "%m" prints the error,
 * and return r (negative) so that `return log_error_errno(r, "...: %m");`
 * logs and propagates in one line. */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "lib/macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit", "alert",
 * "emerg" or a digit 0-7. Returns the level or -EINVAL. */
int log_level_from_string(const char *s);
/* Overrides the tty check: force (1) or suppress (0) the "<N>" prefix. */
void log_set_prefix(int on);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);
int log_internalv(int level, int error, const char *file, int line, const char *func,
                  const char *format, va_list ap) _printf_(6, 0);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(r, ...)   log_full_errno(LOG_DEBUG, (r), __VA_ARGS__)
#define log_info_errno(r, ...)    log_full_errno(LOG_INFO, (r), __VA_ARGS__)
#define log_notice_errno(r, ...)  log_full_errno(LOG_NOTICE, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, (r), __VA_ARGS__)
#define log_error_errno(r, ...)   log_full_errno(LOG_ERR, (r), __VA_ARGS__)

/* Logs "Out of memory" and returns -ENOMEM. */
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

/* Test hook: when set, every emitted line (without prefix and newline) is
 * passed to fn instead of being written to stderr. NULL restores stderr. */
void log_set_sink(void (*fn)(int level, const char *line, void *userdata), void *userdata);
