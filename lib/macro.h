/* macro.h — small language helpers shared by every folder.
 *
 * Cleanup attributes in the style of systemd (whose own macros are not public
 * API): a variable declared _cleanup_free_ is freed when it leaves scope, and
 * TAKE_PTR()/TAKE_FD() hand ownership out of such a variable. Nothing here
 * allocates or performs I/O except the close() in closep(). */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))
#define DIV_ROUND_UP(x, y) (((x) + (y) - 1) / (y))

#define container_of(ptr, type, member) \
        ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))

/* Time: one type everywhere, uint64_t microseconds, as sd-event uses. */
#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define NSEC_PER_USEC UINT64_C(1000)
#define USEC_INFINITY UINT64_MAX

/* Impossible states are fatal in every build (assertions stay on). */
#define assert_not_reached() \
        do { assert(!"code should not be reached"); abort(); } while (0)

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Declares static inline name##p(type **p) that calls func(*p) when non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        (void) func(*p);                \
        }

/* Return the pointer and leave NULL behind: ownership moves to the caller. */
#define TAKE_PTR(p)                                     \
        ({                                              \
                __typeof__(p) _take_tmp = (p);          \
                (p) = NULL;                             \
                _take_tmp;                              \
        })

#define TAKE_FD(fd)                                     \
        ({                                              \
                int _take_fd = (fd);                    \
                (fd) = -EBADF;                          \
                _take_fd;                               \
        })

/* Frees and returns NULL, so that callers can write p = mfree(p). */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Like close(), but ignores EBADF-free errors deliberately and returns -EBADF
 * so that `fd = safe_close(fd);` leaves an invalid descriptor behind. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}
