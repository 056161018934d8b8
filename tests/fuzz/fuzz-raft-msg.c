#include "config.h"
/* fuzz-raft-msg.c — libFuzzer target for the raft wire decoder.
 *
 * Any input: decoding must either fail cleanly or yield a message that
 * encodes back to exactly the same bytes (the format has one encoding per
 * message). The same bytes are also fed to a live core (a follower of a
 * three-server configuration) through raft_receive(), which must accept or
 * refuse them without crashing; and to the configuration decoder. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/macro.h"
#include "raft/msg.h"
#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int no_term(void *u, uint64_t index, uint64_t *ret) {
        return -ENOENT;
}

static int no_entries(void *u, uint64_t lo, uint64_t hi, size_t max, RaftEntry **ret, size_t *n) {
        return -ENOENT;
}

static void feed_core(const uint8_t *data, size_t size) {
        RaftOptions o;
        Raft *r;
        RaftConfig c = RAFT_CONFIG_INIT;
        RaftEntry e;
        RaftHardState hs;
        RaftSnapshotMeta snap = {};
        Buf conf = BUF_INIT;

        raft_options_init(&o);
        o.id = 2;
        o.entries = (RaftEntrySource) { NULL, no_term, no_entries };
        o.max_entries_per_msg = 64;
        o.max_entry_bytes = 1 << 16;
        if (raft_new(&o, &r) < 0)
                abort();
        for (uint64_t i = 1; i <= 3; i++)
                (void) raft_config_add(&c, i, i == 1 ? "a" : i == 2 ? "b" : "c", "x", RAFT_VOTER);
        if (raft_bootstrap(&c, &e, &hs) < 0 || raft_config_encode(&c, &conf) < 0)
                abort();
        /* Start from a snapshot at index 1 so that no entry must be read. */
        snap = (RaftSnapshotMeta) { .index = 1, .term = 1, .conf_len = (uint32_t) conf.len,
                                    .conf = conf.data };
        RaftStartState st = { .hard_state = hs, .snapshot = &snap, .first_index = 2, .last_index = 1 };
        if (raft_start(r, 1000, &st) < 0)
                abort();
        uint64_t from = 0;
        (void) raft_message_peek(data, size, &from, NULL, NULL);
        (void) raft_receive(r, 2000, from, data, size);
        while (raft_has_update(r)) {
                RaftUpdate u;
                raft_update_get(r, &u);
                raft_update_done(r);
        }
        raft_tick(r, 10 * USEC_PER_SEC);
        raft_free(r);
        raft_entry_done(&e);
        raft_config_done(&c);
        buf_done(&conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        RaftMsgLimits lim = { 64, 1 << 16 };
        RaftMsg m;
        RaftConfig c;

        if (raft_msg_decode(data, size, &lim, &m) == 0) {
                Buf b = BUF_INIT;
                if (raft_msg_encode(&m, &b) < 0)
                        abort();
                if (b.len != size || memcmp(b.data, data, size) != 0)
                        abort();        /* not canonical */
                buf_done(&b);
                raft_msg_done(&m);
        }
        if (raft_config_decode(data, size, &c) == 0) {
                Buf b = BUF_INIT;
                if (raft_config_encode(&c, &b) < 0 || b.len != size || memcmp(b.data, data, size))
                        abort();
                buf_done(&b);
                raft_config_done(&c);
        }
        feed_core(data, size);
        return 0;
}
