#include "config.h"
/* check.c — the invariants the simulator checks after every step.
 *
 * Every entry is identified by a chain hash over the log prefix ending with
 * it, chain(i) = H(chain(i-1), i, term, type, data), so comparing two chain
 * values compares whole prefixes. Registries shared by all servers:
 *   entries_tab   (index, term) -> chain      Log Matching: same index and
 *                 term anywhere => same prefix
 *   applied_chain index -> chain of the committed/applied entry there:
 *                 State Machine Safety, and the reference for Leader
 *                 Completeness (a new leader of term T holds the highest
 *                 entry committed by any leader of a term < T)
 *   leaders       term -> server: Election Safety
 *   votes         (term, voter) -> candidate: at most one granted vote per
 *                 term per server, across crashes (durability of the vote)
 * Per server: durable term/vote/commit never go backwards (check_hard_state);
 * Leader Append-Only is checked in node.c where the log mirror is updated;
 * read barriers: the index returned is at least the highest index applied
 * anywhere when the read was requested, and is applied on the server when
 * the result is delivered. */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "tests/sim/sim.h"

typedef struct EntryKey {
        uint64_t index, term, chain;
} EntryKey;

uint64_t node_mirror_chain_at(const Node *n, uint64_t index, bool *ok);

void check_fail(World *w, const char *fmt, ...) {
        va_list ap;
        if (w->failed)
                return;
        w->failed = true;
        va_start(ap, fmt);
        (void) vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
        va_end(ap);
}

uint64_t chain_next(uint64_t prev, uint64_t index, uint64_t term, uint8_t type, const void *data,
                    size_t len) {
        uint64_t h = mix64(prev ^ mix64(index)) ^ mix64(term * 4 + type);
        return mix64(h ^ hash_bytes(data, len));
}

void checks_init(World *w) {
        w->leaders = hashmap_new(&u64_hash_ops);
        w->votes = hashmap_new(&u64_hash_ops);
        w->commit_by_term = hashmap_new(&u64_hash_ops);
        assert(w->leaders && w->votes && w->commit_by_term);
}

void checks_done(World *w) {
        w->leaders = hashmap_free(w->leaders);
        w->votes = hashmap_free(w->votes);
        w->commit_by_term = hashmap_free(w->commit_by_term);
        free(w->entries_tab);
        w->entries_tab = NULL;
        w->entries_cap = w->entries_n = 0;
        free(w->applied_chain);
        free(w->applied_term);
        w->applied_chain = w->applied_term = NULL;
        w->applied_cap = 0;
}

/* ---- (index, term) -> chain ------------------------------------------------- */

static EntryKey *tab_slot(EntryKey *tab, size_t cap, uint64_t index, uint64_t term) {
        size_t i = (size_t) mix64(index * 1000003 + term) & (cap - 1);
        while (tab[i].index != 0 && (tab[i].index != index || tab[i].term != term))
                i = (i + 1) & (cap - 1);
        return &tab[i];
}

static void tab_grow(World *w) {
        size_t ncap = w->entries_cap ? w->entries_cap * 2 : 1024;
        EntryKey *n = calloc(ncap, sizeof(EntryKey));
        assert(n);
        for (size_t i = 0; i < w->entries_cap; i++)
                if (w->entries_tab[i].index)
                        *tab_slot(n, ncap, w->entries_tab[i].index, w->entries_tab[i].term) =
                                w->entries_tab[i];
        free(w->entries_tab);
        w->entries_tab = n;
        w->entries_cap = ncap;
}

void check_mirror_append(World *w, Node *n, uint64_t index, uint64_t term, uint64_t chain) {
        if (2 * (w->entries_n + 1) > w->entries_cap)
                tab_grow(w);
        EntryKey *k = tab_slot(w->entries_tab, w->entries_cap, index, term);
        if (k->index == 0) {
                *k = (EntryKey) { index, term, chain };
                w->entries_n++;
        } else if (k->chain != chain)
                check_fail(w, "Log Matching: node %d has entry %" PRIu64 "/%" PRIu64
                           " with a prefix differing from another server's", n->idx, index, term);
}

/* ---- committed entries -------------------------------------------------- */

static void committed_chain(World *w, Node *n, uint64_t index, uint64_t term, uint64_t chain,
                            const char *what) {
        if (index >= w->applied_cap) {
                size_t ncap = w->applied_cap ? w->applied_cap : 1024;
                while (ncap <= index)
                        ncap *= 2;
                w->applied_chain = realloc(w->applied_chain, ncap * sizeof(uint64_t));
                w->applied_term = realloc(w->applied_term, ncap * sizeof(uint64_t));
                assert(w->applied_chain && w->applied_term);
                memset(w->applied_chain + w->applied_cap, 0, (ncap - w->applied_cap) * sizeof(uint64_t));
                memset(w->applied_term + w->applied_cap, 0, (ncap - w->applied_cap) * sizeof(uint64_t));
                w->applied_cap = ncap;
        }
        if (w->applied_chain[index] == 0) {
                w->applied_chain[index] = chain;
                w->applied_term[index] = term;
        } else if (w->applied_chain[index] != chain)
                check_fail(w, "State Machine Safety: node %d %s entry %" PRIu64 "/%" PRIu64
                           " but %" PRIu64 "/%" PRIu64 " was committed there", n->idx, what, index, term,
                           index, w->applied_term[index]);
}

void check_apply(World *w, Node *n, uint64_t index, uint64_t term, uint64_t chain) {
        committed_chain(w, n, index, term, chain, "applies");
        w->max_applied = MAX(w->max_applied, index);
}

void check_leader_commit(World *w, Node *n, uint64_t term, uint64_t commit) {
        uint64_t prev = PTR_TO_U64(hashmap_get(w->commit_by_term, U64_TO_PTR(term)));
        bool ok;
        if (commit <= prev)
                return;
        uint64_t chain = node_mirror_chain_at(n, commit, &ok);
        if (!ok) {
                check_fail(w, "node %d: leader commits %" PRIu64 " beyond its log", n->idx, commit);
                return;
        }
        /* Raft §5.4.2: a leader commits by counting replicas only entries of
         * its own term (earlier ones follow implicitly). */
        if (commit > n->mir_base && n->mir_term[commit - n->mir_base - 1] != term)
                check_fail(w, "node %d, leader of term %" PRIu64 ", commits %" PRIu64
                           " of term %" PRIu64 " by counting replicas", n->idx, term, commit,
                           n->mir_term[commit - n->mir_base - 1]);
        committed_chain(w, n, commit, term, chain, "commits");
        (void) hashmap_replace(w->commit_by_term, U64_TO_PTR(term), U64_TO_PTR(commit));
}

void check_became_leader(World *w, Node *n, uint64_t term) {
        uint64_t prev = PTR_TO_U64(hashmap_get(w->leaders, U64_TO_PTR(term)));
        if (prev && prev != (uint64_t) n->idx + 1) {
                check_fail(w, "Election Safety: nodes %d and %d both lead term %" PRIu64,
                           (int) prev - 1, n->idx, term);
                return;
        }
        (void) hashmap_replace(w->leaders, U64_TO_PTR(term), U64_TO_PTR((uint64_t) n->idx + 1));

        /* Leader Completeness: the highest entry committed in earlier terms. */
        uint64_t c = 0;
        const void *key;
        void *val;
        HashmapIter it = HASHMAP_ITER_INIT;
        while (hashmap_iterate(w->commit_by_term, &it, &key, &val))
                if (PTR_TO_U64(key) < term)
                        c = MAX(c, PTR_TO_U64(val));
        if (c == 0 || c < n->mir_base)
                return;         /* covered by its snapshot, which is committed state */
        bool ok;
        uint64_t chain = node_mirror_chain_at(n, c, &ok);
        if (!ok || chain != w->applied_chain[c])
                check_fail(w, "Leader Completeness: node %d leads term %" PRIu64
                           " without committed entry %" PRIu64, n->idx, term, c);
}

/* ---- durability --------------------------------------------------------- */

void check_hard_state(World *w, Node *n, const RaftHardState *hs) {
        if (hs->term < n->dur_term)
                check_fail(w, "node %d: durable term goes back from %" PRIu64 " to %" PRIu64, n->idx,
                           n->dur_term, hs->term);
        else if (hs->term == n->dur_term && n->dur_vote && hs->vote != n->dur_vote)
                check_fail(w, "node %d: durable vote in term %" PRIu64 " changes from %" PRIu64
                           " to %" PRIu64, n->idx, hs->term, n->dur_vote, hs->vote);
        else if (hs->commit < n->dur_commit)
                check_fail(w, "node %d: durable commit goes back from %" PRIu64 " to %" PRIu64,
                           n->idx, n->dur_commit, hs->commit);
        n->dur_term = hs->term;
        n->dur_vote = hs->vote;
        n->dur_commit = hs->commit;
}

void check_vote_sent(World *w, Node *n, const uint8_t *data, size_t len) {
        if (len < RAFT_MSG_HEADER_SIZE || data[2] != RAFT_MSG_VOTE_RESP ||
            (data[3] & (RAFT_MSG_F_REJECT | RAFT_MSG_F_PRE)))
                return;
        uint64_t cand = le64_load(data + 12), term = le64_load(data + 20);
        uint64_t key = term * 16 + (uint64_t) n->idx;
        uint64_t prev = PTR_TO_U64(hashmap_get(w->votes, U64_TO_PTR(key)));
        if (prev && prev != cand)
                check_fail(w, "node %d grants its term-%" PRIu64 " vote to %" PRIu64 " and %" PRIu64,
                           n->idx, term, prev, cand);
        (void) hashmap_replace(w->votes, U64_TO_PTR(key), U64_TO_PTR(cand));
}

/* ---- read barriers -------------------------------------------------------- */

void check_read(World *w, Node *n, const RaftReadResult *rr) {
        if (rr->ctx >= w->n_reads || !w->reads[rr->ctx].pending || w->reads[rr->ctx].node != n->idx) {
                check_fail(w, "node %d: unexpected read result ctx=%" PRIu64, n->idx, rr->ctx);
                return;
        }
        Read *rd = &w->reads[rr->ctx];
        rd->pending = false;
        if (rr->error) {
                w->reads_failed++;
                return;
        }
        if (rr->index < rd->min_index)
                check_fail(w, "linearizability: read %" PRIu64 " on node %d returned index %" PRIu64
                           " but %" PRIu64 " was applied before it started", rr->ctx, n->idx, rr->index,
                           rd->min_index);
        else if (n->sm_index < rr->index)
                check_fail(w, "node %d: read result %" PRIu64 " delivered before applying it (applied %"
                           PRIu64 ")", n->idx, rr->index, n->sm_index);
        w->reads_ok++;
}
