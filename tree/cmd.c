#include "config.h"
/* cmd.c — the binary encoding of tree commands (format in tree.h).
 *
 * One table-free pair of functions per direction: the field order of each
 * command is written once in encode_body() and once in decode_body(), and the
 * fuzz target tests/fuzz/fuzz-tree-cmd.c checks that decode(encode(x)) == x
 * for whatever it decodes. The decoder trusts nothing: lengths are bounded,
 * bools must be 0/1, trailing bytes are an error. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "tree/tree-internal.h"

typedef struct CmdOwned {
        char *s[3];
        TreeExtent *extents;
} CmdOwned;

const char *tree_cmd_type_to_string(int type) {
        static const char *const names[_TREE_CMD_MAX] = {
                [TREE_CMD_CREATE] = "create",
                [TREE_CMD_MKDIR] = "mkdir",
                [TREE_CMD_SYMLINK] = "symlink",
                [TREE_CMD_LINK] = "link",
                [TREE_CMD_UNLINK] = "unlink",
                [TREE_CMD_RMDIR] = "rmdir",
                [TREE_CMD_RENAME] = "rename",
                [TREE_CMD_SETATTR] = "setattr",
                [TREE_CMD_WRITE] = "write",
                [TREE_CMD_SETXATTR] = "setxattr",
                [TREE_CMD_REMOVEXATTR] = "removexattr",
                [TREE_CMD_SESSION_OPEN] = "session-open",
                [TREE_CMD_SESSION_EXPIRE] = "session-expire",
                [TREE_CMD_TICK] = "tick",
                [TREE_CMD_SET_LIMITS] = "set-limits",
                [TREE_CMD_LOCK] = "lock",
                [TREE_CMD_LOCK_CANCEL] = "lock-cancel",
                [TREE_CMD_LOCK_RELEASE] = "lock-release",
        };
        if (type <= 0 || type >= _TREE_CMD_MAX || !names[type])
                return "unknown";
        return names[type];
}

/* ---- encoding ---- */

static int put_string(Buf *b, const char *s) {
        if (!s || strlen(s) > TREE_CMD_MAX_STRING)
                return -EINVAL;
        return put_str(b, s);
}

static int put_data(Buf *b, const uint8_t *p, size_t n) {
        if ((!p && n > 0) || n > TREE_CMD_MAX_BLOB)
                return -EINVAL;
        return put_blob(b, p, n);
}

int limits_encode(Buf *b, const TreeLimits *l) {
        int r = 0;
        r = r ?: put_u64(b, l->max_file_size);
        r = r ?: put_u64(b, l->max_total_bytes);
        r = r ?: put_u64(b, l->max_inodes);
        r = r ?: put_u32(b, l->max_name_len);
        r = r ?: put_u32(b, l->max_symlink_len);
        r = r ?: put_u32(b, l->max_xattr_name_len);
        r = r ?: put_u32(b, l->max_xattr_value_len);
        r = r ?: put_u32(b, l->max_xattr_bytes);
        r = r ?: put_u32(b, l->max_links);
        r = r ?: put_u32(b, l->max_sessions);
        r = r ?: put_u32(b, l->max_locks);
        r = r ?: put_u32(b, l->max_session_results);
        return r;
}

static int encode_body(const TreeCmd *c, Buf *b) {
        int r = 0;
        switch (c->type) {
        case TREE_CMD_CREATE:
        case TREE_CMD_MKDIR:
                r = r ?: put_u64(b, c->create.parent);
                r = r ?: put_string(b, c->create.name);
                r = r ?: put_u32(b, c->create.mode);
                r = r ?: put_u32(b, c->create.uid);
                r = r ?: put_u32(b, c->create.gid);
                r = r ?: put_u32(b, c->create.flags);
                return r;
        case TREE_CMD_SYMLINK:
                r = r ?: put_u64(b, c->symlink.parent);
                r = r ?: put_string(b, c->symlink.name);
                r = r ?: put_string(b, c->symlink.target);
                r = r ?: put_u32(b, c->symlink.uid);
                r = r ?: put_u32(b, c->symlink.gid);
                return r;
        case TREE_CMD_LINK:
                r = r ?: put_u64(b, c->link.ino);
                r = r ?: put_u64(b, c->link.new_parent);
                r = r ?: put_string(b, c->link.new_name);
                return r;
        case TREE_CMD_UNLINK:
        case TREE_CMD_RMDIR:
                r = r ?: put_u64(b, c->unlink.parent);
                r = r ?: put_string(b, c->unlink.name);
                return r;
        case TREE_CMD_RENAME:
                r = r ?: put_u64(b, c->rename.parent);
                r = r ?: put_string(b, c->rename.name);
                r = r ?: put_u64(b, c->rename.new_parent);
                r = r ?: put_string(b, c->rename.new_name);
                r = r ?: put_u32(b, c->rename.flags);
                return r;
        case TREE_CMD_SETATTR:
                r = r ?: put_u64(b, c->setattr.ino);
                r = r ?: put_u32(b, c->setattr.valid);
                r = r ?: put_u32(b, c->setattr.mode);
                r = r ?: put_u32(b, c->setattr.uid);
                r = r ?: put_u32(b, c->setattr.gid);
                r = r ?: put_u64(b, c->setattr.size);
                r = r ?: put_u64(b, c->setattr.mtime_usec);
                r = r ?: put_u64(b, c->setattr.ctime_usec);
                return r;
        case TREE_CMD_WRITE:
                if (c->write.n_extents > TREE_CMD_MAX_EXTENTS || (!c->write.extents && c->write.n_extents))
                        return -EINVAL;
                r = r ?: put_u64(b, c->write.ino);
                r = r ?: put_u32(b, c->write.flags);
                r = r ?: put_u64(b, c->write.truncate_size);
                r = r ?: put_u64(b, c->write.final_size);
                r = r ?: put_u32(b, (uint32_t) c->write.n_extents);
                for (size_t k = 0; k < c->write.n_extents && r == 0; k++) {
                        r = put_u64(b, c->write.extents[k].offset);
                        r = r ?: put_data(b, c->write.extents[k].data, c->write.extents[k].len);
                }
                return r;
        case TREE_CMD_SETXATTR:
        case TREE_CMD_REMOVEXATTR:
                r = r ?: put_u64(b, c->xattr.ino);
                r = r ?: put_string(b, c->xattr.name);
                r = r ?: put_data(b, c->xattr.value, c->xattr.value_len);
                r = r ?: put_u32(b, c->xattr.flags);
                return r;
        case TREE_CMD_SESSION_OPEN:
                return put_string(b, c->session_open.node);
        case TREE_CMD_SESSION_EXPIRE:
                r = r ?: put_u64(b, c->session_expire.session);
                r = r ?: put_u64(b, c->session_expire.lock_delay_usec);
                r = r ?: put_u32(b, c->session_expire.flags);
                return r;
        case TREE_CMD_TICK:
                return 0;
        case TREE_CMD_SET_LIMITS:
                return limits_encode(b, &c->set_limits.limits);
        case TREE_CMD_LOCK:
                r = r ?: put_u64(b, c->lock.ino);
                r = r ?: put_u64(b, c->lock.owner);
                r = r ?: put_u32(b, c->lock.pid);
                r = r ?: put_u8(b, c->lock.table);
                r = r ?: put_u8(b, c->lock.mode);
                r = r ?: put_u8(b, c->lock.wait ? 1 : 0);
                r = r ?: put_u64(b, c->lock.start);
                r = r ?: put_u64(b, c->lock.end);
                return r;
        case TREE_CMD_LOCK_CANCEL:
                r = r ?: put_u64(b, c->lock_cancel.ino);
                r = r ?: put_u64(b, c->lock_cancel.request);
                return r;
        case TREE_CMD_LOCK_RELEASE:
                r = r ?: put_u64(b, c->lock_release.ino);
                r = r ?: put_u64(b, c->lock_release.owner);
                r = r ?: put_u32(b, c->lock_release.flags);
                return r;
        default:
                return -EINVAL;
        }
}

int tree_cmd_encode(const TreeCmd *c, Buf *out) {
        size_t saved = out->len;
        int r = 0;
        r = r ?: put_u8(out, TREE_CMD_VERSION);
        r = r ?: put_u8(out, c->type);
        r = r ?: put_u64(out, c->session);
        r = r ?: put_u64(out, c->request);
        r = r ?: put_u64(out, c->ack);
        r = r ?: put_u64(out, c->time_usec);
        r = r ?: encode_body(c, out);
        if (r < 0) {
                out->len = saved;
                return r == -E2BIG ? -EINVAL : r;
        }
        return 0;
}

/* ---- decoding ---- */

static int get_string(Reader *rd, CmdOwned *o, const char **ret) {
        size_t k = 0;
        while (o->s[k])
                k++;
        assert(k < ELEMENTSOF(o->s));
        int r = get_str_dup(rd, TREE_CMD_MAX_STRING, &o->s[k]);
        *ret = r < 0 ? NULL : o->s[k];
        return r;
}

static int get_data(Reader *rd, const uint8_t **ret, size_t *ret_len) {
        return get_blob(rd, TREE_CMD_MAX_BLOB, ret, ret_len);
}

static int get_bool(Reader *rd, bool *ret) {
        uint8_t v;
        int r = get_u8(rd, &v);
        if (r < 0)
                return r;
        if (v > 1)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int limits_decode(Reader *rd, TreeLimits *l) {
        (void) get_u64(rd, &l->max_file_size);
        (void) get_u64(rd, &l->max_total_bytes);
        (void) get_u64(rd, &l->max_inodes);
        (void) get_u32(rd, &l->max_name_len);
        (void) get_u32(rd, &l->max_symlink_len);
        (void) get_u32(rd, &l->max_xattr_name_len);
        (void) get_u32(rd, &l->max_xattr_value_len);
        (void) get_u32(rd, &l->max_xattr_bytes);
        (void) get_u32(rd, &l->max_links);
        (void) get_u32(rd, &l->max_sessions);
        (void) get_u32(rd, &l->max_locks);
        return get_u32(rd, &l->max_session_results);
}

static int decode_extents(Reader *rd, TreeCmd *c, CmdOwned *o) {
        uint32_t n;
        int r = get_u32(rd, &n);
        if (r < 0)
                return r;
        if (n > TREE_CMD_MAX_EXTENTS || n > reader_remaining(rd) / 12)
                return -EBADMSG;
        if (n > 0) {
                o->extents = calloc(n, sizeof(TreeExtent));
                if (!o->extents)
                        return -ENOMEM;
        }
        for (uint32_t k = 0; k < n; k++) {
                (void) get_u64(rd, &o->extents[k].offset);
                r = get_data(rd, &o->extents[k].data, &o->extents[k].len);
                if (r < 0)
                        return r;
        }
        c->write.extents = o->extents;
        c->write.n_extents = n;
        return 0;
}

static int decode_body(Reader *rd, TreeCmd *c, CmdOwned *o) {
        int r = 0;
        switch (c->type) {
        case TREE_CMD_CREATE:
        case TREE_CMD_MKDIR:
                (void) get_u64(rd, &c->create.parent);
                r = get_string(rd, o, &c->create.name);
                (void) get_u32(rd, &c->create.mode);
                (void) get_u32(rd, &c->create.uid);
                (void) get_u32(rd, &c->create.gid);
                (void) get_u32(rd, &c->create.flags);
                return r;
        case TREE_CMD_SYMLINK:
                (void) get_u64(rd, &c->symlink.parent);
                r = r ?: get_string(rd, o, &c->symlink.name);
                r = r ?: get_string(rd, o, &c->symlink.target);
                (void) get_u32(rd, &c->symlink.uid);
                (void) get_u32(rd, &c->symlink.gid);
                return r;
        case TREE_CMD_LINK:
                (void) get_u64(rd, &c->link.ino);
                (void) get_u64(rd, &c->link.new_parent);
                return get_string(rd, o, &c->link.new_name);
        case TREE_CMD_UNLINK:
        case TREE_CMD_RMDIR:
                (void) get_u64(rd, &c->unlink.parent);
                return get_string(rd, o, &c->unlink.name);
        case TREE_CMD_RENAME:
                (void) get_u64(rd, &c->rename.parent);
                r = r ?: get_string(rd, o, &c->rename.name);
                (void) get_u64(rd, &c->rename.new_parent);
                r = r ?: get_string(rd, o, &c->rename.new_name);
                (void) get_u32(rd, &c->rename.flags);
                return r;
        case TREE_CMD_SETATTR:
                (void) get_u64(rd, &c->setattr.ino);
                (void) get_u32(rd, &c->setattr.valid);
                (void) get_u32(rd, &c->setattr.mode);
                (void) get_u32(rd, &c->setattr.uid);
                (void) get_u32(rd, &c->setattr.gid);
                (void) get_u64(rd, &c->setattr.size);
                (void) get_u64(rd, &c->setattr.mtime_usec);
                return get_u64(rd, &c->setattr.ctime_usec);
        case TREE_CMD_WRITE:
                (void) get_u64(rd, &c->write.ino);
                (void) get_u32(rd, &c->write.flags);
                (void) get_u64(rd, &c->write.truncate_size);
                (void) get_u64(rd, &c->write.final_size);
                return decode_extents(rd, c, o);
        case TREE_CMD_SETXATTR:
        case TREE_CMD_REMOVEXATTR:
                (void) get_u64(rd, &c->xattr.ino);
                r = get_string(rd, o, &c->xattr.name);
                r = r ?: get_data(rd, &c->xattr.value, &c->xattr.value_len);
                (void) get_u32(rd, &c->xattr.flags);
                return r;
        case TREE_CMD_SESSION_OPEN:
                return get_string(rd, o, &c->session_open.node);
        case TREE_CMD_SESSION_EXPIRE:
                (void) get_u64(rd, &c->session_expire.session);
                (void) get_u64(rd, &c->session_expire.lock_delay_usec);
                return get_u32(rd, &c->session_expire.flags);
        case TREE_CMD_TICK:
                return 0;
        case TREE_CMD_SET_LIMITS:
                return limits_decode(rd, &c->set_limits.limits);
        case TREE_CMD_LOCK:
                (void) get_u64(rd, &c->lock.ino);
                (void) get_u64(rd, &c->lock.owner);
                (void) get_u32(rd, &c->lock.pid);
                (void) get_u8(rd, &c->lock.table);
                (void) get_u8(rd, &c->lock.mode);
                r = get_bool(rd, &c->lock.wait);
                (void) get_u64(rd, &c->lock.start);
                (void) get_u64(rd, &c->lock.end);
                return r;
        case TREE_CMD_LOCK_CANCEL:
                (void) get_u64(rd, &c->lock_cancel.ino);
                return get_u64(rd, &c->lock_cancel.request);
        case TREE_CMD_LOCK_RELEASE:
                (void) get_u64(rd, &c->lock_release.ino);
                (void) get_u64(rd, &c->lock_release.owner);
                return get_u32(rd, &c->lock_release.flags);
        default:
                return -EBADMSG;
        }
}

static void owned_free(CmdOwned *o) {
        if (!o)
                return;
        for (size_t k = 0; k < ELEMENTSOF(o->s); k++)
                free(o->s[k]);
        free(o->extents);
        free(o);
}

int tree_cmd_author(const uint8_t *data, size_t len, uint64_t *ret_session, uint64_t *ret_request) {
        Reader rd = reader_init(data, len);
        uint8_t version, type;
        uint64_t session, request;
        (void) get_u8(&rd, &version);
        (void) get_u8(&rd, &type);
        (void) get_u64(&rd, &session);
        if (get_u64(&rd, &request) < 0 || version != TREE_CMD_VERSION)
                return -EBADMSG;
        *ret_session = session;
        *ret_request = request;
        return 0;
}

int tree_cmd_decode(const uint8_t *data, size_t len, TreeCmd *ret) {
        Reader rd = reader_init(data, len);
        TreeCmd c = {};
        uint8_t version;
        (void) get_u8(&rd, &version);
        (void) get_u8(&rd, &c.type);
        (void) get_u64(&rd, &c.session);
        (void) get_u64(&rd, &c.request);
        (void) get_u64(&rd, &c.ack);
        int r = get_u64(&rd, &c.time_usec);
        if (r < 0 || version != TREE_CMD_VERSION)
                return -EBADMSG;
        CmdOwned *o = calloc(1, sizeof(CmdOwned));
        if (!o)
                return -ENOMEM;
        r = decode_body(&rd, &c, o);
        if (r == 0)
                r = reader_finish(&rd);
        if (r < 0) {
                owned_free(o);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        c.owned = o;
        *ret = c;
        return 0;
}

void tree_cmd_done(TreeCmd *cmd) {
        if (!cmd)
                return;
        owned_free(cmd->owned);
        cmd->owned = NULL;
}
