#include "config.h"
/* bio.c — the OpenSSL BIO under every TLS channel.
 *
 * OpenSSL's socket BIO writes each TLS record (at most 16 KiB of data) with
 * its own write(2), and write(2) raises SIGPIPE when the peer vanished. This
 * BIO appends records to c->bout and sends them with send(MSG_NOSIGNAL) in
 * large pieces: when the buffer is full, when OpenSSL flushes (handshake
 * flights, alerts) and after each batch of SSL_write calls (do_write). One
 * send of 256 KiB costs the kernel far less than sixteen of 16 KiB. Its data
 * is the Channel (fd, EOF flag, buffer). */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tls/tls-internal.h"

#define BOUT_MAX (256 * 1024)

size_t tls_bout_pending(const Channel *c) {
        return c->bout.len - c->bout_off;
}

/* 0 when everything is on the socket, -EAGAIN when it is full, or -errno. */
int tls_bout_flush(Channel *c) {
        while (tls_bout_pending(c) > 0) {
                ssize_t k = send(c->fd, c->bout.data + c->bout_off, tls_bout_pending(c), MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? -EAGAIN : -errno;
                }
                c->bout_off += (size_t) k;
        }
        buf_clear(&c->bout);
        c->bout_off = 0;
        return 0;
}

static int bio_write(BIO *b, const char *p, int n) {
        Channel *c = BIO_get_data(b);
        BIO_clear_retry_flags(b);
        if (tls_bout_pending(c) >= BOUT_MAX) {
                int r = tls_bout_flush(c);
                if (r == -EAGAIN) {
                        BIO_set_retry_write(b);
                        return -1;
                }
                if (r < 0) {
                        errno = -r;
                        return -1;
                }
        }
        if (c->bout_off > 0 && c->bout_off >= tls_bout_pending(c)) {
                /* Compact: at most as many bytes move as were sent. */
                memmove(c->bout.data, c->bout.data + c->bout_off, tls_bout_pending(c));
                c->bout.len -= c->bout_off;
                c->bout_off = 0;
        }
        if (buf_append(&c->bout, p, (size_t) n) < 0) {
                errno = ENOMEM;
                return -1;
        }
        return n;
}

static int bio_read(BIO *b, char *p, int n) {
        Channel *c = BIO_get_data(b);
        BIO_clear_retry_flags(b);
        ssize_t k = recv(c->fd, p, (size_t) n, 0);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        BIO_set_retry_read(b);
                return -1;
        }
        if (k == 0)
                c->bio_eof = true;
        return (int) k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
        Channel *c = BIO_get_data(b);
        switch (cmd) {
        case BIO_CTRL_FLUSH: {
                BIO_clear_retry_flags(b);
                int r = tls_bout_flush(c);
                if (r == -EAGAIN)
                        BIO_set_retry_write(b);
                else if (r < 0)
                        errno = -r;
                return r < 0 ? -1 : 1;
        }
        case BIO_CTRL_EOF:
                return c && c->bio_eof;
        default:
                return 0;
        }
}

static int bio_create(BIO *b) {
        BIO_set_init(b, 1);
        return 1;
}

static int bio_destroy(BIO *b) {
        BIO_set_data(b, NULL);
        return 1;
}

BIO_METHOD *tls_bio_method_new(void) {
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                     "raftfs socket");
        if (!m)
                return NULL;
        if (BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
            BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1 ||
            BIO_meth_set_destroy(m, bio_destroy) != 1) {
                BIO_meth_free(m);
                return NULL;
        }
        return m;
}

BIO *tls_bio_new(Channel *c) {
        BIO *b = BIO_new(c->net->bio_method);
        if (b)
                BIO_set_data(b, c);
        return b;
}

