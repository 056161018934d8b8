/* history.h — the operation histories of the chaos workloads.
 *
 * Every workload client appends one line per operation to its own history
 * file; the checkers read the files of all clients of a run together.
 *
 * Line format (fields separated by single spaces, '#' starts a comment line):
 *
 *     PROC OP KEY VALUE INVOKE_USEC COMPLETE_USEC OUTCOME
 *
 *   PROC      client process number (unique within a run)
 *   OP        read | write | cas | add | final | acquire | guard | check | release
 *             | create | xcreate | unlink | chmod   (metadata workload)
 *   KEY       register, set or lock name (no spaces)
 *   VALUE     the value written, read or acquired (no spaces); for cas
 *             "OLD>NEW"; for final a comma-separated list; "-" when none.
 *             A content register read that found the file empty records
 *             "" (two double quotes): no write ever writes that value.
 *             Metadata: a read (stat) records the octal permission bits
 *             ("644") or "absent" (ENOENT); create, xcreate and chmod
 *             record the mode they set; unlink records "-"
 *   *_USEC    CLOCK_MONOTONIC microseconds when the call started / returned
 *             (one clock for every process of the machine)
 *   OUTCOME   ok    the operation took effect and returned this value
 *             fail  it certainly did not take effect; for cas: because the
 *                   register did not hold OLD (the rename's source was gone);
 *                   for xcreate: because the file existed (EEXIST); for
 *                   unlink and chmod: because it did not (ENOENT)
 *             info  unknown: it may take effect at any time after INVOKE,
 *                   or never (ETIMEDOUT, raftfs's "outcome unknown"; ENOTCONN
 *                   from a mount whose daemon died during the call)
 *
 * A line "#I <op line with outcome info>" written (and flushed) before a
 * mutation is an intent: history_load() adds it when no op line follows it
 * in that file, so a client killed in the middle of a mutation leaves an
 * indeterminate op behind rather than nothing. A line "#X errno=N <op line>"
 * settles the intent too: the op certainly had no effect and says nothing
 * about the state (the mount was gone), so the checkers ignore it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum OpType {
        OP_READ,
        OP_WRITE,
        OP_CAS,
        OP_ADD,
        OP_FINAL,
        OP_ACQUIRE,
        OP_GUARD,
        OP_CHECK,
        OP_RELEASE,
        OP_CREATE,  /* open(O_CREAT) without O_EXCL: creates only when absent */
        OP_XCREATE, /* open(O_CREAT|O_EXCL) */
        OP_UNLINK,
        OP_CHMOD,
        _OP_TYPE_MAX,
} OpType;

typedef enum OpOutcome {
        OUTCOME_OK,
        OUTCOME_FAIL,
        OUTCOME_INFO,
} OpOutcome;

typedef struct Op {
        int proc;
        OpType type;
        char *key;
        char *value; /* for OP_CAS: the NEW part; see old */
        char *old;   /* OP_CAS only: the expected value */
        uint64_t invoke_usec, complete_usec;
        OpOutcome outcome;
        unsigned line; /* 1-based line in its file, for messages */
} Op;

typedef struct History {
        Op *ops;
        size_t n, cap;
} History;

/* Largest history the checkers accept (every resource has a limit). */
#define HISTORY_MAX_OPS 2000000u
#define HISTORY_MAX_LINE (16u << 20)

/* Parses one line and appends it to h. Comment and empty lines are accepted
 * and ignored. Returns 0, -EBADMSG for a malformed line, -E2BIG past
 * HISTORY_MAX_OPS, -ENOMEM. */
int history_add_line(History *h, const char *line, unsigned lineno);

/* Reads every line of f into h; returns 0 or the first error, with a message
 * naming the file and line on stderr (name is used only for that). */
int history_load(History *h, FILE *f, const char *name);

/* Frees the contents of h (not h itself) and resets it. */
void history_done(History *h);

/* Writes one op in the line format above. */
void history_write(FILE *f, const Op *op);

const char *op_type_to_string(OpType t);
const char *op_outcome_to_string(OpOutcome o);

/* Checker verdicts. */
typedef enum CheckResult {
        CHECK_VALID = 0,
        CHECK_INVALID = 1,
        CHECK_UNKNOWN = 3, /* the search ran out of its budget */
} CheckResult;

/* Linearizability of read/write/cas registers, each KEY its own register with
 * initial value "0" (Wing & Gong's search with Lowe's just-in-time
 * linearization and memoization of (linearized set, state), partitioned per
 * key). max_states bounds the memo table per key (0: default 4,000,000).
 * Explains the first violation on out. No write writes HISTORY_EMPTY and the
 * initial value is "0", so every read of an empty file is a violation (the
 * workload's setup gives every register "0" before any client starts). */
CheckResult check_register(const History *h, size_t max_states, FILE *out);

/* The empty content of a content register, as recorded by a read. */
#define HISTORY_EMPTY "\"\""
/* The metadata register's value of a file that does not exist. */
#define HISTORY_ABSENT "absent"

/* Linearizability of metadata registers: each KEY is one file whose value is
 * the pair (exists, permission bits), encoded as "absent" or the octal mode,
 * initially "absent". create/xcreate/unlink/chmod are conditional on
 * existence (see check-register.c for the sequential model); reads are stat().
 * Same search and bounds as check_register(). */
CheckResult check_meta(const History *h, size_t max_states, FILE *out);

/* Unique-append set: every acknowledged add appears in every final read, no
 * element appears that was never added or whose add certainly failed, and
 * there is at least one final read. */
CheckResult check_set(const History *h, FILE *out);

/* Lock workload: tokens of acquisitions strictly increase in acquisition
 * order; holders' intervals [acquire returned, release called] do not overlap
 * (for acquisitions released with success); the guarded file's final token
 * list strictly increases and contains every acknowledged guard write; every
 * token in it belongs to a guard write of that holder. */
CheckResult check_lock(const History *h, FILE *out);
