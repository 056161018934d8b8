/* notifier.h — kernel cache invalidation from a private thread (internal to fusefs/).
 *
 * Used in local mode only (linearizable mode lets the kernel cache nothing).
 * Only attribute invalidations exist: they never wait for a lock that a
 * request parked in the loop holds, so neither the loop nor this thread can
 * be stuck behind the other, even when the loop thread is killed
 * (notifier.c explains why names and pages are never invalidated). The
 * loop only queues notifications here (cheap: one mutex) and this thread
 * sends them in order.
 *
 * The queue has a limit; when it is exceeded the queue is dropped and the
 * owner is told (overflow flag) so that it can fall back to invalidating
 * everything it knows. Duplicate inode invalidations are coalesced. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;

typedef struct Notifier Notifier;

#define NOTIFIER_QUEUE_MAX 200000

/* Starts the thread (all signals blocked in it). NULL on failure (errno set). */
Notifier *notifier_new(struct fuse_session *se);

/* Stops taking work, waits for the thread to finish what it is sending (the
 * caller must make sure the kernel can make progress, e.g. keep answering or
 * abort the connection) and frees. Takes NULL; returns NULL. */
Notifier *notifier_free(Notifier *n);

/* Tells the thread to stop after the current notification and drops the
 * queue; returns at once. notifier_free() must still be called. */
void notifier_stop(Notifier *n);
/* True once the thread has exited (after notifier_stop()). */
bool notifier_stopped(Notifier *n);

/* Queue an invalidation of the inode's cached attributes. Coalesced with
 * one already queued for the same inode. */
void notifier_inval_inode(Notifier *n, uint64_t ino);

/* Returns and clears the overflow flag (set when the queue was dropped). */
bool notifier_take_overflow(Notifier *n);

/* Counters for metrics. */
typedef struct NotifierStats {
        uint64_t sent;          /* notifications sent */
        uint64_t failed;        /* answered with an error other than ENOENT */
        uint64_t coalesced;     /* dropped as duplicates */
        uint64_t overflows;
        uint64_t queued;        /* currently queued */
} NotifierStats;
void notifier_stats(Notifier *n, NotifierStats *ret);

/* Blocks until everything queued before the call has been sent (tests). */
void notifier_flush(Notifier *n);
