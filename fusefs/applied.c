#include "config.h"
/* applied.c — what a change applied from the log means for the kernel.
 *
 * fusefs_notify_applied() runs on the loop thread right after each entry is
 * applied. It turns the tree's notices into
 *   - in local mode, invalidations of the attributes the kernel may hold
 *     (inodes in the KInode table), queued for the notifier thread (never
 *     sent from here: FUSE-NOTES.md). Names are never invalidated (see
 *     notifier.c); linearizable mode lets the kernel cache nothing, so it
 *     has no notifier at all;
 *   - bookkeeping: tombstones for removed inodes, name_index for the
 *     staleness check of linearizable opens (inode.c);
 *   - answers to parked lock requests (ops-lock.c).
 *
 * An entry this FuseFs proposed itself for a namespace change (create,
 * mkdir, unlink, rename, setattr, ...) is recognised by its author (session,
 * request) among the proposals at the backend; its reply tells the kernel the
 * outcome (the kernel updates its dentries
 * and attributes from it), so its invalidations are skipped: invalidating the
 * dentry of a file we just created would only cost a lookup (and, in
 * linearizable mode, a read barrier) on its next use. Data changes (our own
 * write commits) are still invalidated: the kernel's cached size and mtime
 * of the file changed. */

#include <errno.h>
#include <stdlib.h>

#include "fusefs/internal.h"
#include "lib/log.h"

static unsigned open_handles(FuseFs *fs, uint64_t ino) {
        unsigned n = 0;
        Handle *h;
        list_foreach(h, &fs->handles, node)
                if (h->ino == ino && !h->released)
                        n++;
        return n;
}

static void on_inode(FuseFs *fs, const TreeNotice *n, bool own) {
        KInode *k = kinode_get(fs, n->ino);

        if (!k || !fs->notifier)
                return;
        uint32_t visible = TREE_CHANGE_DATA | TREE_CHANGE_ATTR | TREE_CHANGE_XATTR | TREE_CHANGE_ENTRIES;
        if (!(n->flags & visible))
                return;         /* lock state only: nothing the kernel caches */
        /* Our own write commit: the writer's handle is the only user here,
         * and it never uses the page cache (direct_io). Invalidating would
         * only cost the next open a GETATTR (behind a barrier). */
        if (own && (!(n->flags & TREE_CHANGE_DATA) || open_handles(fs, n->ino) <= 1))
                return;
        notifier_inval_inode(fs->notifier, n->ino);
}

static void on_entry_removed(FuseFs *fs, uint64_t index, const TreeNotice *n, bool own) {
        KInode *child = kinode_get(fs, n->ino);

        if (!own && child)
                child->name_index = index;
}

void fusefs_notify_applied(FuseFs *fs, uint64_t index, uint64_t author_session,
                           uint64_t author_request, const TreeNotice *notices, size_t n_notices) {
        bool own = fs_is_own(fs, author_session, author_request);

        for (size_t i = 0; i < n_notices; i++) {
                const TreeNotice *n = &notices[i];
                KInode *k;

                switch (n->type) {
                case TREE_NOTICE_INODE:
                        on_inode(fs, n, own);
                        break;
                case TREE_NOTICE_ENTRY_REMOVED:
                        on_entry_removed(fs, index, n, own);
                        break;
                case TREE_NOTICE_INODE_REMOVED:
                        k = kinode_get(fs, n->ino);
                        if (k) {
                                k->removed = true;
                                if (!own && fs->notifier)
                                        notifier_inval_inode(fs->notifier, n->ino);
                        }
                        break;
                case TREE_NOTICE_LOCK_GRANTED:
                case TREE_NOTICE_LOCK_ABORTED:
                        locks_notice(fs, n);
                        break;
                default:
                        break;
                }
        }
}

void fs_invalidate_all(FuseFs *fs) {
        if (!fs->inodes)
                return;
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;
        while (hashmap_iterate(fs->inodes, &it, NULL, &v)) {
                KInode *k = v;
                if (fs->notifier)
                        notifier_inval_inode(fs->notifier, k->ino);
                /* Dentries are not tracked by name (memory): whatever the
                 * kernel walked before may be stale now, so the next open
                 * of each inode answers ESTALE and the VFS revalidates the
                 * path with LOOKUPs; a lookup from now on (at this applied
                 * index or later) is fresh again. */
                k->name_index = tree_applied_index(fs_tree(fs));
        }
}

void fusefs_notify_reset(FuseFs *fs) {
        fs_invalidate_all(fs);
        /* Parked lock requests stay parked: their grant or abort may have
         * happened in entries the snapshot skipped (no notice will come);
         * see the report — the tree needs a query for the state of a queued
         * (session, request) to settle them here. */
}
