#include "config.h"
/* config.c — membership configurations: the RaftConfig value type, its
 * encoding as the payload of RAFT_ENTRY_CONF entries and snapshot metadata,
 * and the bootstrap entry of a new cluster.
 *
 * Encoding (version 1), little-endian through lib/codec.h:
 *   u8 version (1), u32 n, n × (u64 id, u8 role, str name, str address)
 * A valid configuration has unique non-zero ids, unique non-empty names and
 * at most RAFT_MAX_SERVERS members; the decoder enforces all of it, since a
 * configuration arrives from peers and from disk. */

#include <errno.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/raft.h"

#define CONFIG_VERSION 1

void raft_config_done(RaftConfig *c) {
        if (!c)
                return;
        free(c->servers);
        *c = RAFT_CONFIG_INIT;
}

int raft_config_copy(const RaftConfig *c, RaftConfig *ret) {
        RaftServer *s = NULL;

        if (c->n > 0) {
                s = malloc(c->n * sizeof(RaftServer));
                if (!s)
                        return -ENOMEM;
                memcpy(s, c->servers, c->n * sizeof(RaftServer));
        }
        *ret = (RaftConfig) { c->n, s };
        return 0;
}

const RaftServer *raft_config_find(const RaftConfig *c, uint64_t id) {
        for (size_t i = 0; i < c->n; i++)
                if (c->servers[i].id == id)
                        return &c->servers[i];
        return NULL;
}

static const RaftServer *find_name(const RaftConfig *c, const char *name) {
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->servers[i].name, name) == 0)
                        return &c->servers[i];
        return NULL;
}

int raft_config_add(RaftConfig *c, uint64_t id, const char *name, const char *address,
                    RaftServerRole role) {
        if (id == 0 || !name || !address || role < RAFT_VOTER || role > RAFT_LEARNER)
                return -EINVAL;
        size_t nl = strlen(name), al = strlen(address);
        if (nl == 0 || nl > RAFT_NAME_MAX || al > RAFT_ADDRESS_MAX)
                return -EINVAL;
        if (raft_config_find(c, id) || find_name(c, name))
                return -EEXIST;
        if (c->n >= RAFT_MAX_SERVERS)
                return -E2BIG;
        RaftServer *s = realloc(c->servers, (c->n + 1) * sizeof(RaftServer));
        if (!s)
                return -ENOMEM;
        c->servers = s;
        s = &c->servers[c->n++];
        memset(s, 0, sizeof(*s));
        s->id = id;
        s->role = (uint8_t) role;
        memcpy(s->name, name, nl);
        memcpy(s->address, address, al);
        return 0;
}

int raft_config_remove(RaftConfig *c, uint64_t id) {
        for (size_t i = 0; i < c->n; i++)
                if (c->servers[i].id == id) {
                        memmove(&c->servers[i], &c->servers[i + 1],
                                (c->n - i - 1) * sizeof(RaftServer));
                        c->n--;
                        return 0;
                }
        return -ENOENT;
}

size_t raft_config_voters(const RaftConfig *c) {
        size_t n = 0;
        for (size_t i = 0; i < c->n; i++)
                n += c->servers[i].role == RAFT_VOTER;
        return n;
}

int raft_config_encode(const RaftConfig *c, Buf *b) {
        size_t start = b->len;
        int r = 0;

        r |= put_u8(b, CONFIG_VERSION);
        r |= put_u32(b, (uint32_t) c->n);
        for (size_t i = 0; i < c->n; i++) {
                r |= put_u64(b, c->servers[i].id);
                r |= put_u8(b, c->servers[i].role);
                r |= put_str(b, c->servers[i].name);
                r |= put_str(b, c->servers[i].address);
        }
        if (r < 0) {
                b->len = start;
                return -ENOMEM;
        }
        return 0;
}

static int get_fixed_str(Reader *rd, size_t max, char *dst) {
        const uint8_t *p;
        size_t n;
        if (get_blob(rd, max, &p, &n) < 0 || memchr(p, 0, n))
                return -EBADMSG;
        memcpy(dst, p, n);
        dst[n] = 0;
        return 0;
}

int raft_config_decode(const void *data, size_t len, RaftConfig *ret) {
        _cleanup_(raft_config_done) RaftConfig c = RAFT_CONFIG_INIT;
        Reader rd = reader_init(data, len);
        uint8_t version;
        uint32_t n;

        if (get_u8(&rd, &version) < 0 || version != CONFIG_VERSION)
                return -EBADMSG;
        if (get_u32(&rd, &n) < 0 || n > RAFT_MAX_SERVERS)
                return -EBADMSG;
        if (n > 0) {
                c.servers = calloc(n, sizeof(RaftServer));
                if (!c.servers)
                        return -ENOMEM;
        }
        for (uint32_t i = 0; i < n; i++) {
                RaftServer s = {};
                (void) get_u64(&rd, &s.id);
                (void) get_u8(&rd, &s.role);
                if (get_fixed_str(&rd, RAFT_NAME_MAX, s.name) < 0 ||
                    get_fixed_str(&rd, RAFT_ADDRESS_MAX, s.address) < 0)
                        return -EBADMSG;
                if (s.id == 0 || s.name[0] == 0 || (s.role != RAFT_VOTER && s.role != RAFT_LEARNER))
                        return -EBADMSG;
                if (raft_config_find(&c, s.id) || find_name(&c, s.name))
                        return -EBADMSG;
                c.servers[c.n++] = s;
        }
        if (reader_finish(&rd) < 0)
                return -EBADMSG;
        *ret = c;
        c = RAFT_CONFIG_INIT;
        return 0;
}

int raft_bootstrap(const RaftConfig *conf, RaftEntry *ret_entry, RaftHardState *ret_hs) {
        Buf b = BUF_INIT;

        if (raft_config_voters(conf) == 0)
                return -EINVAL;
        int r = raft_config_encode(conf, &b);
        if (r < 0)
                return r;
        size_t len;
        uint8_t *data = buf_steal(&b, &len);
        *ret_entry = (RaftEntry) {
                .term = 1,
                .index = 1,
                .type = RAFT_ENTRY_CONF,
                .len = (uint32_t) len,
                .data = data,
        };
        *ret_hs = (RaftHardState) { .term = 1, .vote = 0, .commit = 0 };
        return 0;
}
