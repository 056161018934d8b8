#include "config.h"

/* metrics.c — the metrics registry (see metrics.h).
 *
 * A registry is an array of Metric structs in registration order. Series of
 * one family (same name, different label) are kept next to each other at
 * render time by scanning for the name, so HELP/TYPE are written once per
 * family as the format requires. Histogram buckets are fixed: the latency
 * questions we ask (is a commit 1 ms or 100 ms? is fsync slow?) span five
 * decades, and fixed bounds keep observation allocation-free. */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"
#include "lib/macro.h"

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_GAUGE,
        METRIC_HISTOGRAM,
} MetricType;

/* Upper bounds in microseconds; the +Inf bucket is implicit. */
static const uint64_t bucket_usec[] = {
        50, 100, 250, 500,
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
        1000000, 2500000, 5000000, 10000000, 30000000,
};
#define N_BUCKETS ELEMENTSOF(bucket_usec)

struct Metric {
        const char *name;
        const char *help;
        char *label;
        MetricType type;
        uint64_t counter;
        double gauge;
        uint64_t buckets[N_BUCKETS + 1];    /* per-bucket (not cumulative) counts, last = +Inf */
        uint64_t count;
        uint64_t sum_usec;
};

struct Metrics {
        Metric **metrics;
        size_t n, cap;
};

Metrics *metrics_new(void) {
        return calloc(1, sizeof(Metrics));
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++) {
                free(m->metrics[i]->label);
                free(m->metrics[i]);
        }
        free(m->metrics);
        return mfree(m);
}

static Metric *add(Metrics *m, MetricType type, const char *name, const char *label, const char *help) {
        Metric *x;

        assert(m);
        assert(name);
        for (size_t i = 0; i < m->n; i++) {
                Metric *y = m->metrics[i];
                if (strcmp(y->name, name) != 0)
                        continue;
                assert(y->type == type);
                assert(label && y->label && strcmp(label, y->label) != 0);
        }
        if (m->n == m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 32;
                Metric **p = realloc(m->metrics, cap * sizeof(Metric *));
                if (!p)
                        return NULL;
                m->metrics = p;
                m->cap = cap;
        }
        x = calloc(1, sizeof(Metric));
        if (!x)
                return NULL;
        *x = (Metric) { .name = name, .help = help, .type = type };
        if (label) {
                x->label = strdup(label);
                if (!x->label) {
                        free(x);
                        return NULL;
                }
        }
        m->metrics[m->n++] = x;
        return x;
}

Metric *metrics_counter(Metrics *m, const char *name, const char *label, const char *help) {
        return add(m, METRIC_COUNTER, name, label, help);
}

Metric *metrics_gauge(Metrics *m, const char *name, const char *label, const char *help) {
        return add(m, METRIC_GAUGE, name, label, help);
}

Metric *metrics_histogram_usec(Metrics *m, const char *name, const char *help) {
        return add(m, METRIC_HISTOGRAM, name, NULL, help);
}

void metric_add(Metric *x, uint64_t delta) {
        if (!x)
                return;
        assert(x->type == METRIC_COUNTER);
        x->counter += delta;
}

void metric_set(Metric *x, double value) {
        if (!x)
                return;
        assert(x->type == METRIC_GAUGE);
        x->gauge = value;
}

void metric_observe_usec(Metric *x, uint64_t usec) {
        size_t b = 0;

        if (!x)
                return;
        assert(x->type == METRIC_HISTOGRAM);
        while (b < N_BUCKETS && usec > bucket_usec[b])
                b++;
        x->buckets[b]++;
        x->count++;
        x->sum_usec += usec;
}

double metric_value(const Metric *x) {
        if (!x)
                return 0;
        return x->type == METRIC_COUNTER ? (double) x->counter : x->gauge;
}

uint64_t metric_count(const Metric *x) {
        return x ? x->count : 0;
}

/* ---- rendering --------------------------------------------------------- */

static int appendf(Buf *out, const char *format, ...) _printf_(2, 3);
static int appendf(Buf *out, const char *format, ...) {
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(NULL, 0, format, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if (buf_reserve(out, (size_t) n + 1) < 0)
                return -ENOMEM;
        va_start(ap, format);
        (void) vsnprintf((char *) out->data + out->len, (size_t) n + 1, format, ap);
        va_end(ap);
        out->len += (size_t) n;
        return 0;
}

/* Integers print as integers; other values with enough digits to round-trip. */
static int append_double(Buf *out, double v) {
        if (isnan(v))
                return appendf(out, "NaN");
        if (isinf(v))
                return appendf(out, v > 0 ? "+Inf" : "-Inf");
        if (v == floor(v) && fabs(v) < 1e15)
                return appendf(out, "%.0f", v);
        return appendf(out, "%.17g", v);
}

static const char *type_name(MetricType t) {
        return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

static int render_histogram(const Metric *x, Buf *out) {
        uint64_t cum = 0;
        int r = 0;

        for (size_t b = 0; b < N_BUCKETS && r >= 0; b++) {
                cum += x->buckets[b];
                r = appendf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", x->name,
                            (double) bucket_usec[b] / 1e6, cum);
        }
        if (r >= 0)
                r = appendf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", x->name, x->count);
        if (r >= 0)
                r = appendf(out, "%s_sum %.6f\n%s_count %" PRIu64 "\n", x->name,
                            (double) x->sum_usec / 1e6, x->name, x->count);
        return r;
}

static int render_series(const Metric *x, Buf *out) {
        int r;

        if (x->type == METRIC_HISTOGRAM)
                return render_histogram(x, out);
        r = x->label ? appendf(out, "%s{%s} ", x->name, x->label) : appendf(out, "%s ", x->name);
        if (r >= 0)
                r = x->type == METRIC_COUNTER ? appendf(out, "%" PRIu64, x->counter) : append_double(out, x->gauge);
        if (r >= 0)
                r = appendf(out, "\n");
        return r;
}

static bool family_rendered(const Metrics *m, size_t i) {
        for (size_t j = 0; j < i; j++)
                if (strcmp(m->metrics[j]->name, m->metrics[i]->name) == 0)
                        return true;
        return false;
}

int metrics_render(const Metrics *m, Buf *out) {
        for (size_t i = 0; i < m->n; i++) {
                const Metric *x = m->metrics[i];
                int r;

                if (family_rendered(m, i))
                        continue;
                r = appendf(out, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help ? x->help : "",
                            x->name, type_name(x->type));
                for (size_t j = i; r >= 0 && j < m->n; j++)
                        if (strcmp(m->metrics[j]->name, x->name) == 0)
                                r = render_series(m->metrics[j], out);
                if (r < 0)
                        return r;
        }
        return 0;
}
