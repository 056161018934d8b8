#include "config.h"
/* fuzz-tls-frame.c — the peer frame decoder and control messages
 * (tls/frame.h) against arbitrary bytes.
 *
 * Input: byte 0 picks the frame limit (2^(b % 25) bytes) and byte 1 the
 * seed of the chunking; the rest is a byte stream as a channel would
 * receive it. The stream is decoded twice: whole, and fed in small chunks
 * the way a socket delivers it (a receive buffer that is appended to and
 * compacted). Checks: both ways yield the same frames and the same verdict;
 * frames never point outside the input; a control payload either fails to
 * decode or re-encodes to exactly the same bytes (the format is exact). */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "tls/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_control(const TlsFrame *f) {
        TlsControl m;
        if (tls_control_decode(f->payload, f->len, &m) < 0)
                return;
        Buf b = BUF_INIT;
        int r = -1;
        switch (m.kind) {
        case TLS_CONTROL_HELLO:
                assert(tls_name_is_valid(m.name));
                if (m.version != TLS_PROTOCOL_VERSION)
                        goto done;   /* the encoder only writes our version */
                r = tls_control_append_hello(&b, m.incarnation, m.name);
                break;
        case TLS_CONTROL_READY:
                r = tls_control_append_ready(&b);
                break;
        case TLS_CONTROL_BYE:
                r = tls_control_append_bye(&b, (TlsByeReason) m.bye_reason);
                break;
        }
        assert(r == 0);
        assert(b.len == TLS_FRAME_HEADER_BYTES + f->len);
        assert(memcmp(b.data + TLS_FRAME_HEADER_BYTES, f->payload, f->len) == 0);
done:
        buf_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        size_t max = (size_t) 1 << (data[0] % 25);
        unsigned seed = data[1];
        const uint8_t *in = data + 2;
        size_t len = size - 2;

        /* Whole-buffer decode: the reference. */
        size_t off = 0, n_frames = 0;
        ssize_t verdict = 0;
        uint32_t sum = 0;
        for (;;) {
                TlsFrame f;
                verdict = tls_frame_decode(in + off, len - off, max, &f);
                if (verdict <= 0)
                        break;
                assert((size_t) verdict == TLS_FRAME_HEADER_BYTES + f.len && f.len <= max);
                assert(f.payload >= in && f.payload + f.len <= in + len);
                if (f.type == TLS_FRAME_TYPE_CONTROL)
                        check_control(&f);
                sum = sum * 31 + f.type + (uint32_t) f.len;
                off += (size_t) verdict;
                n_frames++;
        }

        /* Streaming decode with chunks of 1..16 bytes. */
        Buf rx = BUF_INIT;
        size_t fed = 0, n2 = 0;
        ssize_t verdict2 = 0;
        uint32_t sum2 = 0;
        while (verdict2 >= 0) {
                size_t chunk = 1 + (seed = seed * 1103515245 + 12345) % 16;
                chunk = chunk < len - fed ? chunk : len - fed;
                if (chunk > 0 && buf_append(&rx, in + fed, chunk) < 0)
                        abort();
                fed += chunk;
                size_t used = 0;
                while (rx.len > used) {
                        TlsFrame f;
                        verdict2 = tls_frame_decode(rx.data + used, rx.len - used, max, &f);
                        if (verdict2 <= 0)
                                break;
                        sum2 = sum2 * 31 + f.type + (uint32_t) f.len;
                        used += (size_t) verdict2;
                        n2++;
                }
                if (used > 0) {
                        memmove(rx.data, rx.data + used, rx.len - used);
                        rx.len -= used;
                }
                if (fed == len)
                        break;
        }
        buf_done(&rx);
        assert(n2 == n_frames && sum2 == sum);
        assert((verdict < 0) == (verdict2 < 0));
        return 0;
}
