#include "config.h"

/* history.c — parsing and writing of chaos workload histories (format in
 * history.h). Owns the strings of every Op it stores. Malformed lines are
 * rejected with -EBADMSG, never asserted: histories come from files. */

#include "tests/chaos/history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[_OP_TYPE_MAX] = {
        [OP_READ] = "read",   [OP_WRITE] = "write", [OP_CAS] = "cas",
        [OP_ADD] = "add",     [OP_FINAL] = "final", [OP_ACQUIRE] = "acquire",
        [OP_GUARD] = "guard", [OP_CHECK] = "check", [OP_RELEASE] = "release",
        [OP_CREATE] = "create", [OP_XCREATE] = "xcreate", [OP_UNLINK] = "unlink",
        [OP_CHMOD] = "chmod",
};

const char *op_type_to_string(OpType t) {
        return t < _OP_TYPE_MAX ? type_names[t] : "?";
}

const char *op_outcome_to_string(OpOutcome o) {
        return o == OUTCOME_OK ? "ok" : o == OUTCOME_FAIL ? "fail" : "info";
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        if (!s || !*s || *s == '-')
                return -EBADMSG;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int history_add_line(History *h, const char *line, unsigned lineno) {
        char *copy, *field[8], *save = NULL;
        int n = 0, r = -EBADMSG;
        Op op = { .line = lineno };

        while (*line == ' ' || *line == '\t')
                line++;
        if (*line == '#' || *line == '\n' || *line == '\0')
                return 0;
        if (h->n >= HISTORY_MAX_OPS)
                return -E2BIG;
        copy = strdup(line);
        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
                if (n == 8)
                        goto out;
                field[n++] = t;
        }
        if (n != 7)
                goto out;
        char *end;
        long proc = strtol(field[0], &end, 10);
        if (*end || proc < 0 || proc > 1000000000)
                goto out;
        op.proc = (int) proc;
        op.type = _OP_TYPE_MAX;
        for (int t = 0; t < _OP_TYPE_MAX; t++)
                if (strcmp(field[1], type_names[t]) == 0)
                        op.type = (OpType) t;
        if (op.type == _OP_TYPE_MAX)
                goto out;
        if (parse_u64(field[4], &op.invoke_usec) < 0 || parse_u64(field[5], &op.complete_usec) < 0)
                goto out;
        if (strcmp(field[6], "ok") == 0)
                op.outcome = OUTCOME_OK;
        else if (strcmp(field[6], "fail") == 0)
                op.outcome = OUTCOME_FAIL;
        else if (strcmp(field[6], "info") == 0)
                op.outcome = OUTCOME_INFO;
        else
                goto out;
        if (op.complete_usec < op.invoke_usec)
                goto out;
        if (op.type == OP_CAS) {
                char *gt = strchr(field[3], '>');
                if (!gt || gt == field[3] || !gt[1])
                        goto out;
                *gt = '\0';
                op.old = strdup(field[3]);
                op.value = strdup(gt + 1);
        } else
                op.value = strdup(field[3]);
        op.key = strdup(field[2]);
        if (!op.key || !op.value || (op.type == OP_CAS && !op.old)) {
                r = -ENOMEM;
                goto out_op;
        }
        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 256;
                Op *ops = realloc(h->ops, cap * sizeof *ops);
                if (!ops) {
                        r = -ENOMEM;
                        goto out_op;
                }
                h->ops = ops;
                h->cap = cap;
        }
        h->ops[h->n++] = op;
        free(copy);
        return 0;
out_op:
        free(op.key);
        free(op.value);
        free(op.old);
out:
        free(copy);
        return r;
}

int history_load(History *h, FILE *f, const char *name) {
        char *line = NULL;
        size_t size = 0;
        unsigned lineno = 0;
        ssize_t k;
        int r = 0;

        char *intent = NULL;
        unsigned intent_line = 0;

        while ((k = getline(&line, &size, f)) >= 0) {
                lineno++;
                if ((size_t) k > HISTORY_MAX_LINE) {
                        r = -E2BIG;
                        break;
                }
                if (strncmp(line, "#I ", 3) == 0) {
                        /* An intent: the op line (as info) written before a mutation. */
                        free(intent);
                        intent = strdup(line + 3);
                        intent_line = lineno;
                        if (!intent) {
                                r = -ENOMEM;
                                break;
                        }
                        continue;
                }
                if ((line[0] != '#' && line[0] != '\n') || strncmp(line, "#X ", 3) == 0) {
                        free(intent);
                        intent = NULL;
                }
                r = history_add_line(h, line, lineno);
                if (r < 0)
                        break;
        }
        /* The client died during its last mutation: it may or may not have happened. */
        if (r == 0 && intent)
                r = history_add_line(h, intent, intent_line);
        free(intent);
        if (r < 0)
                fprintf(stderr, "%s:%u: %s\n", name, lineno, r == -EBADMSG ? "malformed history line" : strerror(-r));
        free(line);
        return r;
}

void history_done(History *h) {
        for (size_t i = 0; i < h->n; i++) {
                free(h->ops[i].key);
                free(h->ops[i].value);
                free(h->ops[i].old);
        }
        free(h->ops);
        *h = (History) {};
}

void history_write(FILE *f, const Op *op) {
        if (op->type == OP_CAS)
                fprintf(f, "%d cas %s %s>%s %" PRIu64 " %" PRIu64 " %s\n", op->proc, op->key, op->old, op->value,
                        op->invoke_usec, op->complete_usec, op_outcome_to_string(op->outcome));
        else
                fprintf(f, "%d %s %s %s %" PRIu64 " %" PRIu64 " %s\n", op->proc, op_type_to_string(op->type), op->key,
                        op->value, op->invoke_usec, op->complete_usec, op_outcome_to_string(op->outcome));
}
