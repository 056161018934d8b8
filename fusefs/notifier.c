#include "config.h"
/* notifier.c — the kernel cache invalidation thread (local mode only).
 *
 * Owns: a FIFO of invalidation items, a set of the inode numbers currently
 * queued (to coalesce repeated invalidations of a busy file), one thread,
 * one mutex and one condition variable. The fuse_session is borrowed: the
 * owner keeps it alive until notifier_free().
 *
 * Only attribute invalidations are sent (notify_inval_inode with offset
 * -1). That one takes no lock the kernel holds while it waits for a FUSE
 * reply, so this thread can never end up waiting for the event loop. Name
 * invalidations (notify_inval_entry, notify_delete) take the parent
 * directory's i_rwsem, which a LOOKUP, CREATE or RENAME in that directory
 * holds until the loop answers it; page-cache invalidations lock pages a
 * READ may hold. A thread blocked there while the loop thread is killed
 * (SIGKILL of the process group: the guard dies too) kept the process, its
 * /dev/fuse descriptor and so the mount alive forever (issue 14). Names are
 * therefore cached only briefly in local mode (internal.h) and regular
 * files use direct_io, so nothing else needs invalidating.
 *
 * Invariants: items are sent in the order they were queued; the queue never
 * exceeds NOTIFIER_QUEUE_MAX items; nothing here calls back into the loop.
 * Errors from the kernel are counted, -ENOENT (nothing cached) is the
 * common case and not an error. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>

#include "fusefs/notifier.h"
#include "lib/hashmap.h"
#include "lib/list.h"
#include "lib/log.h"

typedef enum ItemKind {
        ITEM_INODE,
        ITEM_FENCE,             /* notifier_flush(): signals when reached */
} ItemKind;

typedef struct Item {
        ListNode node;
        ItemKind kind;
        uint64_t ino;           /* ITEM_INODE */
        bool *fence_done;       /* ITEM_FENCE */
} Item;

struct Notifier {
        struct fuse_session *se;
        pthread_t thread;
        bool thread_started;

        pthread_mutex_t lock;
        pthread_cond_t cond;            /* work queued, stop requested, fence passed */
        List queue;                     /* of Item */
        size_t n_queued;
        Hashmap *queued_inodes;         /* ino -> its queued ITEM_INODE */
        bool stop;
        bool stopped;
        bool overflow;
        NotifierStats stats;
};

static void queue_drop_locked(Notifier *n) {
        Item *it, *tmp;

        list_foreach_safe(it, tmp, &n->queue, node) {
                list_remove(&it->node);
                if (it->kind == ITEM_FENCE)
                        *it->fence_done = true;
                free(it);
        }
        n->n_queued = 0;
        hashmap_clear(n->queued_inodes);
        pthread_cond_broadcast(&n->cond);
}

static int send_item(Notifier *n, const Item *it) {
        switch (it->kind) {
        case ITEM_INODE:
                /* offset -1: attributes only, never the page cache (see above). */
                return fuse_lowlevel_notify_inval_inode(n->se, it->ino, -1, 0);
        case ITEM_FENCE:
                return 0;
        }
        assert_not_reached();
}

static void *notifier_thread(void *userdata) {
        Notifier *n = userdata;

        pthread_mutex_lock(&n->lock);
        for (;;) {
                while (!n->stop && list_empty(&n->queue))
                        pthread_cond_wait(&n->cond, &n->lock);
                if (n->stop)
                        break;

                Item *it = list_entry(list_first(&n->queue), Item, node);
                list_remove(&it->node);
                n->n_queued--;
                if (it->kind == ITEM_INODE)
                        (void) hashmap_remove(n->queued_inodes, U64_TO_PTR(it->ino));
                if (it->kind == ITEM_FENCE) {
                        *it->fence_done = true;
                        pthread_cond_broadcast(&n->cond);
                        free(it);
                        continue;
                }
                pthread_mutex_unlock(&n->lock);

                int r = send_item(n, it);
                free(it);

                pthread_mutex_lock(&n->lock);
                n->stats.sent++;
                if (r < 0 && r != -ENOENT && r != -ENOTDIR) {
                        n->stats.failed++;
                        log_debug_errno(r, "Cache invalidation failed: %m");
                }
        }
        queue_drop_locked(n);
        n->stopped = true;
        pthread_cond_broadcast(&n->cond);
        pthread_mutex_unlock(&n->lock);
        return NULL;
}

Notifier *notifier_new(struct fuse_session *se) {
        Notifier *n = calloc(1, sizeof(*n));
        if (!n)
                return NULL;
        n->se = se;
        list_init(&n->queue);
        pthread_mutex_init(&n->lock, NULL);
        pthread_cond_init(&n->cond, NULL);
        n->queued_inodes = hashmap_new(&u64_hash_ops);
        if (!n->queued_inodes) {
                notifier_free(n);
                errno = ENOMEM;
                return NULL;
        }

        /* The thread inherits this mask: no signal is ever delivered to it. */
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        int r = pthread_create(&n->thread, NULL, notifier_thread, n);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r != 0) {
                notifier_free(n);
                errno = r;
                return NULL;
        }
        n->thread_started = true;
        return n;
}

void notifier_stop(Notifier *n) {
        if (!n)
                return;
        pthread_mutex_lock(&n->lock);
        n->stop = true;
        queue_drop_locked(n);
        pthread_cond_broadcast(&n->cond);
        pthread_mutex_unlock(&n->lock);
}

bool notifier_stopped(Notifier *n) {
        if (!n || !n->thread_started)
                return true;
        pthread_mutex_lock(&n->lock);
        bool s = n->stopped;
        pthread_mutex_unlock(&n->lock);
        return s;
}

Notifier *notifier_free(Notifier *n) {
        if (!n)
                return NULL;
        if (n->thread_started) {
                notifier_stop(n);
                (void) pthread_join(n->thread, NULL);
        }
        queue_drop_locked(n);
        hashmap_free(n->queued_inodes);
        pthread_cond_destroy(&n->cond);
        pthread_mutex_destroy(&n->lock);
        free(n);
        return NULL;
}

/* Appends an item; called with the lock held. Takes ownership of it. */
static void enqueue_locked(Notifier *n, Item *it) {
        if (n->n_queued >= NOTIFIER_QUEUE_MAX) {
                /* Better to tell the owner to invalidate everything than to
                 * grow without bound while the kernel is slow to take them. */
                queue_drop_locked(n);
                n->overflow = true;
                n->stats.overflows++;
        }
        list_append(&n->queue, &it->node);
        n->n_queued++;
        pthread_cond_broadcast(&n->cond);
}

void notifier_inval_inode(Notifier *n, uint64_t ino) {
        pthread_mutex_lock(&n->lock);
        if (n->stop)
                goto out;
        if (hashmap_get(n->queued_inodes, U64_TO_PTR(ino))) {
                /* One queued invalidation covers this one: it is still sent
                 * after the state change it reports. */
                n->stats.coalesced++;
                goto out;
        }
        Item *it = calloc(1, sizeof(Item));
        if (!it) {
                n->overflow = true;
                goto out;
        }
        it->kind = ITEM_INODE;
        it->ino = ino;
        if (hashmap_put(n->queued_inodes, U64_TO_PTR(ino), it) < 0) {
                free(it);
                n->overflow = true;
                goto out;
        }
        enqueue_locked(n, it);
out:
        pthread_mutex_unlock(&n->lock);
}

bool notifier_take_overflow(Notifier *n) {
        pthread_mutex_lock(&n->lock);
        bool o = n->overflow;
        n->overflow = false;
        pthread_mutex_unlock(&n->lock);
        return o;
}

void notifier_stats(Notifier *n, NotifierStats *ret) {
        pthread_mutex_lock(&n->lock);
        *ret = n->stats;
        ret->queued = n->n_queued;
        pthread_mutex_unlock(&n->lock);
}

void notifier_flush(Notifier *n) {
        bool done = false;
        Item *it = calloc(1, sizeof(Item));
        if (!it)
                return;
        it->kind = ITEM_FENCE;
        it->fence_done = &done;

        pthread_mutex_lock(&n->lock);
        if (n->stop) {
                free(it);
                pthread_mutex_unlock(&n->lock);
                return;
        }
        list_append(&n->queue, &it->node);
        n->n_queued++;
        pthread_cond_broadcast(&n->cond);
        while (!done)
                pthread_cond_wait(&n->cond, &n->lock);
        pthread_mutex_unlock(&n->lock);
}
