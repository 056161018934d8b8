#include "config.h"

/* restore.c — raftfsd --restore SNAPSHOT: seed an empty data_dir from a
 * file made by `raftfsctl snapshot save`.
 *
 * The file holds the tree's snapshot encoding (tree_snapshot_write()). The
 * restored node starts a new cluster whose voters are the configuration's
 * initial_members and whose tree is the snapshot's, minus every session
 * (their locks, waiters and ephemeral files go with them: the processes
 * that held them belong to the old cluster). The result is a pure function
 * of the file and initial_members — the sessions are closed by applying
 * SESSION_EXPIRE commands with a fixed time — so running the same restore
 * on every listed member gives every member the same state, which the new
 * cluster's log then continues from. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/node-internal.h"
#include "daemon/restore.h"
#include "lib/log.h"
#include "lib/macro.h"

static int read_file(const char *path, uint64_t max_bytes, uint8_t **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *data = NULL;
        struct stat st;
        size_t off = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max_bytes)
                return -EFBIG;
        data = malloc(st.st_size > 0 ? (size_t) st.st_size : 1);
        if (!data)
                return -ENOMEM;
        while (off < (size_t) st.st_size) {
                ssize_t k = read(fd, data + off, (size_t) st.st_size - off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                off += (size_t) k;
        }
        *ret = TAKE_PTR(data);
        *ret_len = off;
        return 0;
}

static int collect_session(void *userdata, const TreeSessionInfo *info) {
        Buf *ids = userdata;
        return put_u64(ids, info->id);
}

/* Closes every session of the restored tree, deterministically. */
static int expire_sessions(Tree *t) {
        Buf ids = BUF_INIT;
        int r;

        r = tree_session_foreach(t, collect_session, &ids);
        for (size_t i = 0; r >= 0 && i + 8 <= ids.len; i += 8) {
                TreeCmd c = { .type = TREE_CMD_SESSION_EXPIRE };
                TreeResult res;
                Buf cmd = BUF_INIT;

                c.session_expire.session = le64_load(ids.data + i);
                c.session_expire.flags = TREE_EXPIRE_GRACEFUL;
                r = tree_cmd_encode(&c, &cmd);
                if (r >= 0)
                        r = tree_apply(t, tree_applied_index(t) + 1, cmd.data, cmd.len, &res, NULL);
                buf_done(&cmd);
        }
        buf_done(&ids);
        return r;
}

static void completion(Store *s, const StoreCompletion *c, void *userdata) {
        if (c->type == STORE_COMPLETION_HARD_STATE || c->type == STORE_COMPLETION_FAILED)
                *(bool *) userdata = true;
}

/* Writes snapshot + hard state into the empty store and waits until durable. */
static int seed_store(Store *s, const RaftSnapshotMeta *meta, uint8_t *data, size_t len) {
        RaftHardState hs = { .term = meta->term, .vote = 0, .commit = meta->index };
        bool done = false;
        int r;

        store_set_completion_handler(s, completion, &done);
        r = store_save_snapshot(s, meta, data, len, 0);
        if (r < 0) {
                free(data);
                return r;
        }
        r = store_save_hard_state(s, &hs, 0);
        while (r >= 0 && !done) {
                struct pollfd p = { .fd = store_get_fd(s), .events = POLLIN };
                if (poll(&p, 1, 60000) <= 0)
                        r = -ETIMEDOUT;
                else
                        (void) store_dispatch_completions(s);
        }
        if (r >= 0 && store_is_failed(s))
                r = store_failed_error(s);
        return r;
}

static int build_meta(const Conf *conf, uint64_t index, RaftSnapshotMeta *ret) {
        RaftConfig c = RAFT_CONFIG_INIT;
        Buf b = BUF_INIT;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < conf->n_members; i++)
                r = raft_config_add(&c, node_id_from_name(conf->members[i].name), conf->members[i].name,
                                    conf->members[i].address, RAFT_VOTER);
        if (r >= 0)
                r = raft_config_encode(&c, &b);
        raft_config_done(&c);
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        *ret = (RaftSnapshotMeta) { .index = index, .term = 1, .conf_len = (uint32_t) b.len };
        ret->conf = buf_steal(&b, NULL);
        return 0;
}

int restore_data_dir(const Conf *conf, const char *snapshot_path) {
        _cleanup_free_ uint8_t *file = NULL;
        StoreError err = { .offset = UINT64_MAX };
        RaftSnapshotMeta meta = {};
        Store *store = NULL;
        Tree *tree = NULL;
        Buf out = BUF_INIT;
        uint8_t *data;
        size_t len = 0;
        int r;

        if (conf->join)
                return log_error_errno(-EINVAL, "join = yes: a joining node receives the tree from the "
                                       "cluster, nothing to restore.");
        r = read_file(snapshot_path, 2 * conf->max_total_size + (64 << 20), &file, &len);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", snapshot_path);
        r = tree_snapshot_load(file, len, &tree);
        if (r < 0)
                return log_error_errno(r, "'%s' is not a raftfs snapshot (or is damaged): %m", snapshot_path);
        r = expire_sessions(tree);
        if (r >= 0)
                r = tree_snapshot_write(tree, &out);
        if (r >= 0)
                r = build_meta(conf, MAX(tree_applied_index(tree), UINT64_C(1)), &meta);
        tree_free(tree);
        if (r < 0) {
                buf_done(&out);
                return log_error_errno(r, "Failed to prepare the restored state: %m");
        }

        r = store_open(conf->data_dir, NULL, &store, &err);
        if (r < 0) {
                log_error("%s", err.message ? err.message : "");
                store_error_done(&err);
                r = log_error_errno(r, "Failed to open data directory '%s': %m", conf->data_dir);
        } else if (store_last_index(store) != 0 || store_snapshot_meta(store)) {
                r = log_error_errno(-ENOTEMPTY, "Data directory '%s' is not empty; refusing to restore "
                                    "into it.", conf->data_dir);
        } else {
                data = buf_steal(&out, &len);
                r = seed_store(store, &meta, data, len);
                if (r < 0)
                        log_error_errno(r, "Failed to write the restored state: %m");
        }
        store_free(store);
        buf_done(&out);
        free(meta.conf);
        if (r >= 0)
                log_notice("Restored %s into %s at index %llu for %zu initial member%s; start raftfsd on "
                           "every listed member.", snapshot_path, conf->data_dir,
                           (unsigned long long) meta.index, conf->n_members, conf->n_members == 1 ? "" : "s");
        return r;
}
