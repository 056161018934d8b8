/* frame.h — the peer wire format: frames and the channel's control frames.
 *
 * Internal to tls/ (callers use tls.h); exported for the fuzzer and the
 * benchmark. Everything here is pure: functions over bytes, no I/O.
 *
 * Version 1. Every byte a channel carries (inside TLS) is a sequence of
 *
 *     frame   = length:u32le | type:u8 | payload[length]
 *
 * `length` counts payload bytes only; a length above the receiver's maximum
 * is a protocol error (the channel closes), checked before any payload is
 * buffered, so a peer cannot make us allocate more than the maximum.
 *
 * Type 0 carries control messages, payload = kind:u8 | body:
 *
 *     HELLO  kind 1 | version:u8 (=1) | incarnation:u64le | name:u32le-length string (1..63 bytes)
 *     READY  kind 2                                  (no body)
 *     BYE    kind 3 | reason:u8                      (1 superseded, 2 shutdown, 3 removed)
 *
 * Channel protocol: after the TLS handshake the dialer sends HELLO; the
 * acceptor checks it (name in the certificate, member, not itself) and
 * answers HELLO; the dialer checks that (the name it dialed, same certificate
 * rule) and sends READY; each side counts the channel up when it has sent
 * (dialer) or received (acceptor) READY. Data frames (types 1..255) are
 * valid only on an up channel. BYE announces that the sender will close the
 * channel after flushing it; the receiver closes its end too. Anything else
 * — unknown kind, trailing bytes, data before READY, a second HELLO — closes
 * the channel. The version byte allows a future version to negotiate. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "tls/tls.h"

#define TLS_PROTOCOL_VERSION 1
#define TLS_FRAME_TYPE_CONTROL 0

typedef enum TlsControlKind {
        TLS_CONTROL_HELLO = 1,
        TLS_CONTROL_READY = 2,
        TLS_CONTROL_BYE = 3,
} TlsControlKind;

typedef enum TlsByeReason {
        TLS_BYE_SUPERSEDED = 1,   /* a duplicate channel: the other one is kept */
        TLS_BYE_SHUTDOWN = 2,
        TLS_BYE_REMOVED = 3,      /* the receiver is no longer a member */
} TlsByeReason;

typedef struct TlsFrame {
        uint8_t type;
        const uint8_t *payload;   /* points into the decoded buffer */
        size_t len;
} TlsFrame;

/* Decodes the frame at the start of buf[0..len). Returns the number of bytes
 * the frame occupies (header + payload) and fills *ret; 0 when more bytes
 * are needed (*ret untouched); -EMSGSIZE when the announced payload exceeds
 * max_payload (known as soon as the header is complete). */
ssize_t tls_frame_decode(const uint8_t *buf, size_t len, size_t max_payload, TlsFrame *ret);

/* Writes the 5-byte header for a payload of len bytes (len <= UINT32_MAX). */
void tls_frame_header_write(uint8_t out[TLS_FRAME_HEADER_BYTES], uint8_t type, size_t len);

/* Appends a whole frame (header + payload) to b. 0, -EMSGSIZE (len >
 * UINT32_MAX) or -ENOMEM (b unchanged). */
int tls_frame_append(Buf *b, uint8_t type, const void *payload, size_t len);

typedef struct TlsControl {
        TlsControlKind kind;
        /* HELLO */
        uint8_t version;
        uint64_t incarnation;
        char name[TLS_NAME_MAX + 1];
        /* BYE */
        uint8_t bye_reason;
} TlsControl;

/* Decodes the payload of a type-0 frame. 0, or -EBADMSG when it is not
 * exactly one well-formed control message (unknown kind, bad length, name
 * invalid per tls_name_is_valid()). A HELLO with another version decodes
 * fine (the caller decides); *ret is untouched on failure. */
int tls_control_decode(const uint8_t *payload, size_t len, TlsControl *ret);

/* Append a complete type-0 frame holding the message. 0 or -ENOMEM. */
int tls_control_append_hello(Buf *b, uint64_t incarnation, const char *name);
int tls_control_append_ready(Buf *b);
int tls_control_append_bye(Buf *b, TlsByeReason reason);
