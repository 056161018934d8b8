#include "config.h"

/* check-set.c — lost-write checker for the unique-append set workload.
 *
 * Clients add unique elements (one file each) and report each add as ok,
 * fail or info; after the nemesis stops and the cluster heals, a final read
 * on every node lists the set. Valid when every final read contains every
 * acknowledged add (no lost acknowledged write), contains nothing that was
 * never attempted or whose add certainly failed, and there is at least one
 * final read. Info adds may or may not be present. Keys name independent
 * sets. Owns only scratch memory. */

#include "tests/chaos/history.h"

#include <stdlib.h>
#include <string.h>

typedef struct Elem {
        const char *value;
        const Op *add; /* the add of this element (the last one if repeated) */
} Elem;

static int cmp_elem(const void *a, const void *b) {
        return strcmp(((const Elem *) a)->value, ((const Elem *) b)->value);
}

static const Elem *find(const Elem *v, size_t n, const char *s) {
        Elem key = { .value = s };
        return bsearch(&key, v, n, sizeof *v, cmp_elem);
}

/* Checks the final reads of one key against its adds. */
static CheckResult check_one(const History *h, const char *key, FILE *out) {
        size_t n = 0, finals = 0, lost = 0, unexpected = 0, acked = 0;
        Elem *v = calloc(h->n + 1, sizeof *v);
        CheckResult result = CHECK_VALID;
        if (!v)
                return CHECK_UNKNOWN;
        for (size_t i = 0; i < h->n; i++)
                if (h->ops[i].type == OP_ADD && strcmp(h->ops[i].key, key) == 0) {
                        v[n++] = (Elem) { .value = h->ops[i].value, .add = &h->ops[i] };
                        acked += h->ops[i].outcome == OUTCOME_OK;
                }
        qsort(v, n, sizeof *v, cmp_elem);
        for (size_t i = 0; i < h->n; i++) {
                const Op *f = &h->ops[i];
                if (f->type != OP_FINAL || f->outcome != OUTCOME_OK || strcmp(f->key, key) != 0)
                        continue;
                finals++;
                char *copy = strdup(f->value), *save = NULL;
                if (!copy) {
                        result = CHECK_UNKNOWN;
                        break;
                }
                /* Mark what this read saw, by the proc number of the final read. */
                bool *seen = calloc(n + 1, sizeof *seen);
                if (!seen) {
                        free(copy);
                        result = CHECK_UNKNOWN;
                        break;
                }
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        if (strcmp(t, "-") == 0)
                                continue;
                        const Elem *e = find(v, n, t);
                        if (!e) {
                                fprintf(out, "set %s: final read (line %u) holds %s, which was never added\n", key, f->line, t);
                                unexpected++;
                        } else if (e->add->outcome == OUTCOME_FAIL) {
                                fprintf(out, "set %s: final read (line %u) holds %s, whose add certainly failed\n", key,
                                        f->line, t);
                                unexpected++;
                        } else
                                seen[e - v] = true;
                }
                for (size_t j = 0; j < n; j++)
                        if (v[j].add->outcome == OUTCOME_OK && !seen[j]) {
                                if (lost < 20)
                                        fprintf(out, "set %s: LOST acknowledged add of %s (proc %d, line %u), final read line %u\n",
                                                key, v[j].value, v[j].add->proc, v[j].add->line, f->line);
                                lost++;
                        }
                free(seen);
                free(copy);
        }
        if (finals == 0) {
                fprintf(out, "set %s: no successful final read\n", key);
                result = CHECK_INVALID;
        }
        if (lost || unexpected)
                result = CHECK_INVALID;
        fprintf(out, "set %s: %zu adds (%zu acknowledged), %zu final reads, %zu lost, %zu unexpected\n", key, n, acked,
                finals, lost, unexpected);
        free(v);
        return result;
}

static int cmp_str_ptr(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

CheckResult check_set(const History *h, FILE *out) {
        CheckResult result = CHECK_VALID;
        const char **keys = malloc((h->n + 1) * sizeof *keys);
        size_t n = 0, sets = 0;
        if (!keys)
                return CHECK_UNKNOWN;
        for (size_t i = 0; i < h->n; i++)
                if (h->ops[i].type == OP_ADD || h->ops[i].type == OP_FINAL)
                        keys[n++] = h->ops[i].key;
        qsort(keys, n, sizeof *keys, cmp_str_ptr);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
                        continue;
                sets++;
                CheckResult r = check_one(h, keys[i], out);
                if (r == CHECK_INVALID || (r == CHECK_UNKNOWN && result == CHECK_VALID))
                        result = r;
        }
        free(keys);
        if (sets == 0) {
                fprintf(out, "set: no set operations in the history\n");
                return CHECK_INVALID;
        }
        return result;
}
