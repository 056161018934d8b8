#include "config.h"
/* itable.c — an intrusive chained hash table for the tree's inodes and
 * directory entries.
 *
 * Elements carry their own chain pointer, so the table costs one bucket
 * pointer per element (at load <= 1) plus that pointer, instead of the 32-byte
 * slots of lib/hashmap at load <= 0.75. The hash functions are fixed and
 * seedless; the tree never derives replicated state from the iteration order.
 * Buckets double at load 1; lookups are done by the callers, who walk the
 * chain of itable_first() and compare their own keys. */

#include <errno.h>
#include <stdlib.h>

#include "lib/macro.h"
#include "tree/tree-internal.h"

static inline void **next_ptr(const ITable *t, void *elem) {
        return (void **) ((char *) elem + t->next_off);
}

void itable_init(ITable *t, size_t next_off, uint64_t (*hash)(const void *elem)) {
        *t = (ITable) { .next_off = next_off, .hash = hash };
}

void itable_done(ITable *t) {
        free(t->buckets);
        t->buckets = NULL;
        t->mask = 0;
        t->size = 0;
}

static int grow(ITable *t) {
        size_t n = t->buckets ? (t->mask + 1) * 2 : 16;
        void **b = calloc(n, sizeof(void *));
        if (!b)
                return -ENOMEM;
        if (t->buckets)
                for (size_t i = 0; i <= t->mask; i++) {
                        void *e = t->buckets[i];
                        while (e) {
                                void *next = *next_ptr(t, e);
                                size_t k = t->hash(e) & (n - 1);
                                *next_ptr(t, e) = b[k];
                                b[k] = e;
                                e = next;
                        }
                }
        free(t->buckets);
        t->buckets = b;
        t->mask = n - 1;
        return 0;
}

int itable_insert(ITable *t, void *elem) {
        if (!t->buckets || t->size >= t->mask + 1) {
                int r = grow(t);
                if (r < 0 && !t->buckets)
                        return r;
                /* A failed grow past the first allocation only lengthens chains. */
        }
        size_t k = t->hash(elem) & t->mask;
        *next_ptr(t, elem) = t->buckets[k];
        t->buckets[k] = elem;
        t->size++;
        return 0;
}

void itable_remove(ITable *t, void *elem) {
        size_t k = t->hash(elem) & t->mask;
        void **p = &t->buckets[k];
        while (*p) {
                if (*p == elem) {
                        *p = *next_ptr(t, elem);
                        *next_ptr(t, elem) = NULL;
                        t->size--;
                        return;
                }
                p = next_ptr(t, *p);
        }
        assert_not_reached();
}

void *itable_first(const ITable *t, uint64_t h) {
        if (!t->buckets)
                return NULL;
        return t->buckets[h & t->mask];
}
