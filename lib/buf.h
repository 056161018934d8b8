/* buf.h — growable byte buffer.
 *
 * A Buf owns its storage. Growth doubles the capacity, so appends are
 * amortised O(1). A zero-initialised Buf (BUF_INIT) is empty and valid. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct Buf {
        uint8_t *data;
        size_t len;
        size_t cap;
} Buf;

/* No buffer grows past this (a sanity bound far above any raftfs limit). */
#define BUF_MAX_BYTES (UINT64_C(1) << 36)

#define BUF_INIT ((Buf) { NULL, 0, 0 })

/* Makes room for at least `extra` more bytes. 0 or -ENOMEM (then unchanged). */
int buf_reserve(Buf *b, size_t extra);
/* Appends n bytes. 0 or -ENOMEM (then unchanged). */
int buf_append(Buf *b, const void *p, size_t n);
/* Appends n bytes of room and returns a pointer to them, or NULL on -ENOMEM. */
uint8_t *buf_extend(Buf *b, size_t n);
/* Forgets the contents, keeps the storage. */
void buf_clear(Buf *b);
/* Frees the storage; the Buf is empty and reusable afterwards. */
void buf_done(Buf *b);
/* Hands the storage to the caller (who frees it); the Buf becomes empty. */
uint8_t *buf_steal(Buf *b, size_t *ret_len);
