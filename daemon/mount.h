/* mount.h — the FUSE mount of a node: FuseFs (fusefs/) over the Node seam.
 *
 * The daemon mounts once the node has caught up with the cluster (before
 * READY=1) and unmounts after a graceful stop's leadership transfer. */
#pragma once

#include <systemd/sd-event.h>

#include "daemon/conf.h"
#include "daemon/node.h"

typedef struct Mount Mount;

/* Mounts the node's tree at conf->mountpoint. Borrows e, node and conf,
 * which must outlive the Mount. 0 with *ret, or a negative errno (logged). */
int mount_start(sd_event *e, Node *node, const Conf *conf, Mount **ret);

/* Answers every parked FUSE request, detaches the mount and frees. Takes
 * NULL; returns NULL. Must run before node_free(). */
Mount *mount_stop(Mount *m);
