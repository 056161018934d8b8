#include "config.h"

/* check-register.c — linearizability checker for read/write/cas registers.
 *
 * The search is Wing & Gong's: find a total order of the operations that
 * respects real time (an op that returned before another was invoked comes
 * first) and that a sequential register accepts. Lowe's refinement makes it
 * practical: walk the history's call/return events in time order, linearize
 * a pending call "just in time" when the model accepts it, and backtrack when
 * a return is reached whose op has not been linearized; a table of the
 * (set of linearized ops, register value) configurations already explored
 * cuts the exponential search (Lowe 2017, "Testing for linearizability"; the
 * same scheme as porcupine and knossos). Keys are independent registers, so
 * each key is searched alone (P-compositionality), which keeps the sets small.
 *
 * Indeterminate ("info") ops get a return time of +infinity: they may take
 * effect at any point after their invocation, or never — never is the same
 * as "last", since no later op can observe it. An info cas whose expected
 * value does not match is a no-op, like a failed one. Failed writes never
 * happened and are dropped; failed and info reads carry no information.
 *
 * An empty file is the value HISTORY_EMPTY (""), which no write writes: a
 * read of it is linearizable only while the register holds its initial
 * value, and that value is "0" (written by the workload's setup, in one
 * commit, before any client starts). So every read of "" is a violation:
 * typically the truncation of an open(O_TRUNC) whose write or close failed,
 * committed anyway, or a truncation and its data committed apart.
 *
 * The same search checks the metadata workload (check_meta): a file is one
 * register whose value is the pair (exists, permission bits), "absent" or
 * e.g. "644", initially "absent". The pair rather than two registers
 * because chmod and unlink depend on existence: chmod of an absent file
 * fails with ENOENT, and a stat that shows a mode shows existence too; two
 * independent registers could not express either. Its sequential model:
 *   read (stat)  returns the value ("absent" for ENOENT)
 *   xcreate m    ok: absent -> m; fail (EEXIST): not absent, unchanged
 *   create m     (no O_EXCL) absent -> m, else unchanged; never fails
 *   unlink       ok: not absent -> absent; fail (ENOENT): absent
 *   chmod m      ok: not absent -> m; fail (ENOENT): absent
 * and an info op takes the ok transition when the state allows it and is a
 * no-op otherwise (it may also never happen: the search may leave it last).
 * Failures that say nothing about the file (EROFS: not applied) are "#X"
 * comment lines in the history and never reach the checker.
 *
 * Owns only its per-key scratch memory; the memo table is bounded by
 * max_states (the verdict is then CHECK_UNKNOWN, never a guess). */

#include "tests/chaos/history.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define INIT_VALUE "0"
#define META_INIT_VALUE HISTORY_ABSENT
#define DEFAULT_MAX_STATES 4000000u
#define MEMO_MAX_BYTES (1024u * 1024u * 1024u)

typedef struct Entry {
        uint64_t time;
        int is_call;
        int op;    /* index into KeyOps.ops */
        int match; /* index of the other entry of the same op */
        int prev, next;
} Entry;

typedef struct KeyOps KeyOps;
/* A sequential model: returns 1 and sets *next when op i may take effect in
 * state (an interned value; the initial value is always id 0). */
typedef int (*ModelStep)(const KeyOps *k, int i, int state, int *next);

struct KeyOps {
        ModelStep step;
        const Op **ops;
        int *in_val, *out_val; /* interned: cas old (in) and written/read value (out) */
        size_t n;
        char **values; /* interned strings (borrowed), index = value id */
        size_t n_values;
};

static int intern(KeyOps *k, const char *s) {
        for (size_t i = 0; i < k->n_values; i++)
                if (strcmp(k->values[i], s) == 0)
                        return (int) i;
        k->values[k->n_values] = (char *) s;
        return (int) k->n_values++;
}

/* The sequential register: returns 1 and sets *next when op may take effect in state. */
static int register_step(const KeyOps *k, int i, int state, int *next) {
        const Op *op = k->ops[i];
        switch (op->type) {
        case OP_READ:
                *next = state;
                return state == k->out_val[i];
        case OP_WRITE:
                *next = k->out_val[i];
                return 1;
        case OP_CAS:
                if (op->outcome == OUTCOME_OK) {
                        *next = k->out_val[i];
                        return state == k->in_val[i];
                }
                if (op->outcome == OUTCOME_FAIL) {
                        *next = state;
                        return state != k->in_val[i];
                }
                /* info: takes effect exactly when the expected value matches */
                *next = state == k->in_val[i] ? k->out_val[i] : state;
                return 1;
        default:
                return 0;
        }
}

/* The sequential metadata register (state 0 = absent; see the top). */
static int meta_step(const KeyOps *k, int i, int state, int *next) {
        const Op *op = k->ops[i];
        bool exists = state != 0;
        *next = state;
        switch (op->type) {
        case OP_READ:
                return state == k->out_val[i];
        case OP_CREATE:
                if (!exists)
                        *next = k->out_val[i];
                return 1;
        case OP_XCREATE:
                if (op->outcome == OUTCOME_FAIL)
                        return exists;
                if (!exists)
                        *next = k->out_val[i];
                return op->outcome == OUTCOME_INFO || !exists;
        case OP_UNLINK:
                if (op->outcome == OUTCOME_FAIL)
                        return !exists;
                *next = 0;
                return op->outcome == OUTCOME_INFO || exists;
        case OP_CHMOD:
                if (op->outcome == OUTCOME_FAIL)
                        return !exists;
                if (exists)
                        *next = k->out_val[i];
                return op->outcome == OUTCOME_INFO || exists;
        default:
                return 0;
        }
}

/* Memo table of (bitset, state): open addressing over an arena of records. */
typedef struct Memo {
        uint64_t *arena; /* records of words+1 u64 each */
        size_t words, n, limit;
        uint32_t *slots; /* 0 = empty, else record index + 1 */
        size_t n_slots;
} Memo;

static uint64_t memo_hash(const uint64_t *bits, size_t words, int state) {
        uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t) (uint32_t) state;
        for (size_t i = 0; i < words; i++) {
                h ^= bits[i];
                h *= 0x100000001b3ull;
                h ^= h >> 29;
        }
        return h;
}

/* Returns 1 if inserted, 0 if already present, -1 when the table is full. */
static int memo_insert(Memo *m, const uint64_t *bits, int state) {
        uint64_t h = memo_hash(bits, m->words, state);
        size_t stride = m->words + 1;
        for (size_t i = h & (m->n_slots - 1);; i = (i + 1) & (m->n_slots - 1)) {
                uint32_t s = m->slots[i];
                if (s == 0)
                        break;
                const uint64_t *rec = m->arena + (size_t) (s - 1) * stride;
                if (rec[0] == (uint64_t) (uint32_t) state && memcmp(rec + 1, bits, m->words * 8) == 0)
                        return 0;
        }
        if (m->n >= m->limit)
                return -1;
        if ((m->n + 1) * 2 > m->n_slots) {
                size_t ns = m->n_slots * 2;
                uint32_t *slots = calloc(ns, sizeof *slots);
                if (!slots)
                        return -1;
                for (size_t j = 0; j < m->n; j++) {
                        const uint64_t *rec = m->arena + j * stride;
                        uint64_t hh = memo_hash(rec + 1, m->words, (int) (uint32_t) rec[0]);
                        size_t i = hh & (ns - 1);
                        while (slots[i])
                                i = (i + 1) & (ns - 1);
                        slots[i] = (uint32_t) j + 1;
                }
                free(m->slots);
                m->slots = slots;
                m->n_slots = ns;
                uint64_t *arena = realloc(m->arena, (ns / 2 + 1) * stride * 8);
                if (!arena)
                        return -1;
                m->arena = arena;
        }
        uint64_t *rec = m->arena + m->n * stride;
        rec[0] = (uint64_t) (uint32_t) state;
        memcpy(rec + 1, bits, m->words * 8);
        size_t i = h & (m->n_slots - 1);
        while (m->slots[i])
                i = (i + 1) & (m->n_slots - 1);
        m->slots[i] = (uint32_t) ++m->n;
        return 1;
}

static int cmp_entry(const void *a, const void *b) {
        const Entry *x = a, *y = b;
        if (x->time != y->time)
                return x->time < y->time ? -1 : 1;
        /* At equal times calls come first: such ops count as concurrent. */
        if (x->is_call != y->is_call)
                return x->is_call ? -1 : 1;
        return x->op - y->op;
}

static void lift(Entry *e, int i) {
        Entry *c = &e[i], *r = &e[c->match];
        e[c->prev].next = c->next;
        if (c->next >= 0)
                e[c->next].prev = c->prev;
        e[r->prev].next = r->next;
        if (r->next >= 0)
                e[r->next].prev = r->prev;
}

static void unlift(Entry *e, int i) {
        Entry *c = &e[i], *r = &e[c->match];
        e[r->prev].next = c->match;
        if (r->next >= 0)
                e[r->next].prev = c->match;
        e[c->prev].next = i;
        if (c->next >= 0)
                e[c->next].prev = i;
}

static void print_op(FILE *out, const KeyOps *k, int i) {
        fprintf(out, "    ");
        history_write(out, k->ops[i]);
}

/* Searches one key. Returns CHECK_VALID/INVALID/UNKNOWN and explains failures. */
static CheckResult check_key(KeyOps *k, size_t max_states, FILE *out) {
        const char *init = k->values[0];
        size_t n = k->n, words = (n + 63) / 64;
        Entry *e = calloc(2 * n + 1, sizeof *e);
        uint64_t *bits = calloc(words ? words : 1, 8);
        int *stack_entry = calloc(n + 1, sizeof(int)), *stack_state = calloc(n + 1, sizeof(int));
        int *best = calloc(n + 1, sizeof(int));
        /* The table's memory is bounded too: at most MEMO_MAX_BYTES of records. */
        size_t by_memory = MEMO_MAX_BYTES / ((words + 1) * 8);
        Memo memo = { .words = words, .limit = max_states < by_memory ? max_states : by_memory, .n_slots = 1024 };
        CheckResult result = CHECK_VALID;
        size_t depth = 0, best_depth = 0;
        int best_block = -1, best_state = 0;

        memo.slots = calloc(memo.n_slots, sizeof *memo.slots);
        memo.arena = malloc((memo.n_slots / 2 + 1) * (words + 1) * 8);
        if (!e || !bits || !stack_entry || !stack_state || !best || !memo.slots || !memo.arena) {
                result = CHECK_UNKNOWN;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                const Op *op = k->ops[i];
                e[2 * i] = (Entry) { .time = op->invoke_usec, .is_call = 1, .op = (int) i };
                e[2 * i + 1] = (Entry) { .time = op->outcome == OUTCOME_INFO ? UINT64_MAX : op->complete_usec,
                                         .op = (int) i };
        }
        qsort(e, 2 * n, sizeof *e, cmp_entry);
        /* Link: the head sentinel is entry 2n. */
        int *call_at = calloc(n, sizeof(int)), *ret_at = calloc(n, sizeof(int));
        if (!call_at || !ret_at) {
                free(call_at);
                free(ret_at);
                result = CHECK_UNKNOWN;
                goto out;
        }
        for (size_t j = 0; j < 2 * n; j++)
                (e[j].is_call ? call_at : ret_at)[e[j].op] = (int) j;
        for (size_t j = 0; j < 2 * n; j++) {
                e[j].match = e[j].is_call ? ret_at[e[j].op] : call_at[e[j].op];
                e[j].prev = j == 0 ? (int) (2 * n) : (int) j - 1;
                e[j].next = j + 1 < 2 * n ? (int) j + 1 : -1;
        }
        free(call_at);
        free(ret_at);
        int head = (int) (2 * n);
        e[head] = (Entry) { .prev = -1, .next = n ? 0 : -1 };

        int state = 0, cur = e[head].next;
        while (e[head].next >= 0) {
                Entry *en = &e[cur];
                if (en->is_call) {
                        int next;
                        if (k->step(k, en->op, state, &next)) {
                                bits[en->op / 64] |= 1ull << (en->op % 64);
                                int ins = memo_insert(&memo, bits, next);
                                if (ins < 0) {
                                        result = CHECK_UNKNOWN;
                                        fprintf(out, "key %s: search budget of %zu states exhausted (%zu ops)\n", k->ops[0]->key,
                                                memo.limit, n);
                                        goto out;
                                }
                                if (ins > 0) {
                                        stack_entry[depth] = cur;
                                        stack_state[depth] = state;
                                        depth++;
                                        state = next;
                                        lift(e, cur);
                                        cur = e[head].next;
                                        continue;
                                }
                                bits[en->op / 64] &= ~(1ull << (en->op % 64));
                        }
                        cur = en->next;
                } else {
                        /* A return whose op is not linearized yet: backtrack. */
                        if (depth >= best_depth) {
                                best_depth = depth;
                                best_block = en->op;
                                best_state = state;
                                for (size_t d = 0; d < depth; d++)
                                        best[d] = e[stack_entry[d]].op;
                        }
                        if (depth == 0) {
                                result = CHECK_INVALID;
                                break;
                        }
                        depth--;
                        int c = stack_entry[depth];
                        state = stack_state[depth];
                        bits[e[c].op / 64] &= ~(1ull << (e[c].op % 64));
                        unlift(e, c);
                        cur = e[c].next;
                }
        }
        if (result == CHECK_INVALID) {
                fprintf(out, "key %s: NOT linearizable (%zu ops). Longest linearizable prefix (%zu ops, last 10):\n",
                        k->ops[0]->key, n, best_depth);
                for (size_t d = best_depth > 10 ? best_depth - 10 : 0; d < best_depth; d++)
                        print_op(out, k, best[d]);
                fprintf(out, "  register value then: %s; this op cannot be linearized before it returns:\n",
                        k->values[best_state]);
                print_op(out, k, best_block);
                const Op *b = k->ops[best_block];
                if (b->type == OP_READ && strcmp(b->value, HISTORY_EMPTY) == 0 && strcmp(init, HISTORY_EMPTY) != 0)
                        fprintf(out, "  (a read of an EMPTY file: no write produced \"\" and the initial value is %s; "
                                "a failed or torn in-place write's truncation was applied)\n", init);
        }
out:
        free(e);
        free(bits);
        free(stack_entry);
        free(stack_state);
        free(best);
        free(memo.slots);
        free(memo.arena);
        return result;
}

static int cmp_op_key(const void *a, const void *b) {
        const Op *x = *(const Op *const *) a, *y = *(const Op *const *) b;
        int c = strcmp(x->key, y->key);
        if (c)
                return c;
        return x->invoke_usec < y->invoke_usec ? -1 : x->invoke_usec > y->invoke_usec;
}

static bool register_relevant(const Op *op) {
        switch (op->type) {
        case OP_READ:
                return op->outcome == OUTCOME_OK;
        case OP_WRITE:
                return op->outcome != OUTCOME_FAIL;
        case OP_CAS:
                return true;
        default:
                return false;
        }
}

/* Metadata: failed creates/unlinks/chmods are observations (EEXIST, ENOENT). */
static bool meta_relevant(const Op *op) {
        switch (op->type) {
        case OP_READ:
                return op->outcome == OUTCOME_OK;
        case OP_CREATE:
                return op->outcome != OUTCOME_FAIL;
        case OP_XCREATE:
        case OP_UNLINK:
        case OP_CHMOD:
                return true;
        default:
                return false;
        }
}

/* Indeterminate mutations nobody observed are what makes the search explode
 * (each may or may not have happened, anywhere after its call). When a key
 * has no failed cas, such an op can be dropped without changing the verdict:
 * any linearization that contains it stays valid with the op moved to the
 * very end (no read returns its value and no cas expects it, and only a
 * failed cas could tell the value it overwrote from its own). Reorders
 * ops[0..n) to keep the rest in front; returns how many remain. */
static size_t drop_unobserved(const Op **ops, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (ops[i]->type == OP_CAS && ops[i]->outcome == OUTCOME_FAIL)
                        return n;
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                const Op *op = ops[i];
                bool observed = op->outcome != OUTCOME_INFO;
                for (size_t j = 0; j < n && !observed; j++)
                        observed = (ops[j]->type == OP_READ && strcmp(ops[j]->value, op->value) == 0) ||
                                   (ops[j]->old && strcmp(ops[j]->old, op->value) == 0);
                if (observed)
                        ops[kept++] = op;
        }
        return kept;
}

typedef struct Model {
        const char *name, *init;
        ModelStep step;
        bool (*relevant)(const Op *op);
        bool drop_unobserved;
} Model;

static CheckResult check_model(const Model *model, const History *h, size_t max_states, FILE *out) {
        const Op **all = malloc((h->n + 1) * sizeof *all);
        size_t m = 0, keys = 0, checked = 0;
        CheckResult result = CHECK_VALID;

        if (!all)
                return CHECK_UNKNOWN;
        if (max_states == 0)
                max_states = DEFAULT_MAX_STATES;
        for (size_t i = 0; i < h->n; i++)
                if (model->relevant(&h->ops[i]))
                        all[m++] = &h->ops[i];
        qsort(all, m, sizeof *all, cmp_op_key);
        for (size_t i = 0; i < m;) {
                size_t j = i;
                while (j < m && strcmp(all[j]->key, all[i]->key) == 0)
                        j++;
                KeyOps k = { .step = model->step, .ops = all + i, .n = j - i };
                k.in_val = calloc(k.n, sizeof(int));
                k.out_val = calloc(k.n, sizeof(int));
                k.values = calloc(2 * k.n + 1, sizeof(char *));
                CheckResult r = CHECK_UNKNOWN;
                if (k.in_val && k.out_val && k.values) {
                        if (model->drop_unobserved)
                                k.n = drop_unobserved(all + i, j - i);
                        (void) intern(&k, model->init);
                        for (size_t x = 0; x < k.n; x++) {
                                k.out_val[x] = intern(&k, k.ops[x]->value);
                                k.in_val[x] = k.ops[x]->old ? intern(&k, k.ops[x]->old) : -1;
                        }
                        r = check_key(&k, max_states, out);
                }
                if (r == CHECK_INVALID) {
                        size_t empty = 0;
                        for (size_t x = 0; x < k.n; x++)
                                empty += k.ops[x]->type == OP_READ && strcmp(k.ops[x]->value, HISTORY_EMPTY) == 0 &&
                                         strcmp(model->init, HISTORY_EMPTY) != 0;
                        if (empty > 0)
                                fprintf(out, "key %s: %zu reads of an EMPTY file, a value no write produced\n",
                                        k.ops[0]->key, empty);
                }
                free(k.in_val);
                free(k.out_val);
                free(k.values);
                keys++;
                checked += k.n;
                if (r == CHECK_INVALID)
                        result = CHECK_INVALID;
                else if (r == CHECK_UNKNOWN && result == CHECK_VALID)
                        result = CHECK_UNKNOWN;
                i = j;
        }
        fprintf(out, "%s: %zu keys, %zu ops checked: %s\n", model->name, keys, checked,
                result == CHECK_VALID ? "linearizable" : result == CHECK_INVALID ? "NOT linearizable" : "unknown");
        free(all);
        return result;
}

CheckResult check_register(const History *h, size_t max_states, FILE *out) {
        static const Model m = { .name = "register", .init = INIT_VALUE, .step = register_step,
                                 .relevant = register_relevant, .drop_unobserved = true };
        return check_model(&m, h, max_states, out);
}

CheckResult check_meta(const History *h, size_t max_states, FILE *out) {
        static const Model m = { .name = "meta", .init = META_INIT_VALUE, .step = meta_step, .relevant = meta_relevant };
        return check_model(&m, h, max_states, out);
}
