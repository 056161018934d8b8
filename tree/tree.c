#include "config.h"
/* tree.c — the Tree object: inode and directory-entry tables, the read-only
 * queries that fusefs runs on the loop thread, and the primitives that add
 * and remove names (used by the commands in ns.c and by snapshot loading).
 *
 * Invariants kept here:
 *   - every inode is in `inodes`; every directory entry is in `dirents`, in
 *     its parent's slot array (ascending creation index) and in its inode's
 *     `links` chain (ascending creation index);
 *   - a directory has exactly one name (the root none); a non-directory has
 *     nlink == number of names; an inode without names is the root or an
 *     orphan that still has lock state;
 *   - total_bytes == sum of inode_bytes() over all inodes, n_inodes == count.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/hashmap.h"
#include "lib/macro.h"
#include "tree/tree-internal.h"

void tree_limits_default(TreeLimits *ret) {
        *ret = (TreeLimits) {
                .max_file_size = UINT64_C(1) << 20,
                .max_total_bytes = UINT64_C(1) << 30,
                .max_inodes = 1000000,
                .max_name_len = 255,
                .max_symlink_len = 4095,
                .max_xattr_name_len = 255,
                .max_xattr_value_len = 65536,
                .max_xattr_bytes = 65536,
                .max_links = 65000,
                .max_sessions = 1024,
                .max_locks = 65536,
                .max_session_results = 4096,
        };
}

void tree_limits_normalize(TreeLimits *l) {
        TreeLimits d;
        tree_limits_default(&d);
#define DEF(f) if (l->f == 0) l->f = d.f
        DEF(max_file_size);
        DEF(max_total_bytes);
        DEF(max_inodes);
        DEF(max_name_len);
        DEF(max_symlink_len);
        DEF(max_xattr_name_len);
        DEF(max_xattr_value_len);
        DEF(max_xattr_bytes);
        DEF(max_links);
        DEF(max_sessions);
        DEF(max_locks);
        DEF(max_session_results);
#undef DEF
        /* Names cannot be longer than a command can carry. */
        l->max_name_len = MIN(l->max_name_len, TREE_CMD_MAX_STRING);
        l->max_symlink_len = MIN(l->max_symlink_len, TREE_CMD_MAX_STRING);
        l->max_xattr_name_len = MIN(l->max_xattr_name_len, TREE_CMD_MAX_STRING);
}

static uint64_t inode_hash(const void *e) {
        return hash_u64(((const Inode *) e)->ino);
}

uint64_t tree_dirent_hash_of(uint64_t parent, const char *name, size_t len) {
        return hash_u64(hash_bytes(name, len) + parent * UINT64_C(0x9e3779b97f4a7c15));
}

static uint64_t dirent_hash(const void *e) {
        const Dirent *d = e;
        return tree_dirent_hash_of(d->parent->ino, d->name, d->name_len);
}

Inode *inode_new(Tree *t, uint64_t ino, uint32_t mode) {
        Inode *i = calloc(1, sizeof(Inode));
        if (!i)
                return NULL;
        i->ino = ino;
        i->mode = mode;
        if (S_ISDIR(mode)) {
                i->dir = calloc(1, sizeof(DirInfo));
                if (!i->dir)
                        return mfree(i);
        }
        return i;
}

int tree_inode_insert(Tree *t, Inode *i) {
        int r = itable_insert(&t->inodes, i);
        if (r < 0)
                return r;
        t->n_inodes++;
        t->total_bytes += inode_bytes(i);
        return 0;
}

Tree *tree_new(const TreeLimits *limits) {
        Tree *t = calloc(1, sizeof(Tree));
        if (!t)
                return NULL;
        if (limits)
                t->limits = *limits;
        tree_limits_normalize(&t->limits);
        itable_init(&t->inodes, offsetof(Inode, hnext), inode_hash);
        itable_init(&t->dirents, offsetof(Dirent, hnext), dirent_hash);
        list_init(&t->lock_files);
        t->next_deadline = UINT64_MAX;
        t->root = inode_new(t, TREE_ROOT_INO, S_IFDIR | 0755);
        if (!t->root || tree_inode_insert(t, t->root) < 0) {
                if (t->root) {
                        free(t->root->dir);
                        free(t->root);
                        t->root = NULL;
                }
                return tree_free(t);
        }
        return t;
}

static void inode_free_contents(Inode *i) {
        if (S_ISREG(i->mode))
                free(i->data);
        else if (S_ISLNK(i->mode))
                free(i->target);
        else if (S_ISDIR(i->mode) && i->dir) {
                free(i->dir->slots);
                free(i->dir);
        }
        xattrs_free(i->xattrs);
        i->xattrs = NULL;
}

Tree *tree_free(Tree *t) {
        if (!t)
                return NULL;
        LockFile *f, *ftmp;
        list_foreach_safe(f, ftmp, &t->lock_files, link)
                lock_file_free(t, f);
        /* Free every dirent and inode by walking the buckets; order is irrelevant. */
        if (t->dirents.buckets)
                for (size_t k = 0; k <= t->dirents.mask; k++)
                        for (Dirent *d = t->dirents.buckets[k], *n; d; d = n) {
                                n = d->hnext;
                                free(d);
                        }
        if (t->inodes.buckets)
                for (size_t k = 0; k <= t->inodes.mask; k++)
                        for (Inode *i = t->inodes.buckets[k], *n; i; i = n) {
                                n = i->hnext;
                                inode_free_contents(i);
                                free(i);
                        }
        itable_done(&t->dirents);
        itable_done(&t->inodes);
        for (uint32_t k = 0; k < t->n_sessions; k++)
                session_free(t->sessions[k]);
        free(t->sessions);
        free(t);
        return NULL;
}

uint64_t tree_applied_index(const Tree *t) {
        return t->applied;
}

void tree_get_limits(const Tree *t, TreeLimits *ret) {
        *ret = t->limits;
}

uint64_t tree_next_deadline(const Tree *t) {
        return t->next_deadline;
}

Inode *tree_inode(const Tree *t, uint64_t ino) {
        for (Inode *i = itable_first(&t->inodes, hash_u64(ino)); i; i = i->hnext)
                if (i->ino == ino)
                        return i;
        return NULL;
}

Dirent *tree_dirent(const Tree *t, const Inode *parent, const char *name) {
        size_t len = strlen(name);
        for (Dirent *d = itable_first(&t->dirents, tree_dirent_hash_of(parent->ino, name, len)); d;
             d = d->hnext)
                if (d->parent == parent && d->name_len == len && memcmp(d->name, name, len) == 0)
                        return d;
        return NULL;
}

bool name_valid(const char *name) {
        return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
               strcmp(name, "..") != 0;
}

uint64_t inode_bytes(const Inode *i) {
        uint64_t b = i->xattrs ? i->xattrs->bytes : 0;
        if (S_ISREG(i->mode) || S_ISLNK(i->mode))
                b += i->size;
        return b;
}

static Inode *inode_parent(const Tree *t, const Inode *i) {
        if (i == t->root)
                return t->root;
        return i->links ? i->links->parent : NULL;
}

void inode_fill_attr(const Inode *i, TreeAttr *ret) {
        *ret = (TreeAttr) {
                .ino = i->ino,
                .generation = TREE_GENERATION,
                .mode = i->mode,
                .nlink = i->nlink,
                .uid = i->uid,
                .gid = i->gid,
                .size = i->size,
                .mtime_usec = i->mtime,
                .ctime_usec = i->ctime,
        };
        if (S_ISDIR(i->mode))
                ret->nlink = (i->links || i->ino == TREE_ROOT_INO) ? 2 + i->dir->subdirs : 0;
}

static void links_insert(Inode *i, Dirent *d) {
        Dirent **p = &i->links;
        while (*p && (*p)->id < d->id)
                p = &(*p)->next_link;
        d->next_link = *p;
        *p = d;
}

static void links_remove(Inode *i, Dirent *d) {
        Dirent **p = &i->links;
        while (*p != d)
                p = &(*p)->next_link;
        *p = d->next_link;
        d->next_link = NULL;
}

static int dir_slot_append(DirInfo *dir, Dirent *d) {
        assert(dir->n == 0 || dir->slots[dir->n - 1].id < d->id);
        if (dir->n == dir->cap) {
                uint32_t cap = dir->cap ? dir->cap + dir->cap / 2 + 1 : 4;
                DirSlot *s = realloc(dir->slots, cap * sizeof(DirSlot));
                if (!s)
                        return -ENOMEM;
                dir->slots = s;
                dir->cap = cap;
        }
        d->slot = dir->n;
        dir->slots[dir->n++] = (DirSlot) { d->id, d };
        return 0;
}

static void dir_compact(DirInfo *dir) {
        uint32_t k = 0;
        for (uint32_t j = 0; j < dir->n; j++)
                if (dir->slots[j].d) {
                        dir->slots[k] = dir->slots[j];
                        dir->slots[k].d->slot = k;
                        k++;
                }
        dir->n = k;
        dir->holes = 0;
        if (dir->cap > 16 && dir->n < dir->cap / 4) {
                uint32_t cap = MAX(dir->n * 2, 16u);
                DirSlot *s = realloc(dir->slots, cap * sizeof(DirSlot));
                if (s) {
                        dir->slots = s;
                        dir->cap = cap;
                }
        }
}

static void dir_slot_remove(DirInfo *dir, Dirent *d) {
        assert(dir->slots[d->slot].d == d);
        dir->slots[d->slot].d = NULL;
        dir->holes++;
        while (dir->n > 0 && !dir->slots[dir->n - 1].d) {
                dir->n--;
                dir->holes--;
        }
        if (dir->holes > 8 && dir->holes > dir->n / 3)
                dir_compact(dir);
}

int dirent_add(Tree *t, Inode *parent, const char *name, Inode *inode, uint64_t id) {
        size_t len = strlen(name);
        assert(S_ISDIR(parent->mode) && len <= UINT16_MAX);
        Dirent *d = malloc(sizeof(Dirent) + len + 1);
        if (!d)
                return -ENOMEM;
        *d = (Dirent) { .parent = parent, .inode = inode, .id = id, .name_len = (uint16_t) len };
        memcpy(d->name, name, len + 1);
        int r = dir_slot_append(parent->dir, d);
        if (r < 0) {
                free(d);
                return r;
        }
        r = itable_insert(&t->dirents, d);
        if (r < 0) {
                parent->dir->n--;
                free(d);
                return r;
        }
        links_insert(inode, d);
        if (S_ISDIR(inode->mode)) {
                parent->dir->subdirs++;
        } else
                inode->nlink++;
        parent->size++;
        return 0;
}

void dirent_remove(Tree *t, Dirent *d) {
        Inode *parent = d->parent, *inode = d->inode;
        itable_remove(&t->dirents, d);
        dir_slot_remove(parent->dir, d);
        links_remove(inode, d);
        if (S_ISDIR(inode->mode))
                parent->dir->subdirs--;
        else
                inode->nlink--;
        parent->size--;
        free(d);
}

void inode_destroy(Tree *t, Inode *i) {
        assert(!i->links && !i->locks && i != t->root);
        if (i->owner_session) {
                Session *s = session_get(t, i->owner_session);
                if (s)
                        session_del_ephemeral(s, i->ino);
        }
        t->total_bytes -= inode_bytes(i);
        t->n_inodes--;
        itable_remove(&t->inodes, i);
        inode_free_contents(i);
        free(i);
}

void inode_maybe_free(Apply *a, Inode *i) {
        if (i->links || i == a->t->root || i->locks)
                return;
        uint64_t ino = i->ino;
        inode_destroy(a->t, i);
        notice_entry(a, TREE_NOTICE_INODE_REMOVED, 0, NULL, ino);
}

/* ---- queries ---- */

int tree_getattr(const Tree *t, uint64_t ino, TreeAttr *ret) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        inode_fill_attr(i, ret);
        return 0;
}

int tree_lookup(const Tree *t, uint64_t parent, const char *name, TreeAttr *ret) {
        Inode *p = tree_inode(t, parent), *i;
        if (!p)
                return -ENOENT;
        if (!S_ISDIR(p->mode))
                return -ENOTDIR;
        if (strlen(name) > t->limits.max_name_len)
                return -ENAMETOOLONG;
        if (strcmp(name, ".") == 0)
                i = p;
        else if (strcmp(name, "..") == 0) {
                i = inode_parent(t, p);
                if (!i)
                        return -ENOENT;
        } else {
                Dirent *d = name[0] ? tree_dirent(t, p, name) : NULL;
                if (!d)
                        return -ENOENT;
                i = d->inode;
        }
        inode_fill_attr(i, ret);
        return 0;
}

int tree_read(const Tree *t, uint64_t ino, uint64_t offset, size_t size, const uint8_t **ret_data,
              size_t *ret_len) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        if (S_ISDIR(i->mode))
                return -EISDIR;
        if (!S_ISREG(i->mode))
                return -EINVAL;
        if (offset >= i->size) {
                *ret_data = i->data;
                *ret_len = 0;
                return 0;
        }
        *ret_data = i->data + offset;
        *ret_len = (size_t) MIN((uint64_t) size, i->size - offset);
        return 0;
}

int tree_readlink(const Tree *t, uint64_t ino, const char **ret_target) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        if (!S_ISLNK(i->mode))
                return -EINVAL;
        *ret_target = i->target;
        return 0;
}

/* The first slot whose id is > id. */
static uint32_t dir_slot_after(const DirInfo *dir, uint64_t id) {
        uint32_t lo = 0, hi = dir->n;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (dir->slots[mid].id <= id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int tree_readdir(const Tree *t, uint64_t ino, uint64_t cookie, TreeReaddirFunc cb, void *userdata) {
        Inode *i = tree_inode(t, ino);
        TreeAttr attr;
        int r;
        if (!i)
                return -ENOENT;
        if (!S_ISDIR(i->mode))
                return -ENOTDIR;
        if (cookie < 1) {
                inode_fill_attr(i, &attr);
                r = cb(userdata, ".", &attr, 1);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (cookie < 2) {
                Inode *p = inode_parent(t, i);
                inode_fill_attr(p ? p : i, &attr);
                r = cb(userdata, "..", &attr, 2);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        const DirInfo *dir = i->dir;
        for (uint32_t k = dir_slot_after(dir, cookie < 2 ? 0 : cookie - 2); k < dir->n; k++) {
                const Dirent *d = dir->slots[k].d;
                if (!d)
                        continue;
                inode_fill_attr(d->inode, &attr);
                r = cb(userdata, d->name, &attr, d->id + 2);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return 0;
}

#define LOCK_XATTR "user.raftfs.lock"

int tree_getxattr(const Tree *t, uint64_t ino, const char *name, Buf *out) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        if (strncmp(name, "user.", 5) != 0)
                return -EOPNOTSUPP;
        if (strlen(name) > t->limits.max_xattr_name_len)
                return -ERANGE;
        if (strcmp(name, LOCK_XATTR) == 0)
                return lock_format(t, i, out);
        const Xattr *x = xattrs_find(i->xattrs, name);
        if (!x)
                return -ENODATA;
        return buf_append(out, x->value, x->len);
}

int tree_listxattr(const Tree *t, uint64_t ino, Buf *out) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        if (!i->xattrs)
                return 0;
        size_t total = 0;
        for (uint32_t k = 0; k < i->xattrs->n; k++)
                total += strlen(i->xattrs->items[k].name) + 1;
        uint8_t *p = buf_extend(out, total);
        if (!p && total > 0)
                return -ENOMEM;
        for (uint32_t k = 0; k < i->xattrs->n; k++) {
                size_t l = strlen(i->xattrs->items[k].name) + 1;
                memcpy(p, i->xattrs->items[k].name, l);
                p += l;
        }
        return 0;
}

int tree_path(const Tree *t, uint64_t ino, char **ret) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        if (i == t->root) {
                char *s = strdup("/");
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        size_t len = 0;
        for (Inode *c = i; c != t->root; c = c->links->parent) {
                if (!c->links)
                        return -ENOENT;
                len += 1 + c->links->name_len;
        }
        char *s = malloc(len + 1);
        if (!s)
                return -ENOMEM;
        s[len] = 0;
        size_t pos = len;
        for (Inode *c = i; c != t->root; c = c->links->parent) {
                pos -= c->links->name_len;
                memcpy(s + pos, c->links->name, c->links->name_len);
                s[--pos] = '/';
        }
        *ret = s;
        return 0;
}

void tree_statfs(const Tree *t, TreeStatfs *ret) {
        *ret = (TreeStatfs) {
                .total_bytes = t->total_bytes,
                .max_total_bytes = t->limits.max_total_bytes,
                .inodes = t->n_inodes,
                .max_inodes = t->limits.max_inodes,
                .max_name_len = t->limits.max_name_len,
                .sessions = t->n_sessions,
                .locks = t->n_locks,
        };
}
