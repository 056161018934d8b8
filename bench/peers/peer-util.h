/* peer-util.h — small helpers shared by the peer benchmark clients
 * (etcd-bench, zk-bench): a monotonic clock, latency samples with
 * percentiles, and the machine-readable result lines that bench/run parses.
 *
 * Result lines have the form "RESULT <metric> <value>", one per figure, so
 * the driver can build its comparison table without parsing prose. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Monotonic time in microseconds. */
uint64_t peer_now_usec(void);

/* A growable array of latency samples in microseconds. */
typedef struct Samples {
        uint64_t *v;
        size_t n, cap;
} Samples;

/* Appends one sample; aborts on allocation failure (a benchmark cannot go on). */
void samples_add(Samples *s, uint64_t usec);
/* Returns the p-th percentile (0..100) in milliseconds; sorts in place. 0 when empty. */
double samples_pct_ms(Samples *s, double p);
/* Frees the array and resets *s. */
void samples_done(Samples *s);

/* Prints "RESULT name value" to stdout and flushes. */
void peer_result(const char *name, double value);

/* Splits a comma-separated host:port list into at most max entries
 * (hosts[i] point into a strdup'ed copy that lives until exit). Returns the count. */
int peer_split_endpoints(const char *list, char **hosts, int *ports, int max);

/* Fills buf[0..size) with printable pseudo-random bytes from *state (xorshift64). */
void peer_fill_value(char *buf, size_t size, uint64_t *state);
