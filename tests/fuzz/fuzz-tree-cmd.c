#include "config.h"
/* fuzz-tree-cmd.c — tree commands from untrusted bytes.
 *
 * Input: a sequence of records, each a u16 little-endian length and that many
 * bytes of command. Each record is decoded (when it decodes, encoding the
 * result must give back exactly the same bytes: the format is canonical) and
 * applied to a small prepared tree (a session, a directory marked ephemeral,
 * a file with content and a lock) at increasing indexes. Afterwards the
 * tree's snapshot must load and serialize to the same bytes. ASan/UBSan catch
 * the rest. */

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "tree/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void apply_cmd(Tree *t, uint64_t index, const TreeCmd *c) {
        Buf b = BUF_INIT;
        TreeResult r;
        assert(tree_cmd_encode(c, &b) == 0);
        assert(tree_apply(t, index, b.data, b.len, &r, NULL) == 0);
        buf_done(&b);
}

static Tree *prepare(void) {
        TreeLimits l = { .max_file_size = 65536, .max_total_bytes = 1 << 20, .max_inodes = 1000 };
        Tree *t = tree_new(&l);
        assert(t);
        TreeExtent e = { 0, (const uint8_t *) "content", 7 };
        TreeCmd cmds[] = {
                { .type = TREE_CMD_SESSION_OPEN, .session_open = { "n1" } },                    /* 2 */
                { .type = TREE_CMD_MKDIR, .create = { 1, "d", 0755, 0, 0, 0 } },                /* 3 */
                { .type = TREE_CMD_CREATE, .create = { 3, "f", 0644, 0, 0, 0 } },               /* 4 */
                { .type = TREE_CMD_WRITE, .write = { .ino = 4, .extents = &e, .n_extents = 1 } }, /* 5 */
                { .type = TREE_CMD_LOCK, .session = 2, .request = 1,
                  .lock = { 4, 1, 1, TREE_LOCK_FLOCK, TREE_LOCK_EXCLUSIVE, false, 0, 0 } },    /* 6 */
                { .type = TREE_CMD_SETXATTR,
                  .xattr = { 3, "user.raftfs.ephemeral", (const uint8_t *) "1", 1, 0 } },       /* 7 */
                { .type = TREE_CMD_SESSION_OPEN, .session_open = { "n2" } },                    /* 8 */
                { .type = TREE_CMD_LOCK, .session = 8, .request = 1,
                  .lock = { 4, 2, 2, TREE_LOCK_FLOCK, TREE_LOCK_SHARED, true, 0, 0 } },        /* 9 */
        };
        for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
                apply_cmd(t, 2 + k, &cmds[k]);
        return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Tree *t = prepare();
        TreeNotices notices = {};
        uint64_t index = 100;
        while (size >= 2) {
                size_t len = (size_t) data[0] | ((size_t) data[1] << 8);
                data += 2;
                size -= 2;
                if (len > size)
                        len = size;
                TreeCmd c;
                if (tree_cmd_decode(data, len, &c) == 0) {
                        Buf b = BUF_INIT;
                        assert(tree_cmd_encode(&c, &b) == 0);
                        assert(b.len == len && memcmp(b.data, data, len) == 0);
                        buf_done(&b);
                        tree_cmd_done(&c);
                }
                TreeResult r;
                assert(tree_apply(t, index++, data, len, &r, &notices) == 0);
                assert(r.err <= 0);
                tree_notices_clear(&notices);
                data += len;
                size -= len;
        }
        Buf s1 = BUF_INIT, s2 = BUF_INIT;
        Tree *u;
        assert(tree_snapshot_write(t, &s1) == 0);
        assert(tree_snapshot_load(s1.data, s1.len, &u) == 0);
        assert(tree_snapshot_write(u, &s2) == 0);
        assert(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
        buf_done(&s1);
        buf_done(&s2);
        tree_free(u);
        tree_free(t);
        tree_notices_done(&notices);
        return 0;
}
