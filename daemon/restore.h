/* restore.h — seeding an empty data_dir from a snapshot file
 * (raftfsd --restore). */
#pragma once

#include "daemon/conf.h"

/* Loads the snapshot at `snapshot_path` (made by `raftfsctl snapshot
 * save`), closes every session in it, and writes it into the empty
 * conf->data_dir as the starting state of a new cluster whose voters are
 * conf's initial_members. Deterministic: every member restoring the same
 * file with the same initial_members gets the same state. 0, or a negative
 * errno (logged): -ENOTEMPTY when data_dir already holds state, -EINVAL for
 * join = yes, -EBADMSG for a file that is not a snapshot, I/O errors. */
int restore_data_dir(const Conf *conf, const char *snapshot_path);
