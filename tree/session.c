#include "config.h"
/* session.c — sessions: open, expire, the dedupe table of applied request
 * numbers (Raft thesis §6.3) and the ephemeral inodes a session owns.
 *
 * Sessions are few (one per daemon, bounded by max_sessions), so they live in
 * an array sorted by id (= the index of the SESSION_OPEN entry; new ids are
 * always the largest, so opening appends). Each session keeps the results of
 * its recent requests sorted by request number, from `floor` upwards: the
 * author's `ack` raises the floor (it has seen those results), and beyond
 * max_session_results the oldest result is forgotten and the floor raised past
 * it. A retry below the floor is answered -EALREADY: it was applied, and its
 * result already reached the author or was given up. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "tree/tree-internal.h"

#define NODE_NAME_MAX 64

static long session_pos(const Tree *t, uint64_t id) {
        long lo = 0, hi = t->n_sessions;
        while (lo < hi) {
                long mid = lo + (hi - lo) / 2;
                uint64_t m = t->sessions[mid]->id;
                if (m == id)
                        return mid;
                if (m < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -lo - 1;
}

Session *session_get(const Tree *t, uint64_t id) {
        long k = session_pos(t, id);
        return k >= 0 ? t->sessions[k] : NULL;
}

Session *session_free(Session *s) {
        if (!s)
                return NULL;
        free(s->node);
        free(s->results);
        free(s->ephemeral);
        free(s);
        return NULL;
}

int session_insert(Tree *t, Session *s) {
        long k = session_pos(t, s->id);
        if (k >= 0)
                return -EEXIST;
        if (t->n_sessions == t->cap_sessions) {
                uint32_t cap = t->cap_sessions ? t->cap_sessions * 2 : 8;
                Session **a = realloc(t->sessions, cap * sizeof(Session *));
                if (!a)
                        return -ENOMEM;
                t->sessions = a;
                t->cap_sessions = cap;
        }
        size_t pos = (size_t) (-k - 1);
        memmove(&t->sessions[pos + 1], &t->sessions[pos], (t->n_sessions - pos) * sizeof(Session *));
        t->sessions[pos] = s;
        t->n_sessions++;
        return 0;
}

static void session_remove(Tree *t, Session *s) {
        long k = session_pos(t, s->id);
        assert(k >= 0);
        memmove(&t->sessions[k], &t->sessions[k + 1], (t->n_sessions - (size_t) k - 1) * sizeof(Session *));
        t->n_sessions--;
}

/* ---- dedupe ---- */

static long result_pos(const Session *s, uint64_t request) {
        long lo = 0, hi = s->n_results;
        while (lo < hi) {
                long mid = lo + (hi - lo) / 2;
                uint64_t m = s->results[mid].request;
                if (m == request)
                        return mid;
                if (m < request)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -lo - 1;
}

const Result *session_find_result(const Session *s, uint64_t request, bool *forgotten) {
        long k = result_pos(s, request);
        *forgotten = k < 0 && request < s->floor;
        return k >= 0 ? &s->results[k] : NULL;
}

/* Drops the results below `floor`. */
static void raise_floor(Session *s, uint64_t floor) {
        if (floor <= s->floor)
                return;
        s->floor = floor;
        if (s->n_results == 0)
                return;
        long k = result_pos(s, floor);
        size_t drop = (size_t) (k >= 0 ? k : -k - 1);
        memmove(s->results, s->results + drop, (s->n_results - drop) * sizeof(Result));
        s->n_results -= (uint32_t) drop;
}

int session_remember(Tree *t, Session *s, uint64_t request, uint64_t ack, const Result *r) {
        raise_floor(s, ack);
        if (request == 0 || request < s->floor)
                return 0;
        /* Forget the oldest results beyond the window. */
        while (s->n_results > 0 && s->n_results >= t->limits.max_session_results)
                raise_floor(s, s->results[0].request + 1);
        if (request < s->floor)
                return 0;
        if (s->n_results == s->cap_results) {
                uint32_t cap = s->cap_results ? s->cap_results * 2 : 16;
                Result *a = realloc(s->results, cap * sizeof(Result));
                if (!a)
                        return -ENOMEM;
                s->results = a;
                s->cap_results = cap;
        }
        long k = result_pos(s, request);
        assert(k < 0);
        size_t pos = (size_t) (-k - 1);
        memmove(&s->results[pos + 1], &s->results[pos], (s->n_results - pos) * sizeof(Result));
        s->results[pos] = *r;
        s->n_results++;
        return 0;
}

/* ---- ephemeral inodes ---- */

int session_add_ephemeral(Session *s, uint64_t ino) {
        if (s->n_ephemeral == s->cap_ephemeral) {
                uint32_t cap = s->cap_ephemeral ? s->cap_ephemeral * 2 : 8;
                uint64_t *a = realloc(s->ephemeral, cap * sizeof(uint64_t));
                if (!a)
                        return -ENOMEM;
                s->ephemeral = a;
                s->cap_ephemeral = cap;
        }
        /* Inode numbers are creation indexes: appending keeps the order,
         * except when a snapshot is loaded (which inserts in ino order too). */
        assert(s->n_ephemeral == 0 || s->ephemeral[s->n_ephemeral - 1] < ino);
        s->ephemeral[s->n_ephemeral++] = ino;
        return 0;
}

void session_del_ephemeral(Session *s, uint64_t ino) {
        for (uint32_t k = 0; k < s->n_ephemeral; k++)
                if (s->ephemeral[k] == ino) {
                        memmove(&s->ephemeral[k], &s->ephemeral[k + 1],
                                (s->n_ephemeral - k - 1) * sizeof(uint64_t));
                        s->n_ephemeral--;
                        return;
                }
}

/* ---- commands ---- */

void session_expire_one(Apply *a, Session *s, uint64_t delay_until) {
        lock_release_session(a, s->id, delay_until);
        /* Remove the ephemeral inodes, oldest first. Each removal deletes the
         * number from s->ephemeral (inode_destroy), or leaves an orphan with
         * foreign locks, whose ownership ends here. */
        while (s->n_ephemeral > 0 && !a->oom) {
                uint64_t ino = s->ephemeral[0];
                Inode *i = tree_inode(a->t, ino);
                assert(i);
                if (i->links)
                        ns_remove_inode(a, i);
                else
                        inode_maybe_free(a, i);
                if (s->n_ephemeral > 0 && s->ephemeral[0] == ino) {
                        /* Still there: an orphan kept by other sessions' locks. */
                        i->owner_session = 0;
                        session_del_ephemeral(s, ino);
                }
        }
        notice_session(a, TREE_NOTICE_SESSION_EXPIRED, s);
        session_remove(a->t, s);
        session_free(s);
}

int session_open(Apply *a) {
        const TreeCmd *c = a->cmd;
        const char *node = c->session_open.node;
        size_t len = strlen(node);
        if (len == 0 || len > NODE_NAME_MAX)
                return -EINVAL;
        uint64_t old = tree_session_find(a->t, node);
        if (!old && a->t->n_sessions >= a->t->limits.max_sessions)
                return -EUSERS;
        if (old) {
                if (a->session && a->session->id == old)
                        a->session = NULL;
                session_expire_one(a, session_get(a->t, old), 0);
                if (a->oom)
                        return -ENOMEM;
        }
        Session *s = calloc(1, sizeof(Session));
        if (!s || !(s->node = strdup(node))) {
                session_free(s);
                a->oom = -ENOMEM;
                return -ENOMEM;
        }
        s->id = a->index;
        s->opened = c->time_usec;
        if (session_insert(a->t, s) < 0) {
                session_free(s);
                a->oom = -ENOMEM;
                return -ENOMEM;
        }
        notice_session(a, TREE_NOTICE_SESSION_OPENED, s);
        a->result->session = s->id;
        return 0;
}

int session_expire(Apply *a) {
        const TreeCmd *c = a->cmd;
        Session *s = session_get(a->t, c->session_expire.session);
        if (!s)
                return -ENOENT;
        if (c->session_expire.flags & ~TREE_EXPIRE_GRACEFUL)
                return -EINVAL;
        uint64_t delay_until = 0;
        if (!(c->session_expire.flags & TREE_EXPIRE_GRACEFUL) && c->session_expire.lock_delay_usec > 0) {
                delay_until = c->time_usec + c->session_expire.lock_delay_usec;
                if (delay_until < c->time_usec)
                        delay_until = UINT64_MAX - 1;   /* overflow: "very long" */
        }
        if (a->session == s)
                a->session = NULL;
        session_expire_one(a, s, delay_until);
        return 0;
}

/* ---- queries ---- */

static void fill_info(const Session *s, TreeSessionInfo *ret) {
        *ret = (TreeSessionInfo) {
                .id = s->id,
                .node = s->node,
                .opened_usec = s->opened,
                .locks = s->n_locks,
                .ephemeral = s->n_ephemeral,
        };
}

int tree_session_get(const Tree *t, uint64_t id, TreeSessionInfo *ret) {
        Session *s = session_get(t, id);
        if (!s)
                return -ENOENT;
        fill_info(s, ret);
        return 0;
}

uint64_t tree_session_find(const Tree *t, const char *node) {
        for (uint32_t k = 0; k < t->n_sessions; k++)
                if (strcmp(t->sessions[k]->node, node) == 0)
                        return t->sessions[k]->id;
        return 0;
}

int tree_session_foreach(const Tree *t, int (*cb)(void *userdata, const TreeSessionInfo *info),
                         void *userdata) {
        for (uint32_t k = 0; k < t->n_sessions; k++) {
                TreeSessionInfo info;
                fill_info(t->sessions[k], &info);
                int r = cb(userdata, &info);
                if (r != 0)
                        return r;
        }
        return 0;
}
