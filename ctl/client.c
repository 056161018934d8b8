#include "config.h"

/* client.c — the blocking control-socket client of raftfsctl (client.h).
 *
 * Input accumulates in `in`; `consumed` marks how much of it earlier frames
 * used. The consumed prefix is dropped at the start of the next read, which
 * is what keeps a returned frame valid until then. */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/client.h"
#include "lib/macro.h"

struct CtlClient {
        int fd;
        uint32_t next_id;
        Buf in;
        size_t consumed;
};

int ctl_client_connect(const char *path, CtlClient **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        CtlClient *c;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        c = calloc(1, sizeof(CtlClient));
        if (!c)
                return -ENOMEM;
        c->fd = TAKE_FD(fd);
        c->next_id = 1;
        *ret = c;
        return 0;
}

CtlClient *ctl_client_free(CtlClient *c) {
        if (!c)
                return NULL;
        safe_close(c->fd);
        buf_done(&c->in);
        return mfree(c);
}

int ctl_client_fd(const CtlClient *c) {
        return c->fd;
}

uint32_t ctl_client_next_id(CtlClient *c) {
        return c->next_id++;
}

int ctl_client_send(CtlClient *c, Buf *frames) {
        size_t pos = 0;

        while (pos < frames->len) {
                ssize_t k = send(c->fd, frames->data + pos, frames->len - pos, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                pos += (size_t) k;
        }
        buf_clear(frames);
        return 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int ctl_client_read(CtlClient *c, int timeout_ms, CtlFrame *ret) {
        uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t) timeout_ms : 0;

        if (c->consumed > 0) {
                memmove(c->in.data, c->in.data + c->consumed, c->in.len - c->consumed);
                c->in.len -= c->consumed;
                c->consumed = 0;
        }
        for (;;) {
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int k, wait_ms = -1;
                ssize_t n;

                k = ctl_frame_parse(c->in.data, c->in.len, ret);
                if (k > 0) {
                        c->consumed = (size_t) k;
                        return 1;
                }
                if (k < 0)
                        return k;

                if (timeout_ms >= 0) {
                        uint64_t now = now_ms();
                        wait_ms = now >= deadline ? 0 : (int) (deadline - now);
                }
                k = poll(&p, 1, wait_ms);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
                if (buf_reserve(&c->in, 64 * 1024) < 0)
                        return -ENOMEM;
                n = recv(c->fd, c->in.data + c->in.len, 64 * 1024, 0);
                if (n < 0) {
                        if (errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                c->in.len += (size_t) n;
        }
}

int ctl_client_call(CtlClient *c, Buf *request, uint32_t id, int timeout_ms, CtlFrame *ret) {
        int r;

        r = ctl_client_send(c, request);
        if (r < 0)
                return r;
        r = ctl_client_read(c, timeout_ms, ret);
        if (r == 0)
                return -ETIMEDOUT;
        if (r < 0)
                return r;
        if (ret->id != id)
                return -EBADMSG;
        return 1;
}
