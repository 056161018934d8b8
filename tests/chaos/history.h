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
 *   KEY       register, set or lock name (no spaces)
 *   VALUE     the value written, read or acquired (no spaces); for cas
 *             "OLD>NEW"; for final a comma-separated list; "-" when none
 *   *_USEC    CLOCK_MONOTONIC microseconds when the call started / returned
 *             (one clock for every process of the machine)
 *   OUTCOME   ok    the operation took effect and returned this value
 *             fail  it certainly did not take effect; for cas: because the
 *                   register did not hold OLD (the rename's source was gone)
 *             info  unknown: it may take effect at any time after INVOKE
 *                   (a commit whose close() timed out, a killed mount)
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
 * Explains the first violation on out. */
CheckResult check_register(const History *h, size_t max_states, FILE *out);

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
