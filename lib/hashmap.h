/* hashmap.h — open-addressing hash map from keys to void * values.
 *
 * Keys are compared through HashOps: `u64_hash_ops` treats the key pointer
 * itself as a uint64_t (store integers with U64_TO_PTR), `string_hash_ops`
 * hashes NUL-terminated strings the caller owns (the map never copies or frees
 * keys or values). The hash is a fixed, seedless mix, so behaviour is
 * identical on every node and in every run — pure modules (tree/, raft/) rely
 * on this; nothing may depend on iteration order, which changes with resizes.
 *
 * Linear probing with backward-shift deletion: no tombstones, so a map that
 * sees many insert/remove cycles does not degrade. Load factor <= 0.75. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct HashOps {
        uint64_t (*hash)(const void *key);
        bool (*equal)(const void *a, const void *b);
} HashOps;

extern const HashOps u64_hash_ops;
extern const HashOps string_hash_ops;

#define U64_TO_PTR(u) ((void *) (uintptr_t) (u))
#define PTR_TO_U64(p) ((uint64_t) (uintptr_t) (p))

typedef struct Hashmap Hashmap;

/* Returns a new empty map, or NULL on allocation failure. */
Hashmap *hashmap_new(const HashOps *ops);
/* Frees the map (not keys or values). Takes NULL; returns NULL. */
Hashmap *hashmap_free(Hashmap *h);

/* Inserts key -> value. -EEXIST if the key is present (map unchanged),
 * -ENOMEM, or 0. */
int hashmap_put(Hashmap *h, const void *key, void *value);
/* Inserts or replaces. 0 or -ENOMEM. */
int hashmap_replace(Hashmap *h, const void *key, void *value);
/* The value for key, or NULL. */
void *hashmap_get(const Hashmap *h, const void *key);
bool hashmap_contains(const Hashmap *h, const void *key);
/* Removes key and returns its value, or NULL when absent. */
void *hashmap_remove(Hashmap *h, const void *key);
size_t hashmap_size(const Hashmap *h);
void hashmap_clear(Hashmap *h);

/* Iteration: `HashmapIter it = HASHMAP_ITER_INIT;` then
 * while (hashmap_iterate(h, &it, &key, &value)) ...
 * The map must not be changed during iteration. key/value may be NULL. */
typedef struct HashmapIter {
        size_t slot;
} HashmapIter;
#define HASHMAP_ITER_INIT ((HashmapIter) { 0 })
bool hashmap_iterate(const Hashmap *h, HashmapIter *it, const void **ret_key, void **ret_value);

/* The hash functions, exported for modules that need a stable hash. */
uint64_t hash_u64(uint64_t v);
uint64_t hash_bytes(const void *p, size_t n);
