/* notifier.h — kernel cache invalidation from a private thread (internal to fusefs/).
 *
 * fuse_lowlevel_notify_inval_entry() and _delete() take the parent
 * directory's lock in the kernel; sent from the loop thread while the kernel
 * holds that lock waiting for the loop to answer a request, they deadlock
 * (FUSE-NOTES.md). So the loop only queues notifications here (cheap, never
 * blocks for long: one mutex) and this thread sends them in order.
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

/* Queue an invalidation of the inode's attributes and, when data is true,
 * its cached data (all of it). Coalesced with an identical queued one. */
void notifier_inval_inode(Notifier *n, uint64_t ino, bool data);
/* Queue an invalidation of the entry `name` in directory `parent` (positive
 * or negative). When child is not 0, the kernel is told the entry was
 * deleted (notify_delete: also drops an open directory's cached dentry). */
void notifier_inval_entry(Notifier *n, uint64_t parent, const char *name, uint64_t child);

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
