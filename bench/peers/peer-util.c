#include "config.h"

/* peer-util.c — timing, percentile and output helpers for the peer
 * benchmark clients. Nothing here talks to a server; see peer-util.h. */

#include "bench/peers/peer-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t peer_now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void samples_add(Samples *s, uint64_t usec) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 1024;
                uint64_t *v = realloc(s->v, cap * sizeof *v);
                if (!v) {
                        fprintf(stderr, "out of memory\n");
                        abort();
                }
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = usec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

double samples_pct_ms(Samples *s, double p) {
        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof *s->v, cmp_u64);
        size_t i = (size_t) (p / 100.0 * (double) (s->n - 1) + 0.5);
        if (i >= s->n)
                i = s->n - 1;
        return (double) s->v[i] / 1000.0;
}

void samples_done(Samples *s) {
        free(s->v);
        *s = (Samples) {};
}

void peer_result(const char *name, double value) {
        printf("RESULT %s %.3f\n", name, value);
        fflush(stdout);
}

int peer_split_endpoints(const char *list, char **hosts, int *ports, int max) {
        char *copy = strdup(list), *save = NULL;
        int n = 0;
        if (!copy)
                return 0;
        for (char *tok = strtok_r(copy, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
                char *colon = strrchr(tok, ':');
                if (!colon)
                        continue;
                *colon = '\0';
                hosts[n] = tok;
                ports[n] = atoi(colon + 1);
                n++;
        }
        return n; /* copy stays alive: hosts[] point into it */
}

void peer_fill_value(char *buf, size_t size, uint64_t *state) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (size_t i = 0; i < size; i++) {
                uint64_t x = *state;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *state = x;
                buf[i] = alphabet[x % (sizeof alphabet - 1)];
        }
}
