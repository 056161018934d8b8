#include "config.h"
/* lock.c — cluster locks: flock and POSIX byte-range locks with FIFO queues,
 * lock-delay and fencing tokens (semantics in tree.h, "Lock semantics").
 *
 * State per inode lives in a LockFile that exists only while the inode has
 * holders, waiters or a running lock-delay; Tree.lock_files links them for
 * session-wide operations. Every Lock record (holder or waiter) counts
 * against max_locks and its session's n_locks.
 *
 * The one rule that decides every grant, for a request R of owner O:
 *   R is granted iff no holder of another owner conflicts with R, and no
 *   waiter queued before R "blocks" it, where a waiter W blocks R when W
 *   conflicts with R and W does not conflict with any lock O holds.
 * The exception keeps FIFO fairness from creating deadlocks a local file
 * system would not have: a waiter that is itself waiting for O cannot be
 * harmed by O extending or converting its own locks (POSIX downgrades and
 * lock extensions by the current holder are granted at once, as on Linux).
 * The queue scan after every release applies the same rule front to back,
 * granting with the releasing entry's index as fencing token.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "tree/tree-internal.h"

/* Room a new request needs: itself plus up to two split records. */
#define LOCK_HEADROOM 3

static inline List *holders(LockFile *f, uint8_t table) {
        return &f->holders[table - 1];
}
static inline List *waiters(LockFile *f, uint8_t table) {
        return &f->waiters[table - 1];
}

LockFile *lock_file_new(Inode *i) {
        LockFile *f = calloc(1, sizeof(LockFile));
        if (!f)
                return NULL;
        f->inode = i;
        list_init(&f->link);
        for (int k = 0; k < 2; k++) {
                list_init(&f->holders[k]);
                list_init(&f->waiters[k]);
        }
        return f;
}

void lock_file_link(Tree *t, LockFile *f) {
        list_append(&t->lock_files, &f->link);
        f->inode->locks = f;
}

bool lock_file_empty(const LockFile *f) {
        for (int k = 0; k < 2; k++)
                if (!list_empty(&f->holders[k]) || !list_empty(&f->waiters[k]))
                        return false;
        return true;
}

static void lock_del(Tree *t, Lock *l) {
        Session *s = session_get(t, l->session);
        if (s)
                s->n_locks--;
        t->n_locks--;
        list_remove(&l->node);
        free(l);
}

/* Frees f and all its records (tree teardown and snapshot failures). */
void lock_file_free(Tree *t, LockFile *f) {
        for (int k = 0; k < 2; k++) {
                Lock *l, *tmp;
                list_foreach_safe(l, tmp, &f->holders[k], node)
                        lock_del(t, l);
                list_foreach_safe(l, tmp, &f->waiters[k], node)
                        lock_del(t, l);
        }
        if (list_node_linked(&f->link))
                list_remove(&f->link);
        if (f->inode)
                f->inode->locks = NULL;
        free(f);
}

/* Frees f once it holds nothing, and its inode if that was an orphan. */
static void file_maybe_free(Apply *a, LockFile *f) {
        if (!lock_file_empty(f) || f->delay_until != 0)
                return;
        Inode *i = f->inode;
        lock_file_free(a->t, f);
        inode_maybe_free(a, i);
}

static Lock *lock_new(Apply *a, const Lock *tmpl) {
        Lock *l = malloc(sizeof(Lock));
        if (!l) {
                a->oom = -ENOMEM;
                return NULL;
        }
        *l = *tmpl;
        list_init(&l->node);
        Session *s = session_get(a->t, l->session);
        if (s)
                s->n_locks++;
        a->t->n_locks++;
        return l;
}

static bool same_owner(const Lock *x, const Lock *y) {
        return x->session == y->session && x->owner == y->owner;
}

/* Whether x and y (of different owners) cannot be held together. */
static bool conflict(const Lock *x, const Lock *y) {
        if (same_owner(x, y))
                return false;
        if (x->mode != TREE_LOCK_EXCLUSIVE && y->mode != TREE_LOCK_EXCLUSIVE)
                return false;
        return x->start <= y->end && y->start <= x->end;
}

static Lock *holder_conflict(LockFile *f, const Lock *r) {
        Lock *h;
        list_foreach(h, holders(f, r->table), node)
                if (conflict(h, r))
                        return h;
        return NULL;
}

/* Whether waiter w conflicts with a lock held by r's owner. */
static bool waits_for_owner(LockFile *f, const Lock *w, const Lock *r) {
        Lock *h;
        list_foreach(h, holders(f, w->table), node)
                if (same_owner(h, r) && conflict(h, w))
                        return true;
        return false;
}

/* Whether a waiter queued before `stop` (NULL: any waiter) blocks r. */
static bool waiter_blocks(LockFile *f, const Lock *r, const Lock *stop) {
        Lock *w;
        list_foreach(w, waiters(f, r->table), node) {
                if (w == stop)
                        break;
                if (conflict(w, r) && !waits_for_owner(f, w, r))
                        return true;
        }
        return false;
}

/* Applies a POSIX set or unlock (r->mode UNLOCK) for r's owner: trims, splits
 * and merges the owner's ranges; a set adds one record at the end. */
static void posix_apply(Apply *a, LockFile *f, const Lock *r) {
        List *hl = holders(f, TREE_LOCK_POSIX);
        uint64_t s = r->start, e = r->end;
        Lock *h, *tmp;
        list_foreach_safe(h, tmp, hl, node) {
                if (!same_owner(h, r))
                        continue;
                bool overlap = h->start <= e && s <= h->end;
                bool adjacent = (s > 0 && h->end == s - 1) || (e < UINT64_MAX && h->start == e + 1);
                if (r->mode != TREE_LOCK_UNLOCK && h->mode == r->mode && (overlap || adjacent)) {
                        s = MIN(s, h->start);
                        e = MAX(e, h->end);
                        lock_del(a->t, h);
                        continue;
                }
                if (!overlap)
                        continue;
                if (h->start < s && h->end > e) {
                        Lock tail = *h;
                        tail.start = e + 1;
                        Lock *t2 = lock_new(a, &tail);
                        if (!t2)
                                return;
                        list_insert_between(&t2->node, &h->node, h->node.next);
                        h->end = s - 1;
                        tmp = list_entry(t2->node.next, Lock, node);
                } else if (h->start < s)
                        h->end = s - 1;
                else if (h->end > e)
                        h->start = e + 1;
                else
                        lock_del(a->t, h);
        }
        if (r->mode == TREE_LOCK_UNLOCK)
                return;
        Lock n = *r;
        n.start = s;
        n.end = e;
        n.request = 0;
        Lock *l = lock_new(a, &n);
        if (l)
                list_append(hl, &l->node);
}

static Lock *flock_holder(LockFile *f, const Lock *r) {
        Lock *h;
        list_foreach(h, holders(f, TREE_LOCK_FLOCK), node)
                if (same_owner(h, r))
                        return h;
        return NULL;
}

/* Makes r (a request, not a record on any list) held with the given token. */
static void grant(Apply *a, LockFile *f, const Lock *r) {
        Lock g = *r;
        g.token = a->index;
        g.since = a->cmd->time_usec;
        g.request = 0;
        if (r->table == TREE_LOCK_POSIX) {
                posix_apply(a, f, &g);
                return;
        }
        Lock *old = flock_holder(f, r);
        if (old)
                lock_del(a->t, old);
        Lock *l = lock_new(a, &g);
        if (l)
                list_append(holders(f, TREE_LOCK_FLOCK), &l->node);
}

/* One pass of the queue scan over a table; returns whether it granted. */
static bool scan(Apply *a, LockFile *f, uint8_t table) {
        bool granted = false;
        Lock *w, *tmp;
        list_foreach_safe(w, tmp, waiters(f, table), node) {
                if (holder_conflict(f, w) || waiter_blocks(f, w, w))
                        continue;
                Lock req = *w;
                lock_del(a->t, w);
                grant(a, f, &req);
                notice_lock(a, TREE_NOTICE_LOCK_GRANTED, &req, f->inode->ino, a->index, 0);
                if (a->oom)
                        return false;
                granted = true;
                /* grant() may have freed or split holders, never waiters:
                 * tmp is still valid. */
        }
        return granted;
}

/* The queue scan: grants every waiter that the rule allows, front to back.
 * A POSIX grant can also shrink its owner's locks (a waiter asking for
 * shared where its owner held exclusive), which may free a waiter the pass
 * already went by: repeat until a pass grants nothing. */
static void grant_waiters(Apply *a, LockFile *f) {
        if (f->delay_until != 0)
                return;
        while (scan(a, f, TREE_LOCK_FLOCK))
                ;
        while (scan(a, f, TREE_LOCK_POSIX))
                ;
}

static void changed(Apply *a, LockFile *f) {
        notice_inode(a, f->inode->ino, TREE_CHANGE_LOCK);
}

/* After records went away: hand over, then free what is empty. */
static void after_release(Apply *a, LockFile *f) {
        changed(a, f);
        grant_waiters(a, f);
        file_maybe_free(a, f);
}

static int check_request(Apply *a, Inode **ret_inode, Lock *ret) {
        const TreeCmd *c = a->cmd;
        if (!a->session)
                return -EINVAL;
        Inode *i = tree_inode(a->t, c->lock.ino);
        if (!i)
                return -ENOENT;
        if (c->lock.table != TREE_LOCK_FLOCK && c->lock.table != TREE_LOCK_POSIX)
                return -EINVAL;
        if (c->lock.mode > TREE_LOCK_EXCLUSIVE)
                return -EINVAL;
        if (c->lock.table == TREE_LOCK_POSIX && c->lock.start > c->lock.end)
                return -EINVAL;
        if (c->lock.wait && c->request == 0 && c->lock.mode != TREE_LOCK_UNLOCK)
                return -EINVAL;
        bool flock = c->lock.table == TREE_LOCK_FLOCK;
        *ret = (Lock) {
                .session = a->session->id,
                .owner = c->lock.owner,
                .request = c->request,
                .start = flock ? 0 : c->lock.start,
                .end = flock ? UINT64_MAX : c->lock.end,
                .pid = c->lock.pid,
                .table = c->lock.table,
                .mode = c->lock.mode,
        };
        *ret_inode = i;
        return 0;
}

static int lock_unlock(Apply *a, LockFile *f, const Lock *r) {
        if (!f)
                return 0;
        if (r->table == TREE_LOCK_POSIX)
                posix_apply(a, f, r);
        else {
                Lock *old = flock_holder(f, r);
                if (old)
                        lock_del(a->t, old);
        }
        after_release(a, f);
        return 0;
}

int lock_cmd(Apply *a) {
        Inode *i;
        Lock r;
        int ret;
        int k = check_request(a, &i, &r);
        if (k < 0)
                return k;
        LockFile *f = i->locks;
        if (r.mode == TREE_LOCK_UNLOCK)
                return lock_unlock(a, f, &r);

        if (r.table == TREE_LOCK_FLOCK && f) {
                Lock *old = flock_holder(f, &r);
                if (old && old->mode == r.mode) {
                        a->result->token = old->token;
                        return 0;
                }
        }
        if (a->t->n_locks + LOCK_HEADROOM > a->t->limits.max_locks)
                return -ENOLCK;
        if (!f) {
                f = lock_file_new(i);
                if (!f) {
                        a->oom = -ENOMEM;
                        return -ENOMEM;
                }
                lock_file_link(a->t, f);
        }
        bool released = false;
        if (r.table == TREE_LOCK_FLOCK) {
                /* A conversion drops the old lock first, as flock(2) does. */
                Lock *old = flock_holder(f, &r);
                if (old) {
                        lock_del(a->t, old);
                        released = true;
                }
        }
        if (f->delay_until == 0 && !holder_conflict(f, &r) && !waiter_blocks(f, &r, NULL)) {
                grant(a, f, &r);
                a->result->token = a->index;
                /* A POSIX set may have downgraded the owner's locks, and any
                 * grant changes which waiters wait for this owner. */
                released = true;
                ret = 0;
        } else if (!a->cmd->lock.wait) {
                ret = -EAGAIN;
        } else {
                Lock *w = lock_new(a, &r);
                if (!w)
                        return -ENOMEM;
                list_append(waiters(f, r.table), &w->node);
                ret = -EINPROGRESS;
        }
        if (released)
                grant_waiters(a, f);
        changed(a, f);
        file_maybe_free(a, f);
        return ret;
}

int lock_cancel(Apply *a) {
        const TreeCmd *c = a->cmd;
        if (!a->session)
                return -EINVAL;
        Inode *i = tree_inode(a->t, c->lock_cancel.ino);
        if (!i || !i->locks || c->lock_cancel.request == 0)
                return -ENOENT;
        LockFile *f = i->locks;
        for (uint8_t table = TREE_LOCK_FLOCK; table <= TREE_LOCK_POSIX; table++) {
                Lock *w;
                list_foreach(w, waiters(f, table), node)
                        if (w->session == a->session->id && w->request == c->lock_cancel.request) {
                                notice_lock(a, TREE_NOTICE_LOCK_ABORTED, w, i->ino, 0, -EINTR);
                                lock_del(a->t, w);
                                after_release(a, f);
                                return 0;
                        }
        }
        return -ENOENT;
}

/* Removes the records of (session, owner) — any owner when all — in the
 * tables of `flags` on f; waiters get an ABORTED notice with err. Returns
 * whether a holder was removed. */
static bool drop_records(Apply *a, LockFile *f, uint64_t session, uint64_t owner, bool all,
                         uint32_t flags, int err) {
        bool held = false;
        for (uint8_t table = TREE_LOCK_FLOCK; table <= TREE_LOCK_POSIX; table++) {
                if (!(flags & (table == TREE_LOCK_FLOCK ? TREE_RELEASE_FLOCK : TREE_RELEASE_POSIX)))
                        continue;
                Lock *l, *tmp;
                list_foreach_safe(l, tmp, holders(f, table), node)
                        if (l->session == session && (all || l->owner == owner)) {
                                lock_del(a->t, l);
                                held = true;
                        }
                list_foreach_safe(l, tmp, waiters(f, table), node)
                        if (l->session == session && (all || l->owner == owner)) {
                                notice_lock(a, TREE_NOTICE_LOCK_ABORTED, l, f->inode->ino, 0, err);
                                lock_del(a->t, l);
                        }
        }
        return held;
}

static bool has_records(LockFile *f, uint64_t session) {
        for (int k = 0; k < 2; k++) {
                Lock *l;
                list_foreach(l, &f->holders[k], node)
                        if (l->session == session)
                                return true;
                list_foreach(l, &f->waiters[k], node)
                        if (l->session == session)
                                return true;
        }
        return false;
}

int lock_release(Apply *a) {
        const TreeCmd *c = a->cmd;
        if (!a->session)
                return -EINVAL;
        uint32_t flags = c->lock_release.flags;
        if (flags & ~(TREE_RELEASE_FLOCK | TREE_RELEASE_POSIX | TREE_RELEASE_ALL_OWNERS))
                return -EINVAL;
        bool all = flags & TREE_RELEASE_ALL_OWNERS;
        uint64_t session = a->session->id;
        if (c->lock_release.ino != 0) {
                Inode *i = tree_inode(a->t, c->lock_release.ino);
                if (i && i->locks && has_records(i->locks, session)) {
                        (void) drop_records(a, i->locks, session, c->lock_release.owner, all, flags, -EINTR);
                        after_release(a, i->locks);
                }
                return 0;
        }
        LockFile *f, *tmp;
        list_foreach_safe(f, tmp, &a->t->lock_files, link)
                if (has_records(f, session)) {
                        (void) drop_records(a, f, session, c->lock_release.owner, all, flags, -EINTR);
                        after_release(a, f);
                }
        return 0;
}

void tree_update_deadline(Tree *t) {
        uint64_t d = UINT64_MAX;
        LockFile *f;
        list_foreach(f, &t->lock_files, link)
                if (f->delay_until != 0)
                        d = MIN(d, f->delay_until);
        t->next_deadline = d;
}

void lock_release_session(Apply *a, uint64_t session, uint64_t delay_until) {
        LockFile *f, *tmp;
        uint32_t both = TREE_RELEASE_FLOCK | TREE_RELEASE_POSIX;
        list_foreach_safe(f, tmp, &a->t->lock_files, link) {
                if (!has_records(f, session))
                        continue;
                bool held = drop_records(a, f, session, 0, true, both, -ENOLINK);
                if (held && delay_until > a->cmd->time_usec)
                        f->delay_until = MAX(f->delay_until, delay_until);
                after_release(a, f);
        }
        tree_update_deadline(a->t);
}

void lock_run_deadlines(Apply *a, uint64_t now) {
        if (a->t->next_deadline > now)
                return;
        LockFile *f, *tmp;
        list_foreach_safe(f, tmp, &a->t->lock_files, link)
                if (f->delay_until != 0 && f->delay_until <= now) {
                        f->delay_until = 0;
                        after_release(a, f);
                }
        tree_update_deadline(a->t);
}

/* ---- queries ---- */

int tree_getlk(const Tree *t, uint64_t ino, uint8_t table, uint64_t session, uint64_t owner,
               uint8_t mode, uint64_t start, uint64_t end, TreeLockInfo *ret) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        if ((table != TREE_LOCK_FLOCK && table != TREE_LOCK_POSIX) || mode > TREE_LOCK_EXCLUSIVE ||
            start > end)
                return -EINVAL;
        Lock r = { .session = session, .owner = owner, .start = start, .end = end, .table = table,
                   .mode = mode };
        if (table == TREE_LOCK_FLOCK) {
                r.start = 0;
                r.end = UINT64_MAX;
        }
        Lock *h = (i->locks && mode != TREE_LOCK_UNLOCK) ? holder_conflict(i->locks, &r) : NULL;
        if (!h) {
                *ret = (TreeLockInfo) { .table = table, .mode = TREE_LOCK_UNLOCK };
                return 0;
        }
        *ret = (TreeLockInfo) {
                .table = table, .mode = h->mode, .start = h->start, .end = h->end,
                .session = h->session, .owner = h->owner, .pid = h->pid, .token = h->token,
                .since_usec = h->since,
        };
        return 0;
}

static int put_text(Buf *out, const char *s) {
        return buf_append(out, s, strlen(s));
}

static int lock_line(const Tree *t, const Lock *l, bool waiting, Buf *out) {
        char line[256], range[64] = "";
        const char *m = l->mode == TREE_LOCK_EXCLUSIVE ? "exclusive" : "shared";
        Session *s = session_get(t, l->session);
        const char *node = s ? s->node : "?";
        if (l->table == TREE_LOCK_POSIX) {
                if (l->end == UINT64_MAX)
                        snprintf(range, sizeof range, " range=%" PRIu64 "-eof", l->start);
                else
                        snprintf(range, sizeof range, " range=%" PRIu64 "-%" PRIu64, l->start, l->end);
        }
        const char *pfx = l->table == TREE_LOCK_POSIX ? "posix-" : "";
        int r;
        if (waiting)
                r = snprintf(line, sizeof line, "waiting mode=%s%s%s node=", pfx, m, range);
        else
                r = snprintf(line, sizeof line, "mode=%s%s%s token=%" PRIu64 " node=", pfx, m, range,
                             l->token);
        assert(r > 0 && (size_t) r < sizeof line);
        int k = put_text(out, line);
        k = k ?: put_text(out, node);
        if (waiting)
                snprintf(line, sizeof line, " pid=%" PRIu32 "\n", l->pid);
        else
                snprintf(line, sizeof line, " pid=%" PRIu32 " since=%" PRIu64 "\n", l->pid,
                         l->since / 1000);
        k = k ?: put_text(out, line);
        return k;
}

int lock_format(const Tree *t, const Inode *i, Buf *out) {
        LockFile *f = i->locks;
        if (!f)
                return 0;
        size_t saved = out->len;
        int r = 0;
        Lock *l;
        for (uint8_t table = TREE_LOCK_FLOCK; table <= TREE_LOCK_POSIX && r == 0; table++)
                list_foreach(l, holders(f, table), node)
                        if ((r = lock_line(t, l, false, out)) < 0)
                                break;
        for (uint8_t table = TREE_LOCK_FLOCK; table <= TREE_LOCK_POSIX && r == 0; table++)
                list_foreach(l, waiters(f, table), node)
                        if ((r = lock_line(t, l, true, out)) < 0)
                                break;
        if (r < 0)
                out->len = saved;
        return r;
}

int tree_lock_text(const Tree *t, uint64_t ino, Buf *out) {
        Inode *i = tree_inode(t, ino);
        if (!i)
                return -ENOENT;
        return lock_format(t, i, out);
}
