/* codec.h — little-endian byte encoding with bounds checks.
 *
 * Every on-wire and on-disk format of raftfs is built from these helpers, so
 * that byte order is explicit (never host-endian structs) and a decoder can
 * never read past its input. Writers append to a Buf (see buf.h). Readers keep
 * a sticky error: after the first short read every further get returns
 * -EBADMSG and yields zero values, so a decoder may read a whole record and
 * check once with reader_finish() or reader_error().
 *
 * Strings and blobs are length-prefixed (u32). A blob read returns a pointer
 * into the input buffer (no copy); its lifetime is the input's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* ---- raw little-endian loads and stores (caller checked the bounds) ---- */
static inline void le16_store(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}
static inline void le32_store(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static inline void le64_store(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static inline uint16_t le16_load(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}
static inline uint32_t le32_load(const uint8_t *p) {
        return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}
static inline uint64_t le64_load(const uint8_t *p) {
        return (uint64_t) le32_load(p) | ((uint64_t) le32_load(p + 4) << 32);
}

/* ---- writers: append to a Buf; return 0 or -ENOMEM ---- */
int put_u8(Buf *b, uint8_t v);
int put_u16(Buf *b, uint16_t v);
int put_u32(Buf *b, uint32_t v);
int put_u64(Buf *b, uint64_t v);
int put_bytes(Buf *b, const void *p, size_t n);          /* raw, no length */
int put_blob(Buf *b, const void *p, size_t n);           /* u32 length + bytes; -E2BIG past UINT32_MAX */
int put_str(Buf *b, const char *s);                      /* u32 length + bytes, no NUL */

/* ---- readers ---- */
typedef struct Reader {
        const uint8_t *data;
        size_t len;
        size_t pos;
        int error;              /* 0, or the first error (-EBADMSG) */
} Reader;

static inline Reader reader_init(const void *data, size_t len) {
        return (Reader) { .data = data, .len = len };
}
static inline size_t reader_remaining(const Reader *r) {
        return r->error ? 0 : r->len - r->pos;
}
static inline int reader_error(const Reader *r) {
        return r->error;
}

/* Each get stores the value in *ret and returns 0, or stores 0/NULL and
 * returns -EBADMSG when the input is too short (and stays failed). */
int get_u8(Reader *r, uint8_t *ret);
int get_u16(Reader *r, uint16_t *ret);
int get_u32(Reader *r, uint32_t *ret);
int get_u64(Reader *r, uint64_t *ret);
int get_bytes(Reader *r, size_t n, const uint8_t **ret);            /* n raw bytes, pointer into input */
int get_blob(Reader *r, size_t max_len, const uint8_t **ret, size_t *ret_len);
/* A length-prefixed string copied into a new NUL-terminated allocation;
 * -EBADMSG when truncated, longer than max_len, or holding a NUL byte;
 * -ENOMEM. *ret is untouched on failure. */
int get_str_dup(Reader *r, size_t max_len, char **ret);

/* 0 when no error occurred and every byte was consumed; -EBADMSG otherwise
 * (trailing garbage is an error: formats are exact). */
int reader_finish(const Reader *r);
