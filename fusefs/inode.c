#include "config.h"
/* inode.c — what the kernel knows about our inodes.
 *
 * Owns the KInode table: one record per inode the kernel holds a reference
 * to (we replied an entry for it: lookup, create, mkdir, symlink, link, or a
 * readdirplus entry), with the kernel's lookup count, honoured until FORGET
 * brings it to zero (libfuse's passthrough_ll does the same). The root is
 * always present. Deleted inodes stay here as tombstones while the kernel
 * still references them: an open file descriptor of an unlinked file keeps
 * answering fstat() (nlink 0), and no inode number is ever given to another
 * file (the tree's numbers are log indexes, unique forever).
 *
 * The table also drives the invalidation policy of local mode (applied.c
 * only invalidates what the kernel may have cached, i.e. what is in this
 * table) and the staleness check of linearizable opens.
 *
 * Why linearizable mode lets the kernel cache nothing (issue 14). With long
 * timeouts and asynchronous invalidations, a `test -e` on one node could
 * still see a file another node's `rm` had removed (the kernel answered from
 * its dentry before the invalidation arrived); sending the invalidation
 * synchronously is not possible either (it takes the parent directory's
 * lock, which a parked request may hold: notifier.c). With entry and
 * attribute timeouts of 0 the kernel revalidates every dentry it walks
 * through (FUSE's d_revalidate sends LOOKUP once the dentry time passed) and
 * asks GETATTR before using any attribute (stat, and every permission
 * check under default_permissions). Each of those requests waits for a read
 * barrier that starts after the request arrived, i.e. after the system call
 * began; ReadIndex (raft/readindex.c) then guarantees that every entry
 * committed anywhere before that moment is applied here before we answer.
 * So every step of every walk reflects every commit that completed before
 * the call, without any assumption about clocks. The price is a request and
 * a barrier per step (batched: all requests of one loop turn share one).
 * Chubby's alternative (leases and commits that wait for every cache to be
 * invalidated) would keep the fast cached stat but needs both synchronous
 * invalidation and clock-bounded leases.
 *
 * Opens keep one more check, for the walks made before a snapshot replaced
 * the tree (fusefs_notify_reset): if a name of the inode
 * (or of a directory on the path the kernel used, recorded as kparent) was
 * removed or moved by another node after the kernel's last lookup of it, a
 * linearizable open answers ESTALE and the VFS repeats the walk with
 * LOOKUP_REVAL. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fusefs/internal.h"
#include "lib/log.h"

static KInode *kinode_alloc(FuseFs *fs, uint64_t ino) {
        KInode *k = calloc(1, sizeof(*k));
        if (!k)
                return NULL;
        k->ino = ino;
        if (hashmap_put(fs->inodes, U64_TO_PTR(ino), k) < 0) {
                free(k);
                return NULL;
        }
        return k;
}

static void kinode_destroy(FuseFs *fs, KInode *k) {
        if (k->extra) {
                Op *w, *tmp;
                list_foreach_safe(w, tmp, &k->extra->bg_waiters, wnode)
                        op_abort(w, EIO);
                free(k->extra->posix_owners);
                free(k->extra);
        }
        (void) hashmap_remove(fs->inodes, U64_TO_PTR(k->ino));
        free(k);
}

int kinodes_init(FuseFs *fs) {
        fs->inodes = hashmap_new(&u64_hash_ops);
        if (!fs->inodes)
                return -ENOMEM;
        KInode *root = kinode_alloc(fs, TREE_ROOT_INO);
        if (!root)
                return -ENOMEM;
        root->nlookup = 1;      /* the kernel never forgets the root */
        root->kparent = TREE_ROOT_INO;
        return 0;
}

void kinodes_abort_waiters(FuseFs *fs) {
        HashmapIter it = HASHMAP_ITER_INIT;
        void *v;

        if (!fs->inodes)
                return;
        /* Aborting a waiter does not change the map. */
        while (hashmap_iterate(fs->inodes, &it, NULL, &v)) {
                KInode *k = v;
                Op *w, *tmp;
                if (!k->extra)
                        continue;
                list_foreach_safe(w, tmp, &k->extra->bg_waiters, wnode)
                        op_abort(w, EIO);
        }
}

void kinodes_free(FuseFs *fs) {
        if (!fs->inodes)
                return;
        /* Collect first: the map must not change while it is iterated. */
        size_t n = hashmap_size(fs->inodes), i = 0;
        KInode **all = calloc(n ? n : 1, sizeof(KInode *));
        if (all) {
                HashmapIter it = HASHMAP_ITER_INIT;
                void *v;
                while (i < n && hashmap_iterate(fs->inodes, &it, NULL, &v))
                        all[i++] = v;
                while (i > 0)
                        kinode_destroy(fs, all[--i]);
                free(all);
        }
        fs->inodes = hashmap_free(fs->inodes);
}

KInode *kinode_get(FuseFs *fs, uint64_t ino) {
        return hashmap_get(fs->inodes, U64_TO_PTR(ino));
}

void attr_to_stat(const TreeAttr *a, struct stat *st) {
        memset(st, 0, sizeof(*st));
        st->st_ino = a->ino;
        st->st_mode = a->mode;
        st->st_nlink = a->nlink;
        st->st_uid = a->uid;
        st->st_gid = a->gid;
        st->st_size = (off_t) a->size;
        st->st_blksize = 4096;
        st->st_blocks = (blkcnt_t) DIV_ROUND_UP(a->size, 512);
        st->st_mtim.tv_sec = (time_t) (a->mtime_usec / USEC_PER_SEC);
        st->st_mtim.tv_nsec = (long) (a->mtime_usec % USEC_PER_SEC) * 1000;
        st->st_atim = st->st_mtim;      /* the tree keeps no atime */
        st->st_ctim.tv_sec = (time_t) (a->ctime_usec / USEC_PER_SEC);
        st->st_ctim.tv_nsec = (long) (a->ctime_usec % USEC_PER_SEC) * 1000;
}

static void kattr_set(KAttr *k, const struct stat *st) {
        k->mode = st->st_mode;
        k->uid = st->st_uid;
        k->gid = st->st_gid;
        k->size = (uint64_t) st->st_size;
        k->mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
        k->ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
        k->valid = true;
}

static void kattr_get(const KAttr *k, uint64_t ino, struct stat *st) {
        memset(st, 0, sizeof(*st));
        st->st_ino = ino;
        st->st_mode = k->mode;
        st->st_nlink = 0;
        st->st_uid = k->uid;
        st->st_gid = k->gid;
        st->st_size = (off_t) k->size;
        st->st_blksize = 4096;
        st->st_blocks = (blkcnt_t) DIV_ROUND_UP(k->size, 512);
        st->st_mtim.tv_sec = k->mtime_ns / 1000000000;
        st->st_mtim.tv_nsec = k->mtime_ns % 1000000000;
        st->st_atim = st->st_mtim;
        st->st_ctim.tv_sec = k->ctime_ns / 1000000000;
        st->st_ctim.tv_nsec = k->ctime_ns % 1000000000;
}

/* Takes one kernel reference on attr->ino, found as parent/name. */
static KInode *kinode_ref(FuseFs *fs, uint64_t parent, const char *name, const struct stat *st) {
        uint64_t ino = st->st_ino;
        KInode *k = kinode_get(fs, ino);
        if (!k) {
                k = kinode_alloc(fs, ino);
                if (!k)
                        return NULL;
        }
        k->nlookup++;
        if (parent != 0 && ino != TREE_ROOT_INO)
                k->kparent = parent;
        k->lookup_index = tree_applied_index(fs_tree(fs));
        kattr_set(&k->attr, st);
        k->removed = false;
        return k;
}

int readdirplus_ref(FuseFs *fs, uint64_t parent, const char *name, const struct stat *st) {
        return kinode_ref(fs, parent, name, st) ? 0 : -ENOMEM;
}

static void kinode_unref(FuseFs *fs, KInode *k, uint64_t n) {
        k->nlookup -= MIN(n, k->nlookup);
        if (k->nlookup == 0 && k->ino != TREE_ROOT_INO)
                kinode_destroy(fs, k);
}

static void fill_entry(FuseFs *fs, struct fuse_entry_param *e, const TreeAttr *attr) {
        memset(e, 0, sizeof(*e));
        e->ino = attr->ino;
        e->generation = attr->generation;
        attr_to_stat(attr, &e->attr);
        e->attr_timeout = fs_attr_timeout(fs);
        e->entry_timeout = fs_entry_timeout(fs);
}

void reply_entry(FuseFs *fs, OpKind kind, fuse_req_t req, uint64_t parent, const char *name,
                 const TreeAttr *attr) {
        struct fuse_entry_param e;

        fill_entry(fs, &e, attr);
        KInode *k = kinode_ref(fs, parent, name, &e.attr);
        if (!k) {
                fs_reply_err(fs, kind, req, ENOMEM);
                return;
        }
        fs_count(fs, kind, 0);
        /* When the kernel did not take the reply (the request was
         * interrupted meanwhile), it took no reference either. */
        if (fuse_reply_entry(req, &e) < 0)
                kinode_unref(fs, k, 1);
}

int reply_create(FuseFs *fs, fuse_req_t req, uint64_t parent, const char *name,
                 const TreeAttr *attr, const struct fuse_file_info *fi) {
        struct fuse_entry_param e;

        fill_entry(fs, &e, attr);
        KInode *k = kinode_ref(fs, parent, name, &e.attr);
        if (!k) {
                fs_reply_err(fs, OP_CREATE, req, ENOMEM);
                return -ENOMEM;
        }
        fs_count(fs, OP_CREATE, 0);
        int r = fuse_reply_create(req, &e, fi);
        if (r < 0)
                kinode_unref(fs, k, 1);
        return r;
}

void reply_negative(FuseFs *fs, OpKind kind, fuse_req_t req) {
        if (fs_linearizable(fs)) {
                fs_reply_err(fs, kind, req, ENOENT);
                return;
        }
        /* Local mode: let the kernel cache the absence for as long as it
         * caches names (no notification drops it). */
        struct fuse_entry_param e = { .ino = 0, .entry_timeout = fs_entry_timeout(fs) };
        fs_count(fs, kind, ENOENT);
        (void) fuse_reply_entry(req, &e);
}

void reply_attr(FuseFs *fs, OpKind kind, fuse_req_t req, const TreeAttr *attr) {
        struct stat st;

        attr_to_stat(attr, &st);
        KInode *k = kinode_get(fs, attr->ino);
        if (k)
                kattr_set(&k->attr, &st);
        fs_count(fs, kind, 0);
        (void) fuse_reply_attr(req, &st, fs_attr_timeout(fs));
}

int fs_getattr(FuseFs *fs, uint64_t ino, struct stat *ret) {
        TreeAttr a;
        int r = tree_getattr(fs_tree(fs), ino, &a);
        KInode *k = kinode_get(fs, ino);

        if (r >= 0) {
                attr_to_stat(&a, ret);
                if (k)
                        kattr_set(&k->attr, ret);
                return 0;
        }
        if (r == -ENOENT && k && k->attr.valid) {
                /* Removed while the kernel still references it. */
                k->removed = true;
                kattr_get(&k->attr, ino, ret);
                return 0;
        }
        return r;
}

void fs_forget(FuseFs *fs, uint64_t ino, uint64_t nlookup) {
        if (ino_is_ctl(ino))
                return;
        KInode *k = kinode_get(fs, ino);
        if (k)
                kinode_unref(fs, k, nlookup);
}

bool kinode_path_stale(FuseFs *fs, uint64_t ino) {
        uint64_t cur = ino;

        /* Bounded: kparent links could in principle form a cycle after
         * concurrent renames of directories. */
        for (unsigned depth = 0; depth < 4096; depth++) {
                KInode *k = kinode_get(fs, cur);
                if (!k || cur == TREE_ROOT_INO)
                        return false;   /* the root has no name to be stale */
                if (k->name_index > k->lookup_index)
                        return true;
                if (k->kparent == 0 || k->kparent == cur)
                        return false;
                cur = k->kparent;
        }
        return false;
}

KExtra *kinode_extra(KInode *k) {
        if (!k->extra) {
                k->extra = calloc(1, sizeof(KExtra));
                if (!k->extra)
                        return NULL;
                list_init(&k->extra->bg_waiters);
        }
        return k->extra;
}

int kinode_owner_add(KInode *k, uint64_t owner) {
        KExtra *x = kinode_extra(k);
        if (!x)
                return -ENOMEM;
        for (size_t i = 0; i < x->n_posix_owners; i++)
                if (x->posix_owners[i] == owner)
                        return 0;
        /* A process has one owner; a handful per file is the norm. */
        if (x->n_posix_owners >= 4096)
                return -ENOLCK;
        uint64_t *a = realloc(x->posix_owners, (x->n_posix_owners + 1) * sizeof(uint64_t));
        if (!a)
                return -ENOMEM;
        a[x->n_posix_owners++] = owner;
        x->posix_owners = a;
        return 0;
}

bool kinode_owner_remove(KInode *k, uint64_t owner) {
        KExtra *x = k->extra;
        for (size_t i = 0; x && i < x->n_posix_owners; i++)
                if (x->posix_owners[i] == owner) {
                        x->posix_owners[i] = x->posix_owners[--x->n_posix_owners];
                        return true;
                }
        return false;
}

bool kinode_wait_bg(FuseFs *fs, uint64_t ino, Op *op) {
        KInode *k = kinode_get(fs, ino);
        if (!k || !k->extra || k->extra->bg_commits == 0)
                return false;
        list_append(&k->extra->bg_waiters, &op->wnode);
        return true;
}

void kinode_bg_done(FuseFs *fs, uint64_t ino) {
        KInode *k = kinode_get(fs, ino);
        if (!k || !k->extra || k->extra->bg_commits == 0)
                return;
        if (--k->extra->bg_commits > 0)
                return;
        Op *w, *tmp;
        list_foreach_safe(w, tmp, &k->extra->bg_waiters, wnode) {
                list_remove(&w->wnode);
                op_after_barrier(w);
        }
}
