#include "config.h"
/* buf.c — growable byte buffer (see buf.h). Capacity doubles on growth;
 * every failure leaves the buffer as it was. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

int buf_reserve(Buf *b, size_t extra) {
        if (extra <= b->cap - b->len)
                return 0;
        if (extra > SIZE_MAX - b->len)
                return -ENOMEM;
        size_t need = b->len + extra;
        if (need > BUF_MAX_BYTES)
                return -ENOMEM;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap = cap > BUF_MAX_BYTES / 2 ? need : cap * 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

uint8_t *buf_extend(Buf *b, size_t n) {
        if (buf_reserve(b, n) < 0)
                return NULL;
        uint8_t *p = b->data + b->len;
        b->len += n;
        return p;
}

int buf_append(Buf *b, const void *p, size_t n) {
        if (n == 0)
                return 0;
        uint8_t *dst = buf_extend(b, n);
        if (!dst)
                return -ENOMEM;
        memcpy(dst, p, n);
        return 0;
}

void buf_clear(Buf *b) {
        b->len = 0;
}

void buf_done(Buf *b) {
        free(b->data);
        *b = BUF_INIT;
}

uint8_t *buf_steal(Buf *b, size_t *ret_len) {
        uint8_t *p = b->data;
        if (ret_len)
                *ret_len = b->len;
        *b = BUF_INIT;
        return p;
}
