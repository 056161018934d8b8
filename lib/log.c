#include "config.h"
/* log.c — stderr logging with "<N>" priority prefixes (see log.h).
 *
 * State is three process-wide settings (level, prefix mode, sink), written at
 * start-up or by tests; lines are formatted into one buffer and written with
 * a single write(2) so that lines from different threads do not interleave. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"

static int max_level = LOG_INFO;
static int prefix_mode = -1;            /* -1: decide by isatty(stderr) */
static void (*sink_fn)(int, const char *, void *);
static void *sink_userdata;

void log_set_max_level(int level) {
        max_level = CLAMP(level, LOG_EMERG, LOG_DEBUG);
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_prefix(int on) {
        prefix_mode = on ? 1 : 0;
}

void log_set_sink(void (*fn)(int, const char *, void *), void *userdata) {
        sink_fn = fn;
        sink_userdata = userdata;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        };
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

int log_internalv(int level, int error, const char *file, int line, const char *func,
                  const char *format, va_list ap) {
        char msg[2048];
        int saved_errno = errno;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        /* %m in the format prints strerror(error). */
        errno = error;
        int n = vsnprintf(msg, sizeof msg, format, ap);
        if (n < 0)
                snprintf(msg, sizeof msg, "(unformattable log message at %s:%d)", file, line);

        if (sink_fn) {
                sink_fn(level, msg, sink_userdata);
        } else {
                char out[sizeof msg + 16];
                bool prefix = prefix_mode >= 0 ? prefix_mode : !isatty(STDERR_FILENO);
                int len = snprintf(out, sizeof out, "%s%.*s%s\n",
                                   prefix ? (char[]) { '<', (char) ('0' + level), '>', 0 } : "",
                                   (int) sizeof msg, msg, n >= (int) sizeof msg ? "…" : "");
                if (len > 0)
                        (void) !write(STDERR_FILENO, out, MIN((size_t) len, sizeof out - 1));
        }
        (void) func;
        errno = saved_errno;
        return -error;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = log_internalv(level, error, file, line, func, format, ap);
        va_end(ap);
        return r;
}
