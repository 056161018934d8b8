#include "config.h"
/* hashmap.c — open addressing with linear probing (see hashmap.h).
 *
 * Slots hold (key, value, hash); an empty slot has used == false. Deletion
 * shifts later members of the probe run back (Knuth 6.4 Algorithm R), so
 * there are no tombstones and lookups stay short after churn. Capacity is a
 * power of two; the map grows at 3/4 load and never shrinks (except clear). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hashmap.h"

typedef struct Slot {
        const void *key;
        void *value;
        uint64_t hash;
        bool used;
} Slot;

struct Hashmap {
        const HashOps *ops;
        Slot *slots;
        size_t cap;             /* 0 or a power of two */
        size_t size;
};

/* splitmix64 finaliser: a fixed bijective mix, good avalanche. */
uint64_t hash_u64(uint64_t v) {
        v ^= v >> 30;
        v *= UINT64_C(0xbf58476d1ce4e5b9);
        v ^= v >> 27;
        v *= UINT64_C(0x94d049bb133111eb);
        v ^= v >> 31;
        return v;
}

/* FNV-1a over the bytes, finished with the mix above for better low bits. */
uint64_t hash_bytes(const void *p, size_t n) {
        const uint8_t *s = p;
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (size_t i = 0; i < n; i++) {
                h ^= s[i];
                h *= UINT64_C(0x100000001b3);
        }
        return hash_u64(h ^ n);
}

static uint64_t u64_hash(const void *key) {
        return hash_u64(PTR_TO_U64(key));
}
static bool u64_equal(const void *a, const void *b) {
        return a == b;
}
static uint64_t string_hash(const void *key) {
        return hash_bytes(key, strlen(key));
}
static bool string_equal(const void *a, const void *b) {
        return strcmp(a, b) == 0;
}

const HashOps u64_hash_ops = { u64_hash, u64_equal };
const HashOps string_hash_ops = { string_hash, string_equal };

Hashmap *hashmap_new(const HashOps *ops) {
        Hashmap *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->ops = ops;
        return h;
}

Hashmap *hashmap_free(Hashmap *h) {
        if (!h)
                return NULL;
        free(h->slots);
        free(h);
        return NULL;
}

/* Index of the slot holding key, or of the empty slot ending its run. */
static size_t find_slot(const Hashmap *h, const void *key, uint64_t hash) {
        size_t mask = h->cap - 1;
        size_t i = hash & mask;
        while (h->slots[i].used) {
                if (h->slots[i].hash == hash && h->ops->equal(h->slots[i].key, key))
                        return i;
                i = (i + 1) & mask;
        }
        return i;
}

static int resize(Hashmap *h, size_t cap) {
        Slot *slots = calloc(cap, sizeof(Slot));
        if (!slots)
                return -ENOMEM;
        Slot *old = h->slots;
        size_t old_cap = h->cap;
        h->slots = slots;
        h->cap = cap;
        for (size_t i = 0; i < old_cap; i++)
                if (old[i].used)
                        h->slots[find_slot(h, old[i].key, old[i].hash)] = old[i];
        free(old);
        return 0;
}

static int ensure_room(Hashmap *h) {
        if (h->cap != 0 && (h->size + 1) * 4 <= h->cap * 3)
                return 0;
        if (h->cap > SIZE_MAX / 2 / sizeof(Slot))
                return -ENOMEM;
        return resize(h, h->cap ? h->cap * 2 : 16);
}

static int put_internal(Hashmap *h, const void *key, void *value, bool replace) {
        uint64_t hash = h->ops->hash(key);
        if (h->cap > 0) {
                size_t i = find_slot(h, key, hash);
                if (h->slots[i].used) {
                        if (!replace)
                                return -EEXIST;
                        h->slots[i].key = key;
                        h->slots[i].value = value;
                        return 0;
                }
        }
        int r = ensure_room(h);
        if (r < 0)
                return r;
        size_t i = find_slot(h, key, hash);
        h->slots[i] = (Slot) { .key = key, .value = value, .hash = hash, .used = true };
        h->size++;
        return 0;
}

int hashmap_put(Hashmap *h, const void *key, void *value) {
        return put_internal(h, key, value, false);
}

int hashmap_replace(Hashmap *h, const void *key, void *value) {
        return put_internal(h, key, value, true);
}

void *hashmap_get(const Hashmap *h, const void *key) {
        if (h->size == 0)
                return NULL;
        size_t i = find_slot(h, key, h->ops->hash(key));
        return h->slots[i].used ? h->slots[i].value : NULL;
}

bool hashmap_contains(const Hashmap *h, const void *key) {
        if (h->size == 0)
                return false;
        return h->slots[find_slot(h, key, h->ops->hash(key))].used;
}

void *hashmap_remove(Hashmap *h, const void *key) {
        if (h->size == 0)
                return NULL;
        size_t mask = h->cap - 1;
        size_t i = find_slot(h, key, h->ops->hash(key));
        if (!h->slots[i].used)
                return NULL;
        void *value = h->slots[i].value;

        /* Backward shift: move later run members into the hole when their
         * home slot does not lie cyclically in (hole, j]. */
        size_t j = i;
        for (;;) {
                j = (j + 1) & mask;
                if (!h->slots[j].used)
                        break;
                size_t home = h->slots[j].hash & mask;
                bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
                if (stays)
                        continue;
                h->slots[i] = h->slots[j];
                i = j;
        }
        h->slots[i].used = false;
        h->size--;
        return value;
}

size_t hashmap_size(const Hashmap *h) {
        return h->size;
}

void hashmap_clear(Hashmap *h) {
        free(h->slots);
        h->slots = NULL;
        h->cap = 0;
        h->size = 0;
}

bool hashmap_iterate(const Hashmap *h, HashmapIter *it, const void **ret_key, void **ret_value) {
        for (; it->slot < h->cap; it->slot++) {
                const Slot *s = &h->slots[it->slot];
                if (!s->used)
                        continue;
                if (ret_key)
                        *ret_key = s->key;
                if (ret_value)
                        *ret_value = s->value;
                it->slot++;
                return true;
        }
        return false;
}
