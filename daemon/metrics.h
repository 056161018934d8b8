/* metrics.h — a small registry of counters, gauges and histograms rendered
 * in the Prometheus text exposition format (version 0.0.4).
 *
 * Metrics are registered once at start and live as long as the registry;
 * the handles returned by the metrics_*() constructors are owned by the
 * registry and stay valid until metrics_free(). Updating a metric is a few
 * arithmetic operations and never allocates, so the hot paths (every
 * commit, every fsync) can afford it. Only the loop thread touches the
 * registry (the storage thread reports its fsync times to the loop).
 *
 * Names follow Prometheus conventions: raftfs_ prefix, base units (seconds,
 * bytes), counters end in _total. A family may hold several series that
 * differ by one label (e.g. raftfs_role{role="leader"}). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

typedef struct Metrics Metrics;
typedef struct Metric Metric;

/* A new empty registry, or NULL on allocation failure. */
Metrics *metrics_new(void);
/* Frees the registry and every metric in it. Takes NULL; returns NULL. */
Metrics *metrics_free(Metrics *m);

/* Register a series. `name` and `help` must be string literals or otherwise
 * outlive the registry (they are not copied). `label` is NULL or
 * "key=\"value\"" (copied) to add one series to an existing family of the
 * same name and type. Returns the handle, or NULL on allocation failure
 * (updating a NULL handle is a no-op, so a failed registration only loses
 * that metric). Registering a name twice with the same label, or with
 * another type, is a programmer error. */
Metric *metrics_counter(Metrics *m, const char *name, const char *label, const char *help);
Metric *metrics_gauge(Metrics *m, const char *name, const char *label, const char *help);
/* A histogram of durations: observations in microseconds, rendered in
 * seconds with fixed buckets from 50 us to 30 s. */
Metric *metrics_histogram_usec(Metrics *m, const char *name, const char *help);

/* Counters only go up. */
void metric_add(Metric *x, uint64_t delta);
static inline void metric_inc(Metric *x) {
        metric_add(x, 1);
}
/* Gauges. */
void metric_set(Metric *x, double value);
/* Histograms. */
void metric_observe_usec(Metric *x, uint64_t usec);

/* Current value of a counter or gauge (tests, STATUS=). */
double metric_value(const Metric *x);
/* Number of observations of a histogram. */
uint64_t metric_count(const Metric *x);

/* Appends the whole registry in the text format to `out`, families in
 * registration order. 0 or -ENOMEM (out may then hold a partial text). */
int metrics_render(const Metrics *m, Buf *out);
