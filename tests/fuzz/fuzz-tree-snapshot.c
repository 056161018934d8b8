#include "config.h"
/* fuzz-tree-snapshot.c — tree snapshots from untrusted bytes.
 *
 * Whatever tree_snapshot_load() accepts must serialize to exactly the input
 * (the format is canonical) and must survive being used: every session is
 * expired (releasing locks, removing ephemeral files), the lock-delays end,
 * every entry of the root is renamed and removed where possible, and the
 * result again round-trips through a snapshot. ASan/UBSan catch the rest. */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "tree/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Names {
        char *v[64];
        int n;
} Names;

static int collect(void *userdata, const char *name, const TreeAttr *attr, uint64_t next_cookie) {
        Names *n = userdata;
        if (n->n == 64)
                return 1;
        if (strcmp(name, ".") && strcmp(name, ".."))
                n->v[n->n++] = strdup(name);
        return 0;
}

static int collect_session(void *userdata, const TreeSessionInfo *info) {
        Names *n = userdata;
        if (n->n < 64)
                n->v[n->n++] = (char *) (uintptr_t) info->id;
        return 0;
}

static uint64_t apply(Tree *t, uint64_t index, TreeCmd *c) {
        Buf b = BUF_INIT;
        TreeResult r;
        TreeNotices n = {};
        assert(tree_cmd_encode(c, &b) == 0);
        assert(tree_apply(t, index, b.data, b.len, &r, &n) == 0);
        buf_done(&b);
        tree_notices_done(&n);
        return index + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Tree *t;
        if (tree_snapshot_load(data, size, &t) < 0)
                return 0;
        Buf b = BUF_INIT;
        assert(tree_snapshot_write(t, &b) == 0);
        assert(b.len == size && memcmp(b.data, data, size) == 0);
        buf_clear(&b);

        /* Queries on everything reachable from the root. */
        Names names = { .n = 0 };
        (void) tree_readdir(t, TREE_ROOT_INO, 0, collect, &names);
        for (int k = 0; k < names.n; k++) {
                TreeAttr a;
                char *path;
                if (tree_lookup(t, TREE_ROOT_INO, names.v[k], &a) == 0 && tree_path(t, a.ino, &path) == 0)
                        free(path);
                (void) tree_lock_text(t, a.ino, &b);
                (void) tree_listxattr(t, a.ino, &b);
        }

        uint64_t index = tree_applied_index(t) + 1;
        Names sessions = { .n = 0 };
        (void) tree_session_foreach(t, collect_session, &sessions);
        for (int k = 0; k < sessions.n; k++) {
                TreeCmd c = { .type = TREE_CMD_SESSION_EXPIRE,
                              .session_expire = { (uint64_t) (uintptr_t) sessions.v[k], 1000, 0 } };
                index = apply(t, index, &c);
        }
        TreeCmd tick = { .type = TREE_CMD_TICK, .time_usec = UINT64_MAX };
        index = apply(t, index, &tick);
        for (int k = 0; k < names.n; k++) {
                TreeCmd c = { .type = TREE_CMD_RENAME, .rename = { 1, names.v[k], 1, "renamed", 0 } };
                index = apply(t, index, &c);
                c = (TreeCmd) { .type = TREE_CMD_UNLINK, .unlink = { 1, "renamed" } };
                index = apply(t, index, &c);
                c.type = TREE_CMD_RMDIR;
                index = apply(t, index, &c);
                free(names.v[k]);
        }
        Buf s2 = BUF_INIT;
        Tree *u;
        buf_clear(&b);
        assert(tree_snapshot_write(t, &b) == 0);
        assert(tree_snapshot_load(b.data, b.len, &u) == 0);
        assert(tree_snapshot_write(u, &s2) == 0);
        assert(b.len == s2.len && memcmp(b.data, s2.data, b.len) == 0);
        tree_free(u);
        buf_done(&s2);
        buf_done(&b);
        tree_free(t);
        return 0;
}
