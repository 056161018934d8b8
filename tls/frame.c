#include "config.h"
/* frame.c — encoding and decoding of peer frames and control messages.
 *
 * Pure functions over bytes (see frame.h for the format). The decoder never
 * reads past its input, never allocates, and rejects an oversized length as
 * soon as the 5-byte header is there, before the payload is buffered: that
 * is what keeps a hostile peer from making a channel buffer more than the
 * configured maximum. */

#include <errno.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "tls/frame.h"

ssize_t tls_frame_decode(const uint8_t *buf, size_t len, size_t max_payload, TlsFrame *ret) {
        assert(buf || len == 0);
        assert(ret);

        if (len < TLS_FRAME_HEADER_BYTES)
                return 0;
        uint32_t n = le32_load(buf);
        if (n > max_payload)
                return -EMSGSIZE;
        if (len - TLS_FRAME_HEADER_BYTES < n)
                return 0;
        *ret = (TlsFrame) {
                .type = buf[4],
                .payload = buf + TLS_FRAME_HEADER_BYTES,
                .len = n,
        };
        return (ssize_t) (TLS_FRAME_HEADER_BYTES + (size_t) n);
}

void tls_frame_header_write(uint8_t out[TLS_FRAME_HEADER_BYTES], uint8_t type, size_t len) {
        assert(len <= UINT32_MAX);
        le32_store(out, (uint32_t) len);
        out[4] = type;
}

int tls_frame_append(Buf *b, uint8_t type, const void *payload, size_t len) {
        assert(b);
        if (len > UINT32_MAX)
                return -EMSGSIZE;
        uint8_t *p = buf_extend(b, TLS_FRAME_HEADER_BYTES + len);
        if (!p)
                return -ENOMEM;
        tls_frame_header_write(p, type, len);
        if (len > 0)
                memcpy(p + TLS_FRAME_HEADER_BYTES, payload, len);
        return 0;
}

static int decode_hello(Reader *r, TlsControl *c) {
        const uint8_t *name;
        size_t n;

        (void) get_u8(r, &c->version);
        (void) get_u64(r, &c->incarnation);
        if (get_blob(r, TLS_NAME_MAX, &name, &n) < 0)
                return -EBADMSG;
        memcpy(c->name, name, n);
        c->name[n] = 0;
        if (strlen(c->name) != n || !tls_name_is_valid(c->name))
                return -EBADMSG;
        return 0;
}

int tls_control_decode(const uint8_t *payload, size_t len, TlsControl *ret) {
        assert(payload || len == 0);
        assert(ret);

        Reader r = reader_init(payload, len);
        TlsControl c = {};
        uint8_t kind;

        if (get_u8(&r, &kind) < 0)
                return -EBADMSG;
        switch (kind) {
        case TLS_CONTROL_HELLO:
                if (decode_hello(&r, &c) < 0)
                        return -EBADMSG;
                break;
        case TLS_CONTROL_READY:
                break;
        case TLS_CONTROL_BYE:
                (void) get_u8(&r, &c.bye_reason);
                break;
        default:
                return -EBADMSG;
        }
        if (reader_finish(&r) < 0)
                return -EBADMSG;
        c.kind = kind;
        *ret = c;
        return 0;
}

/* Builds a control frame in a scratch buffer, then appends it whole, so that
 * b is unchanged on -ENOMEM. */
static int append_control(Buf *b, const Buf *body) {
        return tls_frame_append(b, TLS_FRAME_TYPE_CONTROL, body->data, body->len);
}

int tls_control_append_hello(Buf *b, uint64_t incarnation, const char *name) {
        assert(b);
        assert(tls_name_is_valid(name));

        Buf body = BUF_INIT;
        int r = put_u8(&body, TLS_CONTROL_HELLO);
        if (r >= 0)
                r = put_u8(&body, TLS_PROTOCOL_VERSION);
        if (r >= 0)
                r = put_u64(&body, incarnation);
        if (r >= 0)
                r = put_str(&body, name);
        if (r >= 0)
                r = append_control(b, &body);
        buf_done(&body);
        return r;
}

int tls_control_append_ready(Buf *b) {
        uint8_t kind = TLS_CONTROL_READY;
        return tls_frame_append(b, TLS_FRAME_TYPE_CONTROL, &kind, 1);
}

int tls_control_append_bye(Buf *b, TlsByeReason reason) {
        uint8_t body[2] = { TLS_CONTROL_BYE, (uint8_t) reason };
        return tls_frame_append(b, TLS_FRAME_TYPE_CONTROL, body, sizeof body);
}
