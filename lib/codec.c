#include "config.h"
/* codec.c — bounds-checked little-endian encoding (see codec.h).
 *
 * Invariant of Reader: pos <= len at all times; once error is set it never
 * clears, and every get returns it without touching the input. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"

int put_u8(Buf *b, uint8_t v) {
        return buf_append(b, &v, 1);
}

int put_u16(Buf *b, uint16_t v) {
        uint8_t *p = buf_extend(b, 2);
        if (!p)
                return -ENOMEM;
        le16_store(p, v);
        return 0;
}

int put_u32(Buf *b, uint32_t v) {
        uint8_t *p = buf_extend(b, 4);
        if (!p)
                return -ENOMEM;
        le32_store(p, v);
        return 0;
}

int put_u64(Buf *b, uint64_t v) {
        uint8_t *p = buf_extend(b, 8);
        if (!p)
                return -ENOMEM;
        le64_store(p, v);
        return 0;
}

int put_bytes(Buf *b, const void *p, size_t n) {
        return buf_append(b, p, n);
}

int put_blob(Buf *b, const void *p, size_t n) {
        if (n > UINT32_MAX)
                return -E2BIG;
        int r = buf_reserve(b, 4 + n);
        if (r < 0)
                return r;
        (void) put_u32(b, (uint32_t) n);
        (void) buf_append(b, p, n);
        return 0;
}

int put_str(Buf *b, const char *s) {
        return put_blob(b, s, strlen(s));
}

/* Claims n bytes of input, or fails the reader. */
static const uint8_t *take(Reader *r, size_t n) {
        if (r->error)
                return NULL;
        if (n > r->len - r->pos) {
                r->error = -EBADMSG;
                return NULL;
        }
        const uint8_t *p = r->data + r->pos;
        r->pos += n;
        return p;
}

int get_u8(Reader *r, uint8_t *ret) {
        const uint8_t *p = take(r, 1);
        *ret = p ? p[0] : 0;
        return p ? 0 : r->error;
}

int get_u16(Reader *r, uint16_t *ret) {
        const uint8_t *p = take(r, 2);
        *ret = p ? le16_load(p) : 0;
        return p ? 0 : r->error;
}

int get_u32(Reader *r, uint32_t *ret) {
        const uint8_t *p = take(r, 4);
        *ret = p ? le32_load(p) : 0;
        return p ? 0 : r->error;
}

int get_u64(Reader *r, uint64_t *ret) {
        const uint8_t *p = take(r, 8);
        *ret = p ? le64_load(p) : 0;
        return p ? 0 : r->error;
}

int get_bytes(Reader *r, size_t n, const uint8_t **ret) {
        const uint8_t *p = take(r, n);
        *ret = p;
        return p ? 0 : r->error;
}

int get_blob(Reader *r, size_t max_len, const uint8_t **ret, size_t *ret_len) {
        uint32_t n;

        *ret = NULL;
        *ret_len = 0;
        if (get_u32(r, &n) < 0)
                return r->error;
        if (n > max_len) {
                r->error = -EBADMSG;
                return r->error;
        }
        const uint8_t *p = take(r, n);
        if (!p)
                return r->error;
        *ret = p;
        *ret_len = n;
        return 0;
}

int get_str_dup(Reader *r, size_t max_len, char **ret) {
        const uint8_t *p;
        size_t n;
        int e = get_blob(r, max_len, &p, &n);
        if (e < 0)
                return e;
        if (memchr(p, 0, n)) {
                r->error = -EBADMSG;
                return r->error;
        }
        char *s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        if (n > 0)
                memcpy(s, p, n);
        s[n] = 0;
        *ret = s;
        return 0;
}

int reader_finish(const Reader *r) {
        if (r->error)
                return r->error;
        return r->pos == r->len ? 0 : -EBADMSG;
}
