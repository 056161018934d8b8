#include "config.h"
/* test-tree.c — unit tests of tree/: every namespace command with its errno
 * paths, the command codec, dedupe, sessions and ephemeral files, notices,
 * readdir cookies, limits and snapshots. Lock tests are in test-tree-lock.c,
 * the model-based random test in test-tree-model.c. */

#include <check.h>
#include <stdio.h>

#include "tests/unit/test-tree-util.h"

#define ROOT TREE_ROOT_INO

static Ctx C;

static void setup(void) {
        ctx_init(&C, NULL);
}

static void teardown(void) {
        ctx_done(&C);
}

/* ---- root and basic queries ---- */

START_TEST(test_root) {
        TreeAttr a;
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &a), 0);
        ck_assert(S_ISDIR(a.mode));
        ck_assert_uint_eq(a.nlink, 2);
        ck_assert_uint_eq(a.ino, 1);
        ck_assert_uint_eq(a.generation, TREE_GENERATION);
        ck_assert_int_eq(tree_lookup(C.t, ROOT, "..", &a), 0);
        ck_assert_uint_eq(a.ino, ROOT);
        ck_assert_int_eq(tree_lookup(C.t, ROOT, ".", &a), 0);
        ck_assert_int_eq(tree_lookup(C.t, ROOT, "x", &a), -ENOENT);
        ck_assert_int_eq(tree_getattr(C.t, 2, &a), -ENOENT);
        ck_assert_uint_eq(tree_applied_index(C.t), 0);
        ck_assert_uint_eq(tree_next_deadline(C.t), UINT64_MAX);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.inodes, 1);
        ck_assert_uint_eq(s.total_bytes, 0);
        ck_assert_uint_eq(s.max_name_len, 255);
        char *p;
        ck_assert_int_eq(tree_path(C.t, ROOT, &p), 0);
        ck_assert_str_eq(p, "/");
        free(p);
}
END_TEST

/* ---- create ---- */

START_TEST(test_create) {
        C.now = 5000;
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t ino = C.res.ino;
        ck_assert_uint_eq(ino, C.index);
        ck_assert_uint_eq(C.res.attr.mode, S_IFREG | 0644);
        ck_assert_uint_eq(C.res.attr.uid, 1000);
        ck_assert_uint_eq(C.res.attr.gid, 100);
        ck_assert_uint_eq(C.res.attr.nlink, 1);
        ck_assert_uint_eq(C.res.attr.size, 0);
        ck_assert_uint_eq(C.res.attr.mtime_usec, 5000);
        ck_assert_uint_eq(C.res.attr.ctime_usec, 5000);
        ck_assert_uint_eq(ino_of(&C, ROOT, "f"), ino);
        TreeAttr a;
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &a), 0);
        ck_assert_uint_eq(a.size, 1);
        ck_assert_uint_eq(a.mtime_usec, 5000);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_ENTRY_ADDED, &n), 1);
        ck_assert_uint_eq(n->parent, ROOT);
        ck_assert_str_eq(n->name, "f");
        ck_assert_uint_eq(n->ino, ino);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE, &n), 1);
        ck_assert_uint_eq(n->ino, ROOT);
        ck_assert(n->flags & TREE_CHANGE_ENTRIES);

        /* Without EXCL an existing regular file is returned. */
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        ck_assert_uint_eq(C.res.ino, ino);
        ck_assert(C.res.flags & TREE_RESULT_EXISTED);
        ck_assert_uint_eq(C.notices.n, 0);
        ck_assert_int_eq(do_create(&C, ROOT, "f", TREE_CREATE_EXCL), -EEXIST);
        ck_assert_uint_eq(C.res.ino, 0);
}
END_TEST

START_TEST(test_create_errors) {
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "target"), 0);
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        ck_assert_int_eq(do_create(&C, ROOT, "d", 0), -EISDIR);
        ck_assert_int_eq(do_create(&C, ROOT, "l", 0), -EEXIST);
        ck_assert_int_eq(do_create(&C, 999, "x", 0), -ENOENT);
        ck_assert_int_eq(do_create(&C, f, "x", 0), -ENOTDIR);
        ck_assert_int_eq(do_create(&C, ROOT, "", 0), -EINVAL);
        ck_assert_int_eq(do_create(&C, ROOT, ".", 0), -EINVAL);
        ck_assert_int_eq(do_create(&C, ROOT, "..", 0), -EINVAL);
        ck_assert_int_eq(do_create(&C, ROOT, "a/b", 0), -EINVAL);
        ck_assert_int_eq(do_create(&C, ROOT, "x", 0x80), -EINVAL);
        char name[300];
        memset(name, 'a', 256);
        name[256] = 0;
        ck_assert_int_eq(do_create(&C, ROOT, name, 0), -ENAMETOOLONG);
        name[255] = 0;
        ck_assert_int_eq(do_create(&C, ROOT, name, 0), 0);
        TreeAttr a;
        name[255] = 'a';
        ck_assert_int_eq(tree_lookup(C.t, ROOT, name, &a), -ENAMETOOLONG);

        TreeCmd cmd = { .type = TREE_CMD_CREATE,
                        .create = { .parent = ROOT, .name = "dev", .mode = S_IFCHR | 0600 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        cmd.create.mode = S_IFREG | 0600;
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        /* The errno paths changed nothing. */
        check_snapshot_roundtrip(C.t);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.inodes, 6);
}
END_TEST

START_TEST(test_create_index1) {
        /* Index 1 is never a tree command; creating there is refused. */
        Tree *t = tree_new(NULL);
        Buf b = BUF_INIT;
        TreeCmd cmd = { .type = TREE_CMD_CREATE, .create = { .parent = ROOT, .name = "f" } };
        TreeResult r;
        ck_assert_int_eq(tree_cmd_encode(&cmd, &b), 0);
        ck_assert_int_eq(tree_apply(t, 1, b.data, b.len, &r, NULL), 0);
        ck_assert_int_eq(r.err, -EINVAL);
        ck_assert_int_eq(tree_apply(t, 2, b.data, b.len, &r, NULL), 0);
        ck_assert_int_eq(r.err, 0);
        ck_assert_uint_eq(r.ino, 2);
        buf_done(&b);
        tree_free(t);
}
END_TEST

START_TEST(test_inode_limit) {
        ctx_done(&C);
        TreeLimits l = { .max_inodes = 3 };
        ctx_init(&C, &l);
        ck_assert_int_eq(do_create(&C, ROOT, "a", 0), 0);
        ck_assert_int_eq(do_mkdir(&C, ROOT, "b"), 0);
        ck_assert_int_eq(do_create(&C, ROOT, "c", 0), -ENOSPC);
        ck_assert_int_eq(do_mkdir(&C, ROOT, "c"), -ENOSPC);
        ck_assert_int_eq(do_symlink(&C, ROOT, "c", "x"), -ENOSPC);
        ck_assert_int_eq(do_unlink(&C, ROOT, "a"), 0);
        ck_assert_int_eq(do_create(&C, ROOT, "c", 0), 0);
}
END_TEST

/* ---- mkdir, rmdir ---- */

START_TEST(test_mkdir_rmdir) {
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        uint64_t d = C.res.ino;
        ck_assert_uint_eq(C.res.attr.mode, S_IFDIR | 0755);
        ck_assert_uint_eq(C.res.attr.nlink, 2);
        TreeAttr a;
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &a), 0);
        ck_assert_uint_eq(a.nlink, 3);
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), -EEXIST);
        ck_assert_int_eq(do_mkdir(&C, d, "e"), 0);
        ck_assert_int_eq(tree_lookup(C.t, C.res.ino, "..", &a), 0);
        ck_assert_uint_eq(a.ino, d);
        ck_assert_int_eq(do_create(&C, d, "f", 0), 0);
        ck_assert_int_eq(do_rmdir(&C, ROOT, "d"), -ENOTEMPTY);
        ck_assert_int_eq(do_rmdir(&C, d, "f"), -ENOTDIR);
        ck_assert_int_eq(do_rmdir(&C, d, "zz"), -ENOENT);
        ck_assert_int_eq(do_rmdir(&C, 999, "zz"), -ENOENT);
        ck_assert_int_eq(do_rmdir(&C, d, "."), -EINVAL);
        ck_assert_int_eq(do_unlink(&C, d, "f"), 0);
        ck_assert_int_eq(do_rmdir(&C, d, "e"), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, NULL), 1);
        ck_assert_int_eq(do_rmdir(&C, ROOT, "d"), 0);
        ck_assert_int_eq(tree_getattr(C.t, d, &a), -ENOENT);
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &a), 0);
        ck_assert_uint_eq(a.nlink, 2);
        ck_assert_uint_eq(a.size, 0);

        TreeCmd cmd = { .type = TREE_CMD_MKDIR, .create = { .parent = ROOT, .name = "x", .flags = 1 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        cmd.create.flags = 0;
        cmd.create.mode = S_IFREG | 0755;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
}
END_TEST

START_TEST(test_mkdir_mlink) {
        ctx_done(&C);
        TreeLimits l = { .max_links = 4 };
        ctx_init(&C, &l);
        ck_assert_int_eq(do_mkdir(&C, ROOT, "a"), 0);
        ck_assert_int_eq(do_mkdir(&C, ROOT, "b"), 0);
        ck_assert_int_eq(do_mkdir(&C, ROOT, "c"), -EMLINK);
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        ck_assert_int_eq(do_link(&C, f, ROOT, "g"), 0);
        ck_assert_int_eq(do_link(&C, f, ROOT, "h"), 0);
        ck_assert_int_eq(do_link(&C, f, ROOT, "i"), 0);
        ck_assert_int_eq(do_link(&C, f, ROOT, "j"), -EMLINK);
        /* Moving a directory into a full parent. */
        ck_assert_int_eq(do_mkdir(&C, ino_of(&C, ROOT, "a"), "x"), 0);
        ck_assert_int_eq(do_mkdir(&C, ino_of(&C, ROOT, "a"), "y"), 0);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ino_of(&C, ROOT, "a"), "b", 0), -EMLINK);
}
END_TEST

/* ---- symlink ---- */

START_TEST(test_symlink) {
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "../some/where"), 0);
        uint64_t l = C.res.ino;
        ck_assert_uint_eq(C.res.attr.mode, S_IFLNK | 0777);
        ck_assert_uint_eq(C.res.attr.size, 13);
        const char *target;
        ck_assert_int_eq(tree_readlink(C.t, l, &target), 0);
        ck_assert_str_eq(target, "../some/where");
        ck_assert_int_eq(tree_readlink(C.t, ROOT, &target), -EINVAL);
        ck_assert_int_eq(tree_readlink(C.t, 999, &target), -ENOENT);
        ck_assert_int_eq(do_symlink(&C, ROOT, "m", ""), -ENOENT);
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "x"), -EEXIST);
        char big[5000];
        memset(big, 'x', 4096);
        big[4096] = 0;
        ck_assert_int_eq(do_symlink(&C, ROOT, "m", big), -ENAMETOOLONG);
        const uint8_t *d;
        size_t n;
        ck_assert_int_eq(tree_read(C.t, l, 0, 10, &d, &n), -EINVAL);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.total_bytes, 13);
        ck_assert_int_eq(do_unlink(&C, ROOT, "l"), 0);
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.total_bytes, 0);
}
END_TEST

/* ---- link, unlink ---- */

START_TEST(test_link_unlink) {
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        uint64_t d = C.res.ino;
        ck_assert_int_eq(do_create(&C, d, "f", 0), 0);
        uint64_t f = C.res.ino;
        ck_assert_int_eq(do_write(&C, f, 0, "hello"), 0);
        ck_assert_int_eq(do_link(&C, f, ROOT, "g"), 0);
        ck_assert_uint_eq(C.res.ino, f);
        ck_assert_uint_eq(C.res.attr.nlink, 2);
        ck_assert_int_eq(do_link(&C, f, ROOT, "g"), -EEXIST);
        ck_assert_int_eq(do_link(&C, d, ROOT, "dd"), -EPERM);
        ck_assert_int_eq(do_link(&C, 999, ROOT, "x"), -ENOENT);
        ck_assert_int_eq(do_link(&C, f, 999, "x"), -ENOENT);
        ck_assert_int_eq(do_link(&C, f, f, "x"), -ENOTDIR);
        ck_assert_int_eq(do_link(&C, f, ROOT, ".."), -EINVAL);
        char *p;
        ck_assert_int_eq(tree_path(C.t, f, &p), 0);
        ck_assert_str_eq(p, "/d/f");
        free(p);
        ck_assert_int_eq(do_unlink(&C, d, "f"), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, NULL), 0);
        ck_assert_int_eq(tree_path(C.t, f, &p), 0);
        ck_assert_str_eq(p, "/g");
        free(p);
        TreeAttr a;
        ck_assert_int_eq(tree_getattr(C.t, f, &a), 0);
        ck_assert_uint_eq(a.nlink, 1);
        ck_assert_uint_eq(a.size, 5);
        ck_assert_int_eq(do_unlink(&C, d, "f"), -ENOENT);
        ck_assert_int_eq(do_unlink(&C, ROOT, "d"), -EISDIR);
        ck_assert_int_eq(do_unlink(&C, f, "x"), -ENOTDIR);
        ck_assert_int_eq(do_unlink(&C, ROOT, "g"), 0);
        const TreeNotice *n = NULL;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, &n), 1);
        ck_assert_uint_eq(n->ino, f);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_ENTRY_REMOVED, &n), 1);
        ck_assert_str_eq(n->name, "g");
        ck_assert_int_eq(tree_getattr(C.t, f, &a), -ENOENT);
        ck_assert_int_eq(tree_path(C.t, f, &p), -ENOENT);
        /* An unlinked inode cannot be linked again. */
        ck_assert_int_eq(do_link(&C, f, ROOT, "again"), -ENOENT);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.total_bytes, 0);
        ck_assert_uint_eq(s.inodes, 2);
}
END_TEST

/* ---- rename ---- */

START_TEST(test_rename_plain) {
        ck_assert_int_eq(do_create(&C, ROOT, "a", 0), 0);
        uint64_t a = C.res.ino;
        ck_assert_int_eq(do_create(&C, ROOT, "b", 0), 0);
        uint64_t b = C.res.ino;
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        uint64_t d = C.res.ino;
        C.now = 7777;
        ck_assert_int_eq(do_rename(&C, ROOT, "a", d, "a2", 0), 0);
        ck_assert_uint_eq(ino_of(&C, d, "a2"), a);
        ck_assert_uint_eq(ino_of(&C, ROOT, "a"), 0);
        TreeAttr at;
        ck_assert_int_eq(tree_getattr(C.t, a, &at), 0);
        ck_assert_uint_eq(at.ctime_usec, 7777);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_ENTRY_REMOVED, NULL), 1);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_ENTRY_ADDED, NULL), 1);
        /* Replace a file by a file: the old target goes away. */
        ck_assert_int_eq(do_rename(&C, d, "a2", ROOT, "b", 0), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "b"), a);
        ck_assert_int_eq(tree_getattr(C.t, b, &at), -ENOENT);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, NULL), 1);
        /* Same name, and two names of one inode: nothing happens. */
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ROOT, "b", 0), 0);
        ck_assert_uint_eq(C.notices.n, 0);
        ck_assert_int_eq(do_link(&C, a, ROOT, "c"), 0);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ROOT, "c", 0), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "b"), a);
        ck_assert_uint_eq(ino_of(&C, ROOT, "c"), a);
        /* Errors. */
        ck_assert_int_eq(do_rename(&C, ROOT, "nope", ROOT, "x", 0), -ENOENT);
        ck_assert_int_eq(do_rename(&C, 999, "b", ROOT, "x", 0), -ENOENT);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", 999, "x", 0), -ENOENT);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", a, "x", 0), -ENOTDIR);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ROOT, "", 0), -EINVAL);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ROOT, "x", 4), -EINVAL);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ROOT, "x", TREE_RENAME_EXCHANGE | TREE_RENAME_NOREPLACE),
                         -EINVAL);
        ck_assert_int_eq(do_rename(&C, ROOT, "b", ROOT, "d", 0), -EISDIR);
        ck_assert_int_eq(do_rename(&C, ROOT, "d", ROOT, "b", 0), -ENOTDIR);
        check_snapshot_roundtrip(C.t);
}
END_TEST

START_TEST(test_rename_dirs) {
        ck_assert_int_eq(do_mkdir(&C, ROOT, "a"), 0);
        uint64_t a = C.res.ino;
        ck_assert_int_eq(do_mkdir(&C, a, "b"), 0);
        uint64_t b = C.res.ino;
        ck_assert_int_eq(do_mkdir(&C, ROOT, "e"), 0);
        uint64_t e = C.res.ino;
        ck_assert_int_eq(do_mkdir(&C, ROOT, "full"), 0);
        ck_assert_int_eq(do_create(&C, C.res.ino, "x", 0), 0);
        /* Into its own subtree. */
        ck_assert_int_eq(do_rename(&C, ROOT, "a", b, "a", 0), -EINVAL);
        ck_assert_int_eq(do_rename(&C, ROOT, "a", a, "z", 0), -EINVAL);
        /* Over a non-empty directory. */
        ck_assert_int_eq(do_rename(&C, ROOT, "a", ROOT, "full", 0), -ENOTEMPTY);
        /* Over an empty directory. */
        ck_assert_int_eq(do_rename(&C, ROOT, "a", ROOT, "e", 0), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "e"), a);
        TreeAttr at;
        ck_assert_int_eq(tree_getattr(C.t, e, &at), -ENOENT);
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &at), 0);
        ck_assert_uint_eq(at.nlink, 4);  /* e(=a), full */
        /* Move a directory to another parent: link counts follow. */
        ck_assert_int_eq(do_rename(&C, a, "b", ROOT, "b", 0), 0);
        ck_assert_int_eq(tree_getattr(C.t, a, &at), 0);
        ck_assert_uint_eq(at.nlink, 2);
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &at), 0);
        ck_assert_uint_eq(at.nlink, 5);
        ck_assert_int_eq(tree_lookup(C.t, b, "..", &at), 0);
        ck_assert_uint_eq(at.ino, ROOT);
        char *p;
        ck_assert_int_eq(tree_path(C.t, b, &p), 0);
        ck_assert_str_eq(p, "/b");
        free(p);
        check_snapshot_roundtrip(C.t);
}
END_TEST

START_TEST(test_rename_flags) {
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        uint64_t d = C.res.ino;
        ck_assert_int_eq(do_create(&C, d, "g", 0), 0);
        uint64_t g = C.res.ino;
        ck_assert_int_eq(do_rename(&C, ROOT, "f", d, "g", TREE_RENAME_NOREPLACE), -EEXIST);
        ck_assert_int_eq(do_rename(&C, ROOT, "f", d, "h", TREE_RENAME_NOREPLACE), 0);
        ck_assert_int_eq(do_rename(&C, d, "h", ROOT, "f", TREE_RENAME_NOREPLACE), 0);
        ck_assert_int_eq(do_rename(&C, ROOT, "f", d, "zz", TREE_RENAME_EXCHANGE), -ENOENT);
        /* Exchange a file and a directory across parents. */
        ck_assert_int_eq(do_mkdir(&C, ROOT, "x"), 0);
        uint64_t x = C.res.ino;
        ck_assert_int_eq(do_rename(&C, d, "g", ROOT, "x", TREE_RENAME_EXCHANGE), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "x"), g);
        ck_assert_uint_eq(ino_of(&C, d, "g"), x);
        TreeAttr at;
        ck_assert_int_eq(tree_getattr(C.t, d, &at), 0);
        ck_assert_uint_eq(at.nlink, 3);
        ck_assert_int_eq(tree_getattr(C.t, ROOT, &at), 0);
        ck_assert_uint_eq(at.nlink, 3);  /* d only */
        ck_assert_int_eq(tree_lookup(C.t, x, "..", &at), 0);
        ck_assert_uint_eq(at.ino, d);
        /* Exchanging a directory with its ancestor. */
        ck_assert_int_eq(do_rename(&C, ROOT, "d", d, "g", TREE_RENAME_EXCHANGE), -EINVAL);
        ck_assert_int_eq(do_rename(&C, d, "g", ROOT, "d", TREE_RENAME_EXCHANGE), -EINVAL);
        ck_assert_int_eq(do_rename(&C, ROOT, "f", ROOT, "x", TREE_RENAME_EXCHANGE), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "f"), g);
        ck_assert_uint_eq(ino_of(&C, ROOT, "x"), f);
        check_snapshot_roundtrip(C.t);
}
END_TEST

/* ---- setattr ---- */

START_TEST(test_setattr) {
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        C.now = 9000;
        TreeCmd cmd = { .type = TREE_CMD_SETATTR,
                        .setattr = { .ino = f, .valid = TREE_SETATTR_MODE | TREE_SETATTR_UID | TREE_SETATTR_GID,
                                     .mode = S_IFDIR | 04711, .uid = 7, .gid = 8 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.mode, S_IFREG | 04711);
        ck_assert_uint_eq(C.res.attr.uid, 7);
        ck_assert_uint_eq(C.res.attr.gid, 8);
        ck_assert_uint_eq(C.res.attr.ctime_usec, 9000);
        ck_assert_uint_eq(C.res.attr.mtime_usec, 1000000);
        cmd = (TreeCmd) { .type = TREE_CMD_SETATTR,
                          .setattr = { .ino = f, .valid = TREE_SETATTR_MTIME | TREE_SETATTR_CTIME,
                                       .mtime_usec = 42, .ctime_usec = 43 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.mtime_usec, 42);
        ck_assert_uint_eq(C.res.attr.ctime_usec, 43);
        cmd.setattr.valid = TREE_SETATTR_MTIME | TREE_SETATTR_MTIME_NOW;
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.mtime_usec, 9000);
        /* Size: grow with zeros, shrink. */
        ck_assert_int_eq(do_write(&C, f, 0, "abc"), 0);
        ck_assert_int_eq(do_truncate(&C, f, 6), 0);
        const uint8_t *d;
        size_t n;
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert_uint_eq(n, 6);
        ck_assert(memcmp(d, "abc\0\0\0", 6) == 0);
        ck_assert_int_eq(do_truncate(&C, f, 2), 0);
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert(memcmp(d, "ab", 2) == 0);
        ck_assert_int_eq(do_truncate(&C, f, 0), 0);
        ck_assert_int_eq(do_truncate(&C, f, (1 << 20) + 1), -EFBIG);
        ck_assert_int_eq(do_truncate(&C, f, 1 << 20), 0);
        ck_assert_int_eq(do_truncate(&C, ROOT, 0), -EISDIR);
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "f"), 0);
        ck_assert_int_eq(do_truncate(&C, C.res.ino, 0), -EINVAL);
        ck_assert_int_eq(do_truncate(&C, 999, 0), -ENOENT);
        cmd = (TreeCmd) { .type = TREE_CMD_SETATTR, .setattr = { .ino = f, .valid = 0x100 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        /* Mode of the root. */
        cmd = (TreeCmd) { .type = TREE_CMD_SETATTR,
                          .setattr = { .ino = ROOT, .valid = TREE_SETATTR_MODE, .mode = 0700 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.mode, S_IFDIR | 0700);
}
END_TEST

START_TEST(test_total_bytes_limit) {
        ctx_done(&C);
        TreeLimits l = { .max_total_bytes = 10 };
        ctx_init(&C, &l);
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        ck_assert_int_eq(do_write(&C, f, 0, "0123456789"), 0);
        ck_assert_int_eq(do_create(&C, ROOT, "g", 0), 0);
        uint64_t g = C.res.ino;
        ck_assert_int_eq(do_write(&C, g, 0, "x"), -ENOSPC);
        ck_assert_int_eq(do_truncate(&C, g, 1), -ENOSPC);
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "x"), -ENOSPC);
        ck_assert_int_eq(do_setxattr(&C, g, "user.a", "", 0), -ENOSPC);
        /* Rewriting within the same size is fine. */
        ck_assert_int_eq(do_write(&C, f, 0, "abc"), 0);
        ck_assert_int_eq(do_truncate(&C, f, 5), 0);
        ck_assert_int_eq(do_write(&C, g, 0, "12345"), 0);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.total_bytes, 10);
        ck_assert_uint_eq(s.max_total_bytes, 10);
}
END_TEST

/* ---- write ---- */

START_TEST(test_write) {
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        C.now = 123;
        TreeExtent e[3] = {
                { 0, (const uint8_t *) "hello", 5 },
                { 8, (const uint8_t *) "world", 5 },
                { TREE_WRITE_APPEND, (const uint8_t *) "!", 1 },
        };
        TreeCmd cmd = { .type = TREE_CMD_WRITE, .write = { .ino = f, .extents = e, .n_extents = 3 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.size, 14);
        ck_assert_uint_eq(C.res.attr.mtime_usec, 123);
        const uint8_t *d;
        size_t n;
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert_uint_eq(n, 14);
        ck_assert(memcmp(d, "hello\0\0\0world!", 14) == 0);
        ck_assert_int_eq(tree_read(C.t, f, 8, 3, &d, &n), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert(memcmp(d, "wor", 3) == 0);
        ck_assert_int_eq(tree_read(C.t, f, 100, 3, &d, &n), 0);
        ck_assert_uint_eq(n, 0);
        const TreeNotice *no;
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE, &no), 1);
        ck_assert_uint_eq(no->flags, TREE_CHANGE_DATA | TREE_CHANGE_ATTR);

        /* O_TRUNC handle: truncate first, then data, then a final size. */
        TreeExtent e2 = { 0, (const uint8_t *) "xy", 2 };
        cmd = (TreeCmd) { .type = TREE_CMD_WRITE,
                          .write = { .ino = f, .flags = TREE_WRITE_TRUNCATE | TREE_WRITE_SET_SIZE,
                                     .truncate_size = 0, .final_size = 4, .extents = &e2, .n_extents = 1 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert_uint_eq(n, 4);
        ck_assert(memcmp(d, "xy\0\0", 4) == 0);
        /* Truncate to a larger size then write beyond: zeros, not old bytes. */
        cmd.write.flags = TREE_WRITE_TRUNCATE;
        cmd.write.truncate_size = 1;
        e2.offset = 3;
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert_uint_eq(n, 5);
        ck_assert(memcmp(d, "x\0\0xy", 5) == 0);
        /* Empty write: only times. */
        cmd = (TreeCmd) { .type = TREE_CMD_WRITE, .write = { .ino = f } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.size, 5);
        /* Errors change nothing (atomic). */
        TreeExtent big[2] = { { 0, (const uint8_t *) "AAAA", 4 }, { 1 << 20, (const uint8_t *) "B", 1 } };
        cmd = (TreeCmd) { .type = TREE_CMD_WRITE, .write = { .ino = f, .extents = big, .n_extents = 2 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EFBIG);
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert(memcmp(d, "x\0\0xy", 5) == 0);
        big[1].offset = UINT64_MAX - 1;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EFBIG);
        cmd.write.n_extents = 1;
        cmd.write.flags = TREE_WRITE_SET_SIZE;
        cmd.write.final_size = (1 << 20) + 1;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EFBIG);
        cmd.write.flags = TREE_WRITE_TRUNCATE;
        cmd.write.truncate_size = (1 << 20) + 1;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EFBIG);
        cmd.write.flags = 4;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        ck_assert_int_eq(tree_read(C.t, f, 0, 100, &d, &n), 0);
        ck_assert_uint_eq(n, 5);
        ck_assert_int_eq(do_write(&C, ROOT, 0, "x"), -EISDIR);
        ck_assert_int_eq(do_write(&C, 999, 0, "x"), -ENOENT);
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "f"), 0);
        ck_assert_int_eq(do_write(&C, C.res.ino, 0, "x"), -EINVAL);
        ck_assert_int_eq(tree_read(C.t, ROOT, 0, 1, &d, &n), -EISDIR);
        ck_assert_int_eq(tree_read(C.t, 999, 0, 1, &d, &n), -ENOENT);
        /* Exactly the maximum. */
        cmd = (TreeCmd) { .type = TREE_CMD_WRITE,
                          .write = { .ino = f, .flags = TREE_WRITE_SET_SIZE, .final_size = 1 << 20 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.attr.size, 1 << 20);
        check_snapshot_roundtrip(C.t);
}
END_TEST

/* ---- xattrs ---- */

START_TEST(test_xattr) {
        ck_assert_int_eq(do_create(&C, ROOT, "f", 0), 0);
        uint64_t f = C.res.ino;
        Buf b = BUF_INIT;
        ck_assert_int_eq(do_setxattr(&C, f, "user.b", "2", 0), 0);
        ck_assert_int_eq(do_setxattr(&C, f, "user.a", "1", 0), 0);
        ck_assert_int_eq(do_setxattr(&C, f, "user.empty", "", 0), 0);
        ck_assert_int_eq(tree_listxattr(C.t, f, &b), 0);
        ck_assert_uint_eq(b.len, 7 + 7 + 11);
        ck_assert(memcmp(b.data, "user.a\0user.b\0user.empty\0", b.len) == 0);
        buf_clear(&b);
        ck_assert_int_eq(tree_getxattr(C.t, f, "user.b", &b), 0);
        ck_assert_uint_eq(b.len, 1);
        ck_assert_int_eq(b.data[0], '2');
        buf_clear(&b);
        ck_assert_int_eq(tree_getxattr(C.t, f, "user.empty", &b), 0);
        ck_assert_uint_eq(b.len, 0);
        ck_assert_int_eq(tree_getxattr(C.t, f, "user.zz", &b), -ENODATA);
        ck_assert_int_eq(tree_getxattr(C.t, f, "trusted.a", &b), -EOPNOTSUPP);
        ck_assert_int_eq(tree_getxattr(C.t, 999, "user.a", &b), -ENOENT);
        /* The virtual lock attribute: readable (empty), not settable, not listed. */
        ck_assert_int_eq(tree_getxattr(C.t, f, "user.raftfs.lock", &b), 0);
        ck_assert_uint_eq(b.len, 0);
        ck_assert_int_eq(do_setxattr(&C, f, "user.raftfs.lock", "x", 0), -EPERM);
        ck_assert_int_eq(do_removexattr(&C, f, "user.raftfs.lock"), -EPERM);
        ck_assert_int_eq(do_setxattr(&C, f, "user.a", "x", TREE_XATTR_CREATE), -EEXIST);
        ck_assert_int_eq(do_setxattr(&C, f, "user.c", "x", TREE_XATTR_REPLACE), -ENODATA);
        ck_assert_int_eq(do_setxattr(&C, f, "user.a", "new", TREE_XATTR_REPLACE), 0);
        ck_assert_int_eq(do_setxattr(&C, f, "user.a", "x", 3), -EINVAL);
        ck_assert_int_eq(do_setxattr(&C, f, "security.a", "x", 0), -EOPNOTSUPP);
        ck_assert_int_eq(do_setxattr(&C, f, "user.", "x", 0), -EINVAL);
        ck_assert_int_eq(do_setxattr(&C, 999, "user.a", "x", 0), -ENOENT);
        char name[300] = "user.";
        memset(name + 5, 'n', 251);
        name[256] = 0;
        ck_assert_int_eq(do_setxattr(&C, f, name, "x", 0), -ERANGE);
        char *big = calloc(1, 70000);
        memset(big, 'v', 65537);
        ck_assert_int_eq(do_setxattr(&C, f, "user.big", big, 0), -E2BIG);
        big[65536] = 0;
        ck_assert_int_eq(do_setxattr(&C, f, "user.big", big, 0), -ENOSPC);  /* per-inode 64 KiB */
        big[60000] = 0;
        ck_assert_int_eq(do_setxattr(&C, f, "user.big", big, 0), 0);
        free(big);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.total_bytes, 6 + 3 + 6 + 1 + 10 + 8 + 60000);
        ck_assert_int_eq(do_removexattr(&C, f, "user.big"), 0);
        ck_assert_int_eq(do_removexattr(&C, f, "user.big"), -ENODATA);
        ck_assert_int_eq(do_removexattr(&C, f, "other.big"), -EOPNOTSUPP);
        ck_assert_int_eq(do_removexattr(&C, 999, "user.a"), -ENOENT);
        TreeCmd cmd = { .type = TREE_CMD_REMOVEXATTR, .xattr = { .ino = f, .name = "user.a", .flags = 1 } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        check_snapshot_roundtrip(C.t);
        ck_assert_int_eq(do_removexattr(&C, f, "user.a"), 0);
        ck_assert_int_eq(do_removexattr(&C, f, "user.b"), 0);
        ck_assert_int_eq(do_removexattr(&C, f, "user.empty"), 0);
        buf_clear(&b);
        ck_assert_int_eq(tree_listxattr(C.t, f, &b), 0);
        ck_assert_uint_eq(b.len, 0);
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.total_bytes, 0);
        buf_done(&b);
}
END_TEST

/* ---- readdir ---- */

typedef struct Listing {
        char names[64][32];
        uint64_t cookies[64];
        int n;
        int stop_after;
} Listing;

static int list_cb(void *userdata, const char *name, const TreeAttr *attr, uint64_t next_cookie) {
        Listing *l = userdata;
        if (l->stop_after && l->n >= l->stop_after)
                return 1;
        snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
        l->cookies[l->n++] = next_cookie;
        return 0;
}

static int fail_cb(void *userdata, const char *name, const TreeAttr *attr, uint64_t next_cookie) {
        return -EIO;
}

START_TEST(test_readdir) {
        ck_assert_int_eq(do_mkdir(&C, ROOT, "d"), 0);
        uint64_t d = C.res.ino;
        for (int k = 0; k < 10; k++) {
                char n[8];
                snprintf(n, sizeof n, "f%d", k);
                ck_assert_int_eq(do_create(&C, d, n, 0), 0);
        }
        Listing l = { .stop_after = 5 };
        ck_assert_int_eq(tree_readdir(C.t, d, 0, list_cb, &l), 0);
        ck_assert_int_eq(l.n, 5);
        ck_assert_str_eq(l.names[0], ".");
        ck_assert_str_eq(l.names[1], "..");
        ck_assert_str_eq(l.names[2], "f0");
        ck_assert_str_eq(l.names[4], "f2");
        uint64_t resume = l.cookies[4];
        /* Concurrent changes: delete f2 (already seen) and f3, rename f4, add g. */
        ck_assert_int_eq(do_unlink(&C, d, "f2"), 0);
        ck_assert_int_eq(do_unlink(&C, d, "f3"), 0);
        ck_assert_int_eq(do_rename(&C, d, "f4", d, "f4b", 0), 0);
        ck_assert_int_eq(do_create(&C, d, "g", 0), 0);
        Listing m = {};
        ck_assert_int_eq(tree_readdir(C.t, d, resume, list_cb, &m), 0);
        ck_assert_int_eq(m.n, 7);
        ck_assert_str_eq(m.names[0], "f5");
        ck_assert_str_eq(m.names[4], "f9");
        ck_assert_str_eq(m.names[5], "f4b");
        ck_assert_str_eq(m.names[6], "g");
        for (int k = 1; k < m.n; k++)
                ck_assert_uint_gt(m.cookies[k], m.cookies[k - 1]);
        /* Resuming from a cookie of a deleted entry works too. */
        Listing o = {};
        ck_assert_int_eq(tree_readdir(C.t, d, l.cookies[3], list_cb, &o), 0);
        ck_assert_str_eq(o.names[0], "f5");
        Listing p = {};
        ck_assert_int_eq(tree_readdir(C.t, d, 1, list_cb, &p), 0);
        ck_assert_str_eq(p.names[0], "..");
        ck_assert_int_eq(tree_readdir(C.t, d, 0, fail_cb, NULL), -EIO);
        ck_assert_int_eq(tree_readdir(C.t, 999, 0, list_cb, &p), -ENOENT);
        ck_assert_int_eq(tree_readdir(C.t, C.res.ino, 0, list_cb, &p), -ENOTDIR);
        /* Many deletes trigger compaction; order and cookies stay. */
        for (int k = 0; k < 40; k++) {
                char n[8];
                snprintf(n, sizeof n, "h%d", k);
                ck_assert_int_eq(do_create(&C, d, n, 0), 0);
        }
        for (int k = 0; k < 40; k += 2) {
                char n[8];
                snprintf(n, sizeof n, "h%d", k);
                ck_assert_int_eq(do_unlink(&C, d, n), 0);
        }
        Listing q = {};
        ck_assert_int_eq(tree_readdir(C.t, d, m.cookies[6], list_cb, &q), 0);
        ck_assert_int_eq(q.n, 20);
        ck_assert_str_eq(q.names[0], "h1");
        ck_assert_str_eq(q.names[19], "h39");
        check_snapshot_roundtrip(C.t);
}
END_TEST

/* ---- codec ---- */

static void roundtrip(const TreeCmd *c) {
        Buf a = BUF_INIT, b = BUF_INIT;
        TreeCmd d;
        ck_assert_int_eq(tree_cmd_encode(c, &a), 0);
        ck_assert_int_eq(tree_cmd_decode(a.data, a.len, &d), 0);
        ck_assert_int_eq(tree_cmd_encode(&d, &b), 0);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert(memcmp(a.data, b.data, a.len) == 0);
        ck_assert_uint_eq(d.type, c->type);
        ck_assert_uint_eq(d.session, c->session);
        ck_assert_uint_eq(d.time_usec, c->time_usec);
        /* Every truncation is rejected; so is a trailing byte. */
        for (size_t k = 0; k < a.len; k++) {
                TreeCmd e;
                ck_assert_int_eq(tree_cmd_decode(a.data, k, &e), -EBADMSG);
        }
        ck_assert_int_eq(buf_append(&a, "", 1), 0);
        TreeCmd e;
        ck_assert_int_eq(tree_cmd_decode(a.data, a.len, &e), -EBADMSG);
        tree_cmd_done(&d);
        buf_done(&a);
        buf_done(&b);
}

START_TEST(test_codec) {
        TreeExtent ext[2] = { { 5, (const uint8_t *) "abc", 3 }, { TREE_WRITE_APPEND, NULL, 0 } };
        TreeCmd cmds[] = {
                { .type = TREE_CMD_CREATE, .session = 3, .request = 4, .ack = 2, .time_usec = 99,
                  .create = { 1, "n", 0644, 1, 2, 1 } },
                { .type = TREE_CMD_MKDIR, .create = { 1, "d", 0755, 0, 0, 0 } },
                { .type = TREE_CMD_SYMLINK, .symlink = { 1, "l", "t", 5, 6 } },
                { .type = TREE_CMD_LINK, .link = { 7, 1, "x" } },
                { .type = TREE_CMD_UNLINK, .unlink = { 1, "x" } },
                { .type = TREE_CMD_RMDIR, .unlink = { 1, "x" } },
                { .type = TREE_CMD_RENAME, .rename = { 1, "a", 2, "b", 2 } },
                { .type = TREE_CMD_SETATTR, .setattr = { 9, 0x7f, 1, 2, 3, 4, 5, 6 } },
                { .type = TREE_CMD_WRITE, .write = { 9, 3, 1, 2, ext, 2 } },
                { .type = TREE_CMD_SETXATTR, .xattr = { 9, "user.a", (const uint8_t *) "v", 1, 1 } },
                { .type = TREE_CMD_REMOVEXATTR, .xattr = { 9, "user.a", NULL, 0, 0 } },
                { .type = TREE_CMD_SESSION_OPEN, .session_open = { "n1" } },
                { .type = TREE_CMD_SESSION_EXPIRE, .session_expire = { 5, 100, 1 } },
                { .type = TREE_CMD_TICK },
                { .type = TREE_CMD_SET_LIMITS, .set_limits = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 } } },
                { .type = TREE_CMD_LOCK, .lock = { 9, 77, 123, 2, 2, true, 10, 20 } },
                { .type = TREE_CMD_LOCK_CANCEL, .lock_cancel = { 9, 3 } },
                { .type = TREE_CMD_LOCK_RELEASE, .lock_release = { 9, 77, 7 } },
        };
        for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
                roundtrip(&cmds[k]);
        for (int k = 0; k <= _TREE_CMD_MAX; k++)
                ck_assert_ptr_nonnull(tree_cmd_type_to_string(k));
        ck_assert_str_eq(tree_cmd_type_to_string(TREE_CMD_RENAME), "rename");
        ck_assert_str_eq(tree_cmd_type_to_string(99), "unknown");
        /* Unencodable commands. */
        Buf b = BUF_INIT;
        TreeCmd bad = { .type = 99 };
        ck_assert_int_eq(tree_cmd_encode(&bad, &b), -EINVAL);
        bad = (TreeCmd) { .type = TREE_CMD_UNLINK, .unlink = { 1, NULL } };
        ck_assert_int_eq(tree_cmd_encode(&bad, &b), -EINVAL);
        bad = (TreeCmd) { .type = TREE_CMD_WRITE, .write = { .n_extents = 1 } };
        ck_assert_int_eq(tree_cmd_encode(&bad, &b), -EINVAL);
        ck_assert_uint_eq(b.len, 0);
        buf_done(&b);
        tree_cmd_done(NULL);
}
END_TEST

START_TEST(test_malformed) {
        TreeResult r;
        TreeNotices n = {};
        uint8_t junk[40] = { 1, 200 };
        ck_assert_int_eq(tree_apply(C.t, 5, junk, sizeof junk, &r, &n), 0);
        ck_assert_int_eq(r.err, -EBADMSG);
        ck_assert_uint_eq(tree_applied_index(C.t), 5);
        ck_assert_int_eq(tree_apply(C.t, 6, NULL, 0, &r, &n), 0);
        ck_assert_int_eq(r.err, -EBADMSG);
        /* Wrong version. */
        Buf b = BUF_INIT;
        TreeCmd cmd = { .type = TREE_CMD_TICK };
        ck_assert_int_eq(tree_cmd_encode(&cmd, &b), 0);
        b.data[0] = 2;
        ck_assert_int_eq(tree_apply(C.t, 7, b.data, b.len, &r, NULL), 0);
        ck_assert_int_eq(r.err, -EBADMSG);
        /* A bool that is not 0/1. */
        buf_clear(&b);
        cmd = (TreeCmd) { .type = TREE_CMD_LOCK, .lock = { .ino = 1 } };
        ck_assert_int_eq(tree_cmd_encode(&cmd, &b), 0);
        b.data[b.len - 17] = 2;
        TreeCmd d;
        ck_assert_int_eq(tree_cmd_decode(b.data, b.len, &d), -EBADMSG);
        /* A NUL inside a name. */
        buf_clear(&b);
        cmd = (TreeCmd) { .type = TREE_CMD_UNLINK, .unlink = { 1, "ab" } };
        ck_assert_int_eq(tree_cmd_encode(&cmd, &b), 0);
        b.data[b.len - 1] = 0;
        ck_assert_int_eq(tree_cmd_decode(b.data, b.len, &d), -EBADMSG);
        ck_assert_uint_eq(n.n, 0);
        buf_done(&b);
        tree_notices_done(&n);
        tree_notices_done(NULL);
}
END_TEST

/* ---- dedupe ---- */

START_TEST(test_dedupe) {
        uint64_t s = do_session_open(&C, "n1");
        TreeCmd cmd = { .type = TREE_CMD_CREATE, .session = s, .request = 1, .ack = 1,
                        .create = { .parent = ROOT, .name = "f", .flags = TREE_CREATE_EXCL } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        uint64_t f = C.res.ino;
        /* The retry is answered from the table: same inode, no -EEXIST. */
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.ino, f);
        ck_assert(C.res.flags & TREE_RESULT_DUPLICATE);
        ck_assert_uint_eq(C.res.attr.ino, f);
        ck_assert_uint_eq(C.notices.n, 0);
        /* Errors are remembered too. */
        cmd.request = 2;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EEXIST);
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EEXIST);
        ck_assert(C.res.flags & TREE_RESULT_DUPLICATE);
        /* Out-of-order requests are fine. */
        TreeCmd u = { .type = TREE_CMD_UNLINK, .session = s, .request = 5, .ack = 1,
                      .unlink = { ROOT, "f" } };
        ck_assert_int_eq(ctx_apply(&C, &u), 0);
        cmd.request = 4;
        cmd.create.name = "g";
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_int_eq(ctx_apply(&C, &u), 0);
        ck_assert(C.res.flags & TREE_RESULT_DUPLICATE);
        /* ack forgets: a retry below it is -EALREADY. */
        cmd.request = 6;
        cmd.ack = 5;
        cmd.create.name = "h";
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        cmd.request = 4;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EALREADY);
        ck_assert(C.res.flags & TREE_RESULT_DUPLICATE);
        /* Unknown session. */
        cmd.session = 12345;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -ENOLINK);
        /* Results of removed inodes come back without attributes. */
        TreeCmd un = { .type = TREE_CMD_UNLINK, .session = s, .request = 7, .ack = 5,
                       .unlink = { ROOT, "h" } };
        ck_assert_int_eq(ctx_apply(&C, &un), 0);
        cmd.session = s;
        cmd.request = 6;
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert(C.res.flags & TREE_RESULT_DUPLICATE);
        ck_assert_uint_ne(C.res.ino, 0);
        ck_assert_uint_eq(C.res.attr.ino, 0);
        check_snapshot_roundtrip(C.t);
}
END_TEST

START_TEST(test_dedupe_window) {
        ctx_done(&C);
        TreeLimits l = { .max_session_results = 4 };
        ctx_init(&C, &l);
        uint64_t s = do_session_open(&C, "n1");
        for (uint64_t k = 1; k <= 10; k++) {
                TreeCmd cmd = { .type = TREE_CMD_TICK, .session = s, .request = k };
                ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
                ck_assert_uint_eq(C.res.flags, 0);
        }
        TreeCmd cmd = { .type = TREE_CMD_TICK, .session = s, .request = 10 };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.flags, TREE_RESULT_DUPLICATE);
        cmd.request = 7;
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        ck_assert_uint_eq(C.res.flags, TREE_RESULT_DUPLICATE);
        cmd.request = 6;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EALREADY);
        check_snapshot_roundtrip(C.t);
}
END_TEST

/* ---- sessions and ephemeral files ---- */

static int count_cb(void *userdata, const TreeSessionInfo *info) {
        (*(int *) userdata)++;
        return 0;
}

START_TEST(test_sessions) {
        uint64_t s1 = do_session_open(&C, "n1");
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_SESSION_OPENED, NULL), 1);
        uint64_t s2 = do_session_open(&C, "n2");
        ck_assert_uint_eq(tree_session_find(C.t, "n1"), s1);
        ck_assert_uint_eq(tree_session_find(C.t, "n2"), s2);
        ck_assert_uint_eq(tree_session_find(C.t, "n3"), 0);
        TreeSessionInfo info;
        ck_assert_int_eq(tree_session_get(C.t, s2, &info), 0);
        ck_assert_str_eq(info.node, "n2");
        ck_assert_uint_eq(info.opened_usec, C.now);
        ck_assert_int_eq(tree_session_get(C.t, 999, &info), -ENOENT);
        /* A restarted node replaces its session. */
        uint64_t s1b = do_session_open(&C, "n1");
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_SESSION_EXPIRED, NULL), 1);
        ck_assert_uint_eq(tree_session_find(C.t, "n1"), s1b);
        ck_assert_int_eq(tree_session_get(C.t, s1, &info), -ENOENT);
        int n = 0;
        ck_assert_int_eq(tree_session_foreach(C.t, count_cb, &n), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(do_session_expire(&C, s2, 0, 0), 0);
        ck_assert_int_eq(do_session_expire(&C, s2, 0, 0), -ENOENT);
        ck_assert_int_eq(do_session_expire(&C, s1b, 0, 8), -EINVAL);
        TreeCmd cmd = { .type = TREE_CMD_SESSION_OPEN, .session_open = { "" } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        char longname[80];
        memset(longname, 'x', 65);
        longname[65] = 0;
        cmd.session_open.node = longname;
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EINVAL);
        /* A session closing itself. */
        TreeCmd close = { .type = TREE_CMD_SESSION_EXPIRE, .session = s1b, .request = 1,
                          .session_expire = { s1b, 0, TREE_EXPIRE_GRACEFUL } };
        ck_assert_int_eq(ctx_apply(&C, &close), 0);
        ck_assert_uint_eq(tree_session_find(C.t, "n1"), 0);
        TreeStatfs s;
        tree_statfs(C.t, &s);
        ck_assert_uint_eq(s.sessions, 0);
}
END_TEST

START_TEST(test_session_limit) {
        ctx_done(&C);
        TreeLimits l = { .max_sessions = 2 };
        ctx_init(&C, &l);
        do_session_open(&C, "a");
        do_session_open(&C, "b");
        TreeCmd cmd = { .type = TREE_CMD_SESSION_OPEN, .session_open = { "c" } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), -EUSERS);
        do_session_open(&C, "a");       /* replacing is fine at the limit */
}
END_TEST

START_TEST(test_ephemeral) {
        uint64_t s1 = do_session_open(&C, "n1");
        uint64_t s2 = do_session_open(&C, "n2");
        ck_assert_int_eq(do_mkdir(&C, ROOT, "members"), 0);
        uint64_t m = C.res.ino;
        ck_assert_int_eq(do_setxattr(&C, m, "user.raftfs.ephemeral", "1\n", 0), 0);
        C.session = s1;
        ck_assert_int_eq(do_create(&C, m, "n1", 0), 0);
        uint64_t f1 = C.res.ino;
        ck_assert_int_eq(do_symlink(&C, m, "n1.link", "n1"), 0);
        ck_assert_int_eq(do_mkdir(&C, m, "sub"), 0);    /* directories are not ephemeral */
        ck_assert_int_eq(do_link(&C, f1, ROOT, "keep"), 0);
        ck_assert_int_eq(do_create(&C, ROOT, "normal", 0), 0);
        C.session = s2;
        ck_assert_int_eq(do_create(&C, m, "n2", 0), 0);
        C.session = 0;
        ck_assert_int_eq(do_create(&C, m, "anon", 0), 0);
        TreeSessionInfo info;
        ck_assert_int_eq(tree_session_get(C.t, s1, &info), 0);
        ck_assert_uint_eq(info.ephemeral, 2);
        check_snapshot_roundtrip(C.t);
        /* Expiry removes every name of s1's ephemeral inodes. */
        ck_assert_int_eq(do_session_expire(&C, s1, 0, 0), 0);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_INODE_REMOVED, NULL), 2);
        ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_ENTRY_REMOVED, NULL), 3);
        ck_assert_uint_eq(ino_of(&C, m, "n1"), 0);
        ck_assert_uint_eq(ino_of(&C, m, "n1.link"), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "keep"), 0);
        ck_assert_uint_ne(ino_of(&C, m, "sub"), 0);
        ck_assert_uint_ne(ino_of(&C, m, "n2"), 0);
        ck_assert_uint_ne(ino_of(&C, m, "anon"), 0);
        ck_assert_uint_ne(ino_of(&C, ROOT, "normal"), 0);
        /* A value other than 1 does not mark the directory. */
        ck_assert_int_eq(do_setxattr(&C, m, "user.raftfs.ephemeral", "0", 0), 0);
        C.session = s2;
        ck_assert_int_eq(do_create(&C, m, "n2b", 0), 0);
        /* Ownership stays with a renamed inode. */
        ck_assert_int_eq(do_rename(&C, m, "n2", ROOT, "moved", 0), 0);
        C.session = 0;
        ck_assert_int_eq(do_session_expire(&C, s2, 0, 0), 0);
        ck_assert_uint_eq(ino_of(&C, ROOT, "moved"), 0);
        ck_assert_uint_ne(ino_of(&C, m, "n2b"), 0);
        check_snapshot_roundtrip(C.t);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_set_limits) {
        TreeCmd cmd = { .type = TREE_CMD_SET_LIMITS, .set_limits = { { .max_file_size = 4, .max_name_len = 3 } } };
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        TreeLimits l;
        tree_get_limits(C.t, &l);
        ck_assert_uint_eq(l.max_file_size, 4);
        ck_assert_uint_eq(l.max_name_len, 3);
        ck_assert_uint_eq(l.max_total_bytes, UINT64_C(1) << 30);
        ck_assert_int_eq(do_create(&C, ROOT, "abcd", 0), -ENAMETOOLONG);
        ck_assert_int_eq(do_create(&C, ROOT, "abc", 0), 0);
        ck_assert_int_eq(do_write(&C, C.res.ino, 0, "12345"), -EFBIG);
        check_snapshot_roundtrip(C.t);
        TreeLimits d;
        tree_limits_default(&d);
        cmd.set_limits.limits = (TreeLimits) {};
        ck_assert_int_eq(ctx_apply(&C, &cmd), 0);
        tree_get_limits(C.t, &l);
        ck_assert(memcmp(&l, &d, sizeof l) == 0);
}
END_TEST

/* ---- snapshots ---- */

START_TEST(test_snapshot) {
        uint64_t s = do_session_open(&C, "n1");
        ck_assert_int_eq(do_mkdir(&C, ROOT, "etc"), 0);
        uint64_t etc = C.res.ino;
        ck_assert_int_eq(do_create(&C, etc, "a.conf", 0), 0);
        uint64_t a = C.res.ino;
        ck_assert_int_eq(do_write(&C, a, 0, "max_conns = 200\n"), 0);
        ck_assert_int_eq(do_setxattr(&C, a, "user.k", "v", 0), 0);
        ck_assert_int_eq(do_link(&C, a, ROOT, "hard"), 0);
        ck_assert_int_eq(do_symlink(&C, ROOT, "l", "etc/a.conf"), 0);
        ck_assert_int_eq(do_mkdir(&C, etc, "sub"), 0);
        ck_assert_int_eq(do_rename(&C, etc, "sub", ROOT, "sub2", 0), 0);
        ck_assert_int_eq(do_flock(&C, s, a, 1, TREE_LOCK_EXCLUSIVE, false), 0);
        ck_assert_int_eq(do_posix(&C, s, a, 2, TREE_LOCK_SHARED, false, 0, 10), 0);
        uint64_t s2 = do_session_open(&C, "n2");
        ck_assert_int_eq(do_flock(&C, s2, a, 3, TREE_LOCK_SHARED, true), -EINPROGRESS);

        Buf b = BUF_INIT, b2 = BUF_INIT;
        ck_assert_int_eq(tree_snapshot_write(C.t, &b), 0);
        Tree *u;
        ck_assert_int_eq(tree_snapshot_load(b.data, b.len, &u), 0);
        ck_assert_int_eq(tree_snapshot_write(u, &b2), 0);
        ck_assert_uint_eq(b.len, b2.len);
        ck_assert(memcmp(b.data, b2.data, b.len) == 0);
        ck_assert_uint_eq(tree_applied_index(u), C.index);
        TreeAttr x, y;
        ck_assert_int_eq(tree_lookup(u, etc, "a.conf", &x), 0);
        ck_assert_int_eq(tree_getattr(C.t, a, &y), 0);
        ck_assert(memcmp(&x, &y, sizeof x) == 0);
        char *t1 = lock_text(C.t, a), *t2 = lock_text(u, a);
        ck_assert_str_eq(t1, t2);
        free(t1);
        free(t2);
        /* The restored tree behaves identically: apply the same entries to both. */
        Tree *orig = C.t;
        uint64_t idx = C.index;
        for (int pass = 0; pass < 2; pass++) {
                C.t = pass == 0 ? orig : u;
                C.index = idx;
                ck_assert_int_eq(do_session_expire(&C, s, 0, 0), 0);
                ck_assert_uint_eq(count_notices(&C, TREE_NOTICE_LOCK_GRANTED, NULL), 1);
                ck_assert_int_eq(do_create(&C, etc, "b", 0), 0);
                ck_assert_uint_eq(C.res.ino, idx + 2);
        }
        buf_clear(&b);
        buf_clear(&b2);
        ck_assert_int_eq(tree_snapshot_write(orig, &b), 0);
        ck_assert_int_eq(tree_snapshot_write(u, &b2), 0);
        ck_assert_uint_eq(b.len, b2.len);
        ck_assert(memcmp(b.data, b2.data, b.len) == 0);
        C.t = orig;
        tree_free(u);

        /* Every truncation and a trailing byte are rejected. */
        for (size_t k = 0; k < b.len; k++)
                ck_assert_int_eq(tree_snapshot_load(b.data, k, &u), -EBADMSG);
        ck_assert_int_eq(buf_append(&b, "", 1), 0);
        ck_assert_int_eq(tree_snapshot_load(b.data, b.len, &u), -EBADMSG);
        /* Single-byte corruptions never crash (and usually fail). */
        b.len--;
        for (size_t k = 0; k < b.len; k++) {
                uint8_t saved = b.data[k];
                b.data[k] ^= 0x5a;
                if (tree_snapshot_load(b.data, b.len, &u) == 0)
                        tree_free(u);
                b.data[k] = saved;
        }
        buf_done(&b);
        buf_done(&b2);
}
END_TEST

START_TEST(test_snapshot_empty) {
        check_snapshot_roundtrip(C.t);
        Buf b = BUF_INIT;
        ck_assert_int_eq(tree_snapshot_write(C.t, &b), 0);
        Tree *u;
        ck_assert_int_eq(tree_snapshot_load(b.data, b.len, &u), 0);
        TreeAttr a;
        ck_assert_int_eq(tree_getattr(u, ROOT, &a), 0);
        ck_assert(S_ISDIR(a.mode));
        tree_free(u);
        b.data[0] ^= 1;
        ck_assert_int_eq(tree_snapshot_load(b.data, b.len, &u), -EBADMSG);
        buf_done(&b);
}
END_TEST

static Suite *tree_suite(void) {
        Suite *s = suite_create("tree");
        struct {
                const char *name;
                const TTest *test;
        } cases[] = {
                { "root", test_root },
                { "create", test_create },
                { "create_errors", test_create_errors },
                { "create_index1", test_create_index1 },
                { "inode_limit", test_inode_limit },
                { "mkdir_rmdir", test_mkdir_rmdir },
                { "mkdir_mlink", test_mkdir_mlink },
                { "symlink", test_symlink },
                { "link_unlink", test_link_unlink },
                { "rename_plain", test_rename_plain },
                { "rename_dirs", test_rename_dirs },
                { "rename_flags", test_rename_flags },
                { "setattr", test_setattr },
                { "total_bytes_limit", test_total_bytes_limit },
                { "write", test_write },
                { "xattr", test_xattr },
                { "readdir", test_readdir },
                { "codec", test_codec },
                { "malformed", test_malformed },
                { "dedupe", test_dedupe },
                { "dedupe_window", test_dedupe_window },
                { "sessions", test_sessions },
                { "session_limit", test_session_limit },
                { "ephemeral", test_ephemeral },
                { "set_limits", test_set_limits },
                { "snapshot", test_snapshot },
                { "snapshot_empty", test_snapshot_empty },
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                TCase *tc = tcase_create(cases[k].name);
                tcase_add_checked_fixture(tc, setup, teardown);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, cases[k].test);
                suite_add_tcase(s, tc);
        }
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(tree_suite());
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
