#include "config.h"
/* bench/tls — frames over one peer channel on loopback, TLS against plain TCP.
 *
 * Both runs use the very same TlsNet code (framing, write queue, event
 * loop); the plain run is tls_net_new_insecure_plaintext(), so the ratio
 * isolates the cost of TLS. Two processes, as in a cluster: the parent (n1)
 * dials, a forked child (n2) echoes. Each process runs its own sd_event loop.
 *
 *   latency:    N round trips of a 100-byte frame (send, wait for the echo),
 *               after a warm-up; p50, p99 and mean in microseconds.
 *   throughput: 64 KiB frames streamed for a fixed volume with back-pressure
 *               (send until -ENOBUFS, wait for on_drain); the child reports
 *               the byte count when an end marker arrives; MB/s = 10^6 B/s.
 *               Also the CPU time both processes spent per payload byte
 *               (getrusage), a figure that other load on the machine does
 *               not distort the way it distorts wall-clock throughput.
 *
 * Usage: bench/tls [ROUND_TRIPS [MEGABYTES [REPEATS [plain|tls]]]]   (20000 1024 3)
 * Each figure is the median of REPEATS runs. */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "lib/codec.h"
#include "lib/macro.h"
#include "tls/cert.h"
#include "tls/tls.h"

enum { T_PING = 1, T_BULK = 2, T_END = 3 };

typedef struct State {
        TlsNet *net;
        bool up, down, got_pong, drained, got_end;
        uint64_t bulk_bytes, reported;
        uint64_t cpu_start, reported_cpu;   /* child: CPU at the first bulk frame; parent: child's CPU */
} State;

static char dir[64];

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* CPU time (user + system) of this process in microseconds. */
static uint64_t cpu_usec(void) {
        struct rusage ru;
        (void) getrusage(RUSAGE_SELF, &ru);
        return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
               (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench/tls: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_FAILURE);
}

static void on_frame(TlsNet *net, const char *peer, uint8_t type, const void *data, size_t len, void *u) {
        State *s = u;
        switch (type) {
        case T_PING:
                if (strcmp(peer, "n1") == 0)   /* child: echo */
                        (void) tls_net_send(net, peer, T_PING, data, len);
                else
                        s->got_pong = true;
                break;
        case T_BULK:
                if (s->bulk_bytes == 0)
                        s->cpu_start = cpu_usec();
                s->bulk_bytes += len;
                break;
        case T_END:
                if (strcmp(peer, "n1") == 0) {
                        uint8_t b[16];
                        le64_store(b, s->bulk_bytes);
                        le64_store(b + 8, cpu_usec() - s->cpu_start);
                        s->bulk_bytes = 0;
                        (void) tls_net_send(net, peer, T_END, b, sizeof b);
                } else {
                        s->reported = len == 16 ? le64_load(data) : 0;
                        s->reported_cpu = len == 16 ? le64_load((const uint8_t *) data + 8) : 0;
                        s->got_end = true;
                }
                break;
        }
}

static void on_up(TlsNet *net, const char *peer, void *u) {
        ((State *) u)->up = true;
}

static void on_down(TlsNet *net, const char *peer, int error, const char *detail, void *u) {
        ((State *) u)->down = true;
}

static void on_drain(TlsNet *net, const char *peer, void *u) {
        ((State *) u)->drained = true;
}

static const TlsNetCallbacks callbacks = {
        .on_frame = on_frame,
        .on_peer_up = on_up,
        .on_peer_down = on_down,
        .on_drain = on_drain,
};

static TlsNet *make_net(sd_event *e, bool tls, const char *name, State *s) {
        char ca[128], crt[128], key[128];
        char *err = NULL;
        TlsNet *net;
        int r;

        if (!tls)
                r = tls_net_new_insecure_plaintext(e, name, &callbacks, NULL, s, &net);
        else {
                snprintf(ca, sizeof ca, "%s/ca.crt", dir);
                snprintf(crt, sizeof crt, "%s/%s.crt", dir, name);
                snprintf(key, sizeof key, "%s/%s.key", dir, name);
                TlsContext *ctx = tls_context_new(ca, crt, key, &err);
                if (!ctx) {
                        fprintf(stderr, "bench/tls: %s\n", err);
                        exit(EXIT_FAILURE);
                }
                r = tls_net_new(e, ctx, name, &callbacks, NULL, s, &net);
                tls_context_unref(ctx);
        }
        if (r < 0)
                die("tls_net_new", r);
        return net;
}

#define RUN_WHILE(e, cond)                                         \
        do {                                                       \
                while (cond) {                                     \
                        int _r = sd_event_run((e), UINT64_MAX);    \
                        if (_r < 0)                                \
                                die("sd_event_run", _r);           \
                }                                                  \
        } while (0)

/* The echo side: n2 accepts n1 and answers until n1 goes away. */
static _noreturn_ void child(bool tls, int port_fd) {
        sd_event *e = NULL;
        State s = {};
        if (sd_event_new(&e) < 0)
                die("sd_event_new", -ENOMEM);
        s.net = make_net(e, tls, "n2", &s);
        int r = tls_net_listen(s.net, "127.0.0.1:0");
        if (r < 0)
                die("listen", r);
        int port = tls_net_get_local_port(s.net);
        TlsPeerInfo peers[] = { { "n1", NULL } };
        if (tls_net_set_peers(s.net, peers, 1) < 0)
                die("set_peers", -EINVAL);
        if (write(port_fd, &port, sizeof port) != sizeof port)
                die("write", errno);
        close(port_fd);
        RUN_WHILE(e, !s.up || !s.down);
        tls_net_free(s.net);
        sd_event_unref(e);
        _exit(0);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

typedef struct Result {
        double p50, p99, mean, mbps;
        double cpu_ns_per_byte;   /* sender + receiver CPU time per payload byte */
} Result;

static Result run(bool tls, unsigned round_trips, uint64_t megabytes) {
        int pfd[2];
        if (pipe(pfd) < 0)
                die("pipe", errno);
        pid_t pid = fork();
        if (pid < 0)
                die("fork", errno);
        if (pid == 0) {
                close(pfd[0]);
                child(tls, pfd[1]);
        }
        close(pfd[1]);
        int port;
        if (read(pfd[0], &port, sizeof port) != sizeof port)
                die("read port", EIO);
        close(pfd[0]);

        sd_event *e = NULL;
        State s = {};
        if (sd_event_new(&e) < 0)
                die("sd_event_new", -ENOMEM);
        s.net = make_net(e, tls, "n1", &s);
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        TlsPeerInfo peers[] = { { "n2", addr } };
        if (tls_net_set_peers(s.net, peers, 1) < 0)
                die("set_peers", -EINVAL);
        RUN_WHILE(e, !s.up);

        /* Latency. */
        uint8_t ping[100];
        memset(ping, 0xa5, sizeof ping);
        uint64_t *rtt = calloc(round_trips, sizeof *rtt);
        unsigned warmup = round_trips / 10 + 100;
        for (unsigned i = 0; i < warmup + round_trips; i++) {
                s.got_pong = false;
                uint64_t t0 = now_usec();
                int r = tls_net_send(s.net, "n2", T_PING, ping, sizeof ping);
                if (r < 0)
                        die("send ping", r);
                RUN_WHILE(e, !s.got_pong);
                if (i >= warmup)
                        rtt[i - warmup] = now_usec() - t0;
        }
        qsort(rtt, round_trips, sizeof *rtt, cmp_u64);
        Result res = { .p50 = (double) rtt[round_trips / 2], .p99 = (double) rtt[round_trips * 99 / 100] };
        for (unsigned i = 0; i < round_trips; i++)
                res.mean += (double) rtt[i] / round_trips;
        free(rtt);

        /* Throughput. */
        size_t frame = 64 * 1024;
        uint8_t *bulk = malloc(frame);
        memset(bulk, 0x5a, frame);
        uint64_t total = megabytes * 1024 * 1024, sent = 0;
        uint64_t t0 = now_usec(), cpu0 = cpu_usec();
        while (sent < total) {
                int r = tls_net_send(s.net, "n2", T_BULK, bulk, frame);
                if (r == -ENOBUFS) {
                        s.drained = false;
                        RUN_WHILE(e, !s.drained);
                        continue;
                }
                if (r < 0)
                        die("send bulk", r);
                sent += frame;
                /* Let the loop write and read between bursts, as a daemon would. */
                (void) sd_event_run(e, 0);
        }
        s.got_end = false;
        if (tls_net_send(s.net, "n2", T_END, NULL, 0) < 0)
                die("send end", EIO);
        RUN_WHILE(e, !s.got_end);
        uint64_t dt = now_usec() - t0;
        uint64_t cpu = cpu_usec() - cpu0 + s.reported_cpu;
        if (s.reported != sent)
                fprintf(stderr, "bench/tls: receiver counted %" PRIu64 " of %" PRIu64 " bytes\n", s.reported, sent);
        res.mbps = (double) sent / (double) dt;   /* bytes per usec = MB/s */
        res.cpu_ns_per_byte = (double) cpu * 1000.0 / (double) sent;
        free(bulk);

        tls_net_free(s.net);
        sd_event_unref(e);
        int status;
        (void) waitpid(pid, &status, 0);
        return res;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static Result median(Result *r, unsigned n) {
        double v[5][16];
        for (unsigned i = 0; i < n; i++) {
                v[0][i] = r[i].p50;
                v[1][i] = r[i].p99;
                v[2][i] = r[i].mean;
                v[3][i] = r[i].mbps;
                v[4][i] = r[i].cpu_ns_per_byte;
        }
        for (int k = 0; k < 5; k++)
                qsort(v[k], n, sizeof(double), cmp_double);
        return (Result) { v[0][n / 2], v[1][n / 2], v[2][n / 2], v[3][n / 2], v[4][n / 2] };
}

int main(int argc, char **argv) {
        unsigned round_trips = argc > 1 ? (unsigned) atoi(argv[1]) : 20000;
        uint64_t megabytes = argc > 2 ? (uint64_t) atoll(argv[2]) : 1024;
        unsigned repeats = argc > 3 ? (unsigned) atoi(argv[3]) : 3;
        const char *only = argc > 4 ? argv[4] : NULL;   /* "plain" or "tls": profile one transport */
        char *err = NULL;

        if (round_trips < 100 || megabytes < 1 || repeats < 1 || repeats > 16) {
                fprintf(stderr, "usage: bench/tls [ROUND_TRIPS>=100 [MEGABYTES>=1 [REPEATS 1..16]]]\n");
                return EXIT_FAILURE;
        }
        snprintf(dir, sizeof dir, "/tmp/bench-tls-XXXXXX");
        if (!mkdtemp(dir))
                die("mkdtemp", errno);
        if (tls_cert_make_ca(dir, TLS_KEY_P256, false, &err) < 0 ||
            tls_cert_make_node(dir, "n1", NULL, 0, NULL, 0, NULL, TLS_KEY_P256, false, &err) < 0 ||
            tls_cert_make_node(dir, "n2", NULL, 0, NULL, 0, NULL, TLS_KEY_P256, false, &err) < 0) {
                fprintf(stderr, "bench/tls: %s\n", err);
                return EXIT_FAILURE;
        }

        Result plain[16], tls[16];
        for (unsigned i = 0; i < repeats; i++) {
                plain[i] = only && strcmp(only, "plain") != 0 ? (Result) { 1, 1, 1, 1 } : run(false, round_trips, megabytes);
                tls[i] = only && strcmp(only, "tls") != 0 ? (Result) { 1, 1, 1, 1 } : run(true, round_trips, megabytes);
        }
        Result p = median(plain, repeats), t = median(tls, repeats);

        printf("bench/tls: one channel on loopback, TlsNet framing, parent dials, child echoes\n");
        printf("latency: %u round trips of 100-byte frames (after %u warm-up); throughput: %" PRIu64
               " MiB in 64 KiB frames; median of %u runs\n\n",
               round_trips, round_trips / 10 + 100, megabytes, repeats);
        printf("%-10s %10s %10s %10s %12s %14s\n", "transport", "p50 us", "p99 us", "mean us", "MB/s", "CPU ns/byte");
        printf("%-10s %10.1f %10.1f %10.1f %12.1f %14.3f\n", "plain", p.p50, p.p99, p.mean, p.mbps, p.cpu_ns_per_byte);
        printf("%-10s %10.1f %10.1f %10.1f %12.1f %14.3f\n", "tls1.3", t.p50, t.p99, t.mean, t.mbps, t.cpu_ns_per_byte);
        printf("\nTLS/plain round trip p50: %.2fx (target <= 1.5x)\n", t.p50 / p.p50);
        printf("plain/TLS throughput:     %.2fx (target <= 1.3x)\n", p.mbps / t.mbps);
        printf("TLS/plain CPU per byte:   %.2fx (sender + receiver; independent of other load)\n",
               t.cpu_ns_per_byte / p.cpu_ns_per_byte);

        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void) !system(cmd);
        return EXIT_SUCCESS;
}
