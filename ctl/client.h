/* client.h — raftfsctl's side of the control socket: a blocking client.
 *
 * raftfsctl runs one command and exits, so the client is simple: connect,
 * send a request, read frames with a timeout. Frames returned by
 * ctl_client_read() point into the client's input buffer and stay valid
 * until the next read. */
#pragma once

#include <stdint.h>

#include "daemon/control-proto.h"
#include "lib/buf.h"

typedef struct CtlClient CtlClient;

/* Connects to the daemon's socket at `path`. 0, or the connect(2) errno
 * (-ENOENT no socket, -ECONNREFUSED no daemon, -EACCES permission), -ENOMEM. */
int ctl_client_connect(const char *path, CtlClient **ret);
/* Closes and frees. Takes NULL; returns NULL. */
CtlClient *ctl_client_free(CtlClient *c);

/* The fd, for poll() in callers that wait on more than the socket. */
int ctl_client_fd(const CtlClient *c);

/* A fresh request id. */
uint32_t ctl_client_next_id(CtlClient *c);

/* Sends all bytes of `frames` (one or more encoded frames) and clears it.
 * 0, -EPIPE/-ECONNRESET when the daemon went away. */
int ctl_client_send(CtlClient *c, Buf *frames);

/* Reads the next frame. timeout_ms < 0 waits forever; 0 only returns what is
 * already buffered or readable. Returns 1 with *ret filled, 0 on timeout,
 * -ECONNRESET when the daemon closed the connection, -EBADMSG for a frame
 * that does not parse, -EPROTONOSUPPORT for another protocol version, or
 * another negative errno. EINTR is returned as -EINTR (callers with signal
 * handlers decide). */
int ctl_client_read(CtlClient *c, int timeout_ms, CtlFrame *ret);

/* Sends one frame already in `request` and waits for the first answer with
 * the same id (answers to other ids are an error here). 1 with *ret, or an
 * error as above; a timeout is -ETIMEDOUT. */
int ctl_client_call(CtlClient *c, Buf *request, uint32_t id, int timeout_ms, CtlFrame *ret);
