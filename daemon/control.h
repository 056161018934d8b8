/* control.h — the daemon side of the control socket (protocol in
 * control-proto.h).
 *
 * The server listens on a unix stream socket, accepts up to
 * CONTROL_CONNECTIONS_MAX clients, decodes their requests and answers from
 * the Node. Peer credentials are read once at accept (SO_PEERCRED, and
 * SO_PEERGROUPS for supplementary groups): a connection is privileged when
 * the peer is root, runs as the daemon's own user, or belongs to group
 * "raftfs"; privileged requests from others get EPERM. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "daemon/metrics.h"
#include "daemon/node.h"

#define CONTROL_CONNECTIONS_MAX 64
#define CONTROL_REQUESTS_MAX 64                 /* in flight per connection (ops + streams) */
#define CONTROL_OUTPUT_MAX (8 * 1024 * 1024)    /* queued answer bytes per connection */
#define CONTROL_GROUP "raftfs"

typedef struct ControlServer ControlServer;

/* Creates the socket at `path` (mode 0660, group raftfs when that group
 * exists; the parent directory is created, mode 0755, when missing), after
 * removing a stale socket left by a dead daemon (a live one answering on it
 * gives -EADDRINUSE). Borrows e, node and metrics. Negative errno, logged. */
int control_server_new(sd_event *e, Node *node, Metrics *metrics, const char *path, ControlServer **ret);

/* Closes every connection and the listening socket and unlinks the socket
 * path. Takes NULL; returns NULL. */
ControlServer *control_server_free(ControlServer *s);

/* Decides privilege from credentials (exported for tests): uid 0, uid equal
 * to `self_uid`, primary gid or one of `groups` equal to `group_gid`
 * (which is (gid_t) -1 when the group does not exist). */
bool control_peer_is_privileged(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                                uid_t self_uid, gid_t group_gid);

/* Normalises a watch path: must be absolute; repeated and trailing slashes
 * are dropped; "." and ".." components are refused. Returns a new string
 * or NULL with errno EINVAL/ENOMEM. */
char *control_path_normalize(const char *path);
