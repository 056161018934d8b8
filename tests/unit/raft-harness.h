/* raft-harness.h — a tiny hand-driven cluster for the raft unit tests.
 *
 * Unlike the simulator (tests/sim), nothing happens unless the test says so:
 * messages wait in one queue until delivered (or dropped by a filter), time
 * moves only with h_advance()/h_tick(), and each server's disk persists an
 * update at once unless the test holds it (h->n[i].hold) to model a slow
 * disk. Everything is kept in arrays of fixed size: tests are small. */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "raft/msg.h"
#include "raft/raft.h"

#define H_MAX_NODES 7
#define H_MAX_LOG   4096
#define H_MAX_MSGS  8192

typedef struct HEntry {
        uint64_t term;
        uint8_t type;
        uint32_t len;
        uint8_t data[256];
} HEntry;

typedef struct HMsg {
        int from, to;
        bool after_persist;
        size_t len;
        uint8_t *data;
} HMsg;

typedef struct HNode {
        int idx;
        Raft *r;
        bool up;
        /* durable state */
        RaftHardState hs;
        HEntry log[H_MAX_LOG];          /* index i at log[i] */
        uint64_t first, last;           /* durable entries [first, last] */
        bool has_snap;
        RaftSnapshotMeta snap;
        uint8_t snap_data[8192];
        size_t snap_len;
        uint8_t rx[8192];               /* incoming snapshot */
        size_t rx_len;
        /* held (slow disk): entries written but not reported durable */
        bool hold;
        uint64_t held_index, held_term;
        /* state machine: applied entries */
        uint64_t applied;
        uint64_t applied_terms[H_MAX_LOG];
        size_t n_installs;
        /* observed */
        RaftReadResult reads[256];
        size_t n_reads;
        RaftEvent events[1024];
        size_t n_events;
} HNode;

typedef struct Harness {
        int n;
        uint64_t now;
        HNode node[H_MAX_NODES];
        HMsg msgs[H_MAX_MSGS];
        size_t n_msgs;
        size_t sent_by_type[_RAFT_MSG_MAX];
        /* filter: return false to drop a message while it is delivered */
        bool (*filter)(struct Harness *h, const HMsg *m, void *userdata);
        void *filter_userdata;
        RaftOptions opts;
} Harness;

/* Creates a cluster of `voters` voters (ids 1..voters) plus `extra` empty
 * servers (not members). tweak may change options before the servers start. */
Harness *h_new(int voters, int extra, void (*tweak)(RaftOptions *o));
void h_free(Harness *h);
/* Processes every pending update of server i (persisting unless held). */
void h_process(Harness *h, int i);
void h_process_all(Harness *h);
/* Delivers queued messages until none are left (max rounds), through the
 * filter. Returns the number delivered. */
size_t h_deliver(Harness *h);
/* Delivers the messages queued now (not those they cause). */
size_t h_deliver_once(Harness *h);
/* Delivers only the messages from `from` to `to` that are queued now. */
size_t h_deliver_between(Harness *h, int from, int to);
void h_drop_all(Harness *h);
/* Moves time to `now` and ticks every up server whose deadline passed. */
void h_advance(Harness *h, uint64_t now);
/* Fires server i's next deadline (time moves there) and processes it. */
void h_fire(Harness *h, int i);
/* Makes server i leader: fires its election timer and delivers. */
void h_elect(Harness *h, int i);
/* Finishes server i's held writes: reports them durable. */
void h_release(Harness *h, int i);
void h_crash(Harness *h, int i);
void h_restart(Harness *h, int i);
int h_leader(Harness *h);
/* Proposes `s` at server i, returns raft_propose()'s result. */
int h_propose(Harness *h, int i, const char *s, uint64_t *ret_index);
size_t h_count_queued(Harness *h, uint8_t type);
bool h_has_event(HNode *n, RaftEventType type);
/* Takes a snapshot of server i at its applied index (contents: 'S' bytes). */
void h_snapshot(Harness *h, int i, uint64_t trailing);
