#include "config.h"

/* check-lock.c — checker for the lock workload.
 *
 * Holders take an exclusive cluster lock (flock) on a file, read their
 * fencing token from the user.raftfs.lock xattr, append it to a guarded file
 * (after checking that the file's last token is lower: a fenced resource),
 * hold a while, and release. For each lock KEY the checker verifies:
 *   1. tokens of successful acquisitions are distinct and strictly increase
 *      in the order the acquisitions returned (fencing tokens are the log
 *      index of the granting entry);
 *   2. no two holders overlapped by their own clocks: the interval from the
 *      acquire's return to the release's call (or to the call of the last
 *      "check" that confirmed the token) of one holder intersects no other's.
 *      Only holders whose release succeeded (or that confirmed) count: a
 *      holder whose daemon was killed or frozen lost its session, which is
 *      the point of the session workload; once a check told the holder its
 *      token is gone, a later successful unlock proves nothing;
 *   3. the guarded file's final token list strictly increases, contains the
 *      token of every acknowledged guard write, and only tokens that some
 *      holder tried to write;
 *   4. every successful acquisition names its token, except "lost": the
 *      client saw its node's session change (or leave "ok") between before
 *      the flock and its look at the holders, so the lock went with the
 *      session (such a holder never writes the guarded file). A grant that
 *      is simply not there, with the session intact, is a violation.
 * Owns only scratch memory. */

#include "tests/chaos/history.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct Hold {
        const Op *acq;
        uint64_t token, start, end;
        bool counted; /* has a confirmed interval */
} Hold;

static int parse_token(const char *s, uint64_t *ret) {
        char *end;
        if (!s || !*s || *s == '-')
                return -1;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end)
                return -1;
        *ret = v;
        return 0;
}

static int cmp_hold_complete(const void *a, const void *b) {
        const Hold *x = a, *y = b;
        return x->acq->complete_usec < y->acq->complete_usec ? -1 : x->acq->complete_usec > y->acq->complete_usec;
}

static int cmp_hold_start(const void *a, const void *b) {
        const Hold *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

static bool same_key(const Op *op, const char *key) {
        return strcmp(op->key, key) == 0;
}

static size_t check_tokens_and_overlaps(const History *h, const char *key, Hold *hs, size_t n, FILE *out) {
        size_t bad = 0;
        qsort(hs, n, sizeof *hs, cmp_hold_complete);
        for (size_t i = 1; i < n; i++)
                if (hs[i].token <= hs[i - 1].token) {
                        fprintf(out, "lock %s: token %" PRIu64 " (proc %d, line %u) granted after token %" PRIu64
                                     " (proc %d, line %u): tokens must strictly increase\n",
                                key, hs[i].token, hs[i].acq->proc, hs[i].acq->line, hs[i - 1].token, hs[i - 1].acq->proc,
                                hs[i - 1].acq->line);
                        bad++;
                }
        /* Intervals: up to the call of the last check that confirmed the
         * token, or of a successful release, within this holding (until the
         * proc's next acquire). A holder that was told it lost the lock (a
         * check saying "lost") is no longer one: an unlock that then
         * succeeds only says the node has nothing left to unlock. */
        for (size_t i = 0; i < n; i++) {
                Hold *x = &hs[i];
                uint64_t until = UINT64_MAX, release_at = 0;
                bool lost = false;
                x->start = x->end = x->acq->complete_usec;
                for (size_t j = 0; j < h->n; j++) {
                        const Op *op = &h->ops[j];
                        if (op->proc == x->acq->proc && op->type == OP_ACQUIRE && same_key(op, key) &&
                            op->invoke_usec > x->acq->complete_usec && op->invoke_usec < until)
                                until = op->invoke_usec;
                }
                for (size_t j = 0; j < h->n; j++) {
                        const Op *op = &h->ops[j];
                        if (op->proc != x->acq->proc || !same_key(op, key) || op->outcome != OUTCOME_OK ||
                            op->invoke_usec < x->acq->complete_usec || op->invoke_usec >= until)
                                continue;
                        uint64_t t;
                        if (op->type == OP_CHECK && strcmp(op->value, "lost") == 0) {
                                lost = true;
                                continue;
                        }
                        if (parse_token(op->value, &t) < 0 || t != x->token)
                                continue;
                        if (op->type == OP_CHECK && op->invoke_usec > x->end) {
                                x->end = op->invoke_usec;
                                x->counted = true;
                        } else if (op->type == OP_RELEASE && op->invoke_usec > release_at)
                                release_at = op->invoke_usec;
                }
                if (!lost && release_at > x->end) {
                        x->end = release_at;
                        x->counted = true;
                }
        }
        qsort(hs, n, sizeof *hs, cmp_hold_start);
        size_t owner = SIZE_MAX;
        uint64_t max_end = 0;
        for (size_t i = 0; i < n; i++) {
                if (!hs[i].counted)
                        continue;
                if (owner != SIZE_MAX && hs[i].start < max_end) {
                        fprintf(out, "lock %s: OVERLAPPING holders: proc %d token %" PRIu64 " held [%" PRIu64 ", %" PRIu64
                                     "] while proc %d token %" PRIu64 " held [%" PRIu64 ", %" PRIu64 "]\n",
                                key, hs[owner].acq->proc, hs[owner].token, hs[owner].start, hs[owner].end, hs[i].acq->proc,
                                hs[i].token, hs[i].start, hs[i].end);
                        bad++;
                }
                if (hs[i].end > max_end || owner == SIZE_MAX) {
                        max_end = hs[i].end;
                        owner = i;
                }
        }
        return bad;
}

static size_t check_guarded(const History *h, const char *key, FILE *out, size_t *ret_finals) {
        size_t bad = 0, finals = 0;
        for (size_t i = 0; i < h->n; i++) {
                const Op *f = &h->ops[i];
                if (f->type != OP_FINAL || f->outcome != OUTCOME_OK || !same_key(f, key))
                        continue;
                finals++;
                char *copy = strdup(f->value), *save = NULL;
                uint64_t prev = 0, t;
                size_t count = 0;
                if (!copy)
                        return bad + 1;
                for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
                        if (strcmp(s, "-") == 0)
                                continue;
                        if (parse_token(s, &t) < 0) {
                                fprintf(out, "lock %s: guarded file holds a bad token '%s'\n", key, s);
                                bad++;
                                continue;
                        }
                        if (count++ > 0 && t <= prev) {
                                fprintf(out, "lock %s: guarded file: token %" PRIu64 " follows %" PRIu64 "\n", key, t, prev);
                                bad++;
                        }
                        prev = t;
                        bool known = false;
                        for (size_t j = 0; j < h->n && !known; j++) {
                                uint64_t g;
                                const Op *op = &h->ops[j];
                                known = op->type == OP_GUARD && op->outcome != OUTCOME_FAIL && same_key(op, key) &&
                                        parse_token(op->value, &g) == 0 && g == t;
                        }
                        if (!known) {
                                fprintf(out, "lock %s: guarded file holds token %" PRIu64 " that no holder wrote\n", key, t);
                                bad++;
                        }
                }
                /* Every acknowledged guard write is there. */
                for (size_t j = 0; j < h->n; j++) {
                        const Op *op = &h->ops[j];
                        uint64_t g;
                        if (op->type != OP_GUARD || op->outcome != OUTCOME_OK || !same_key(op, key) ||
                            parse_token(op->value, &g) < 0)
                                continue;
                        char needle[32];
                        snprintf(needle, sizeof needle, "%" PRIu64, g);
                        bool found = false;
                        strcpy(copy, f->value);
                        save = NULL;
                        for (char *s = strtok_r(copy, ",", &save); s && !found; s = strtok_r(NULL, ",", &save))
                                found = strcmp(s, needle) == 0;
                        if (!found) {
                                fprintf(out, "lock %s: LOST acknowledged guarded write of token %s (proc %d, line %u)\n", key,
                                        needle, op->proc, op->line);
                                bad++;
                        }
                }
                free(copy);
        }
        *ret_finals = finals;
        return bad;
}

static CheckResult check_one(const History *h, const char *key, FILE *out) {
        Hold *hs = calloc(h->n + 1, sizeof *hs);
        size_t n = 0, bad = 0, finals = 0, lost = 0;
        if (!hs)
                return CHECK_UNKNOWN;
        for (size_t i = 0; i < h->n; i++) {
                const Op *op = &h->ops[i];
                if (op->type != OP_ACQUIRE || op->outcome != OUTCOME_OK || !same_key(op, key))
                        continue;
                if (strcmp(op->value, "lost") == 0) {
                        lost++; /* granted, then gone with the session before the holder looked */
                        continue;
                }
                if (parse_token(op->value, &hs[n].token) < 0) {
                        if (bad++ < 20)
                                fprintf(out, "lock %s: acquisition without a valid token (proc %d, line %u: '%s')\n", key,
                                        op->proc, op->line, op->value);
                        continue;
                }
                hs[n++].acq = op;
        }
        bad += check_tokens_and_overlaps(h, key, hs, n, out);
        bad += check_guarded(h, key, out, &finals);
        fprintf(out, "lock %s: %zu acquisitions (+%zu lost with their session before the holder looked), "
                     "%zu final reads of the guarded file, %zu violations\n", key, n, lost, finals, bad);
        free(hs);
        return bad ? CHECK_INVALID : CHECK_VALID;
}

static int cmp_str_ptr(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

CheckResult check_lock(const History *h, FILE *out) {
        const char **keys = malloc((h->n + 1) * sizeof *keys);
        size_t n = 0, locks = 0;
        CheckResult result = CHECK_VALID;
        if (!keys)
                return CHECK_UNKNOWN;
        for (size_t i = 0; i < h->n; i++)
                if (h->ops[i].type == OP_ACQUIRE || h->ops[i].type == OP_FINAL)
                        keys[n++] = h->ops[i].key;
        qsort(keys, n, sizeof *keys, cmp_str_ptr);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
                        continue;
                locks++;
                if (check_one(h, keys[i], out) == CHECK_INVALID)
                        result = CHECK_INVALID;
        }
        free(keys);
        if (locks == 0) {
                fprintf(out, "lock: no lock operations in the history\n");
                return CHECK_INVALID;
        }
        return result;
}
