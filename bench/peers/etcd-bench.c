#include "config.h"

/* etcd-bench — the etcd side of bench/run's comparison.
 *
 * A fair client for etcd 3.4: every simulated client keeps ONE persistent
 * HTTP/1.1 keep-alive connection to a member's JSON gRPC gateway (/v3/...),
 * requests are written with a hand-made minimal HTTP encoder, no process or
 * connection per operation. TCP_NODELAY is set, as gRPC clients do.
 *
 * Modes (each prints "RESULT <metric> <value>" lines, see peer-util.h):
 *   seqput N            N sequential puts of a 100-byte value, one client: p50/p99 latency
 *   writers C SECONDS   C concurrent writers (one connection each, spread over the
 *                       members) putting distinct keys for SECONDS: puts/s
 *   get N               N linearizable ranges of one key from one client: p50/p99
 *   lockcycle SECONDS   one client acquires and releases a v3lock lock in a loop: cycles/s
 *   lock SECONDS        two clients on the first two members contend for one
 *                       v3lock lock (lease-bound), acquire+release in a loop: handoffs/s
 *   failover SECONDS    puts in a loop to the first endpoint (the driver kills the
 *                       leader meanwhile); reports the longest gap between two
 *                       successful puts; requests time out after 300 ms and are
 *                       retried on a new connection
 *   fill N C            N keys of 1 KiB with C concurrent clients (for the RSS figure)
 * Every mode is bounded by its count or duration and a 5 s per-request timeout. */

#include "bench/peers/peer-util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_EP 8
#define RESP_MAX (1 << 20)

/* Per-request timeout. The failover mode lowers it so that a put stuck on a
 * member that lost its leader is retried at once (as a client with a short
 * deadline would), instead of waiting out etcd's own request timeout. */
static int request_timeout_ms = 5000;

static char *ep_host[MAX_EP];
static int ep_port[MAX_EP];
static int n_ep;

typedef struct Conn {
        int fd;
        int ep;
        char *buf; /* response buffer */
        size_t len; /* bytes buffered */
} Conn;

static void conn_close(Conn *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->len = 0;
}

static int conn_open(Conn *c) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) ep_port[c->ep]) };
        struct timeval tv = { .tv_sec = request_timeout_ms / 1000, .tv_usec = (request_timeout_ms % 1000) * 1000 };
        int one = 1;

        conn_close(c);
        if (inet_pton(AF_INET, ep_host[c->ep], &sa.sin_addr) != 1)
                return -EINVAL;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        (void) setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void) setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                conn_close(c);
                return r;
        }
        return 0;
}

static void conn_init(Conn *c, int ep) {
        *c = (Conn) { .fd = -1, .ep = ep % n_ep, .buf = malloc(RESP_MAX + 1) };
        if (!c->buf)
                abort();
}

static void conn_done(Conn *c) {
        conn_close(c);
        free(c->buf);
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Makes sure at least `want` bytes are buffered. */
static int fill_to(Conn *c, size_t want) {
        while (c->len < want) {
                if (want > RESP_MAX)
                        return -EMSGSIZE;
                ssize_t k = read(c->fd, c->buf + c->len, RESP_MAX - c->len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k == 0 ? -ECONNRESET : -errno;
                c->len += (size_t) k;
        }
        return 0;
}

/* Reads more bytes (at least one). */
static int fill_more(Conn *c) {
        return fill_to(c, c->len + 1);
}

/* Sends one POST and reads the whole response body into c->buf (NUL-terminated,
 * returned through *ret_body). Returns the HTTP status or a negative errno; on
 * a transport error the connection is closed and reopened by the next call. */
static int http_post(Conn *c, const char *path, const char *body, char **ret_body) {
        char head[512];
        int r;

        if (c->fd < 0 && (r = conn_open(c)) < 0)
                return r;
        int hn = snprintf(head, sizeof head,
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          path, ep_host[c->ep], ep_port[c->ep], strlen(body));
        if ((r = write_all(c->fd, head, (size_t) hn)) < 0 || (r = write_all(c->fd, body, strlen(body))) < 0)
                goto fail;

        c->len = 0;
        char *end;
        for (;;) {
                c->buf[c->len] = '\0';
                if ((end = strstr(c->buf, "\r\n\r\n")))
                        break;
                if ((r = fill_more(c)) < 0)
                        goto fail;
        }
        size_t hdr_len = (size_t) (end - c->buf) + 4;
        int status = 0;
        if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) {
                r = -EBADMSG;
                goto fail;
        }
        /* Header names are case-insensitive; grpc-gateway sends canonical case. */
        bool chunked = false, close_after = false;
        long clen = -1;
        for (char *line = strstr(c->buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
                if (strncasecmp(line, "Content-Length:", 15) == 0)
                        clen = strtol(line + 15, NULL, 10);
                else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") < strstr(line, "\r\n"))
                        chunked = true;
                else if (strncasecmp(line, "Connection:", 11) == 0 && strncasecmp(line + 12, "close", 5) == 0)
                        close_after = true;
        }
        /* Move the body to the front of the buffer. */
        memmove(c->buf, c->buf + hdr_len, c->len - hdr_len);
        c->len -= hdr_len;
        if (clen >= 0) {
                if ((r = fill_to(c, (size_t) clen)) < 0)
                        goto fail;
                c->buf[clen] = '\0';
        } else if (chunked) {
                /* De-chunk in place: out is where decoded bytes go. */
                size_t in = 0, out = 0;
                for (;;) {
                        char *nl;
                        for (;;) {
                                c->buf[c->len] = '\0';
                                if ((nl = strstr(c->buf + in, "\r\n")))
                                        break;
                                if ((r = fill_more(c)) < 0)
                                        goto fail;
                        }
                        size_t sz = strtoul(c->buf + in, NULL, 16);
                        size_t data = (size_t) (nl - c->buf) + 2;
                        if ((r = fill_to(c, data + sz + 2)) < 0)
                                goto fail;
                        memmove(c->buf + out, c->buf + data, sz);
                        out += sz;
                        in = data + sz + 2;
                        if (sz == 0)
                                break;
                }
                c->buf[out] = '\0';
        } else {
                r = -EBADMSG;
                goto fail;
        }
        if (close_after)
                conn_close(c);
        *ret_body = c->buf;
        return status;
fail:
        conn_close(c);
        return r;
}

static void b64(const char *in, size_t n, char *out) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) (unsigned char) in[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) (unsigned char) in[i + 1] << 8;
                if (i + 2 < n)
                        v |= (unsigned char) in[i + 2];
                out[o++] = t[(v >> 18) & 63];
                out[o++] = t[(v >> 12) & 63];
                out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? t[v & 63] : '=';
        }
        out[o] = '\0';
}

/* One put of key=value; returns 0 on HTTP 200. */
static int etcd_put(Conn *c, const char *key, const char *value) {
        char kb[512], *vb = malloc(strlen(value) * 2 + 8), *body = malloc(strlen(value) * 2 + 1024), *resp;
        if (!vb || !body)
                abort();
        b64(key, strlen(key), kb);
        b64(value, strlen(value), vb);
        sprintf(body, "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
        int r = http_post(c, "/v3/kv/put", body, &resp);
        free(vb);
        free(body);
        return r == 200 ? 0 : r < 0 ? r : -EIO;
}

static int etcd_get(Conn *c, const char *key) {
        char kb[512], body[700], *resp;
        b64(key, strlen(key), kb);
        snprintf(body, sizeof body, "{\"key\":\"%s\"}", kb); /* serializable=false: linearizable */
        int r = http_post(c, "/v3/kv/range", body, &resp);
        if (r == 200 && !strstr(resp, "\"kvs\""))
                return -ENOENT;
        return r == 200 ? 0 : r < 0 ? r : -EIO;
}

/* Extracts the string value of "field":"..." from a JSON body into out. */
static int json_str(const char *body, const char *field, char *out, size_t size) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":\"", field);
        const char *p = strstr(body, pat);
        if (!p)
                return -ENOENT;
        p += strlen(pat);
        const char *q = strchr(p, '"');
        if (!q || (size_t) (q - p) >= size)
                return -EBADMSG;
        memcpy(out, p, (size_t) (q - p));
        out[q - p] = '\0';
        return 0;
}

static const char small_value[] =
        "max_conns = 200 # a small configuration value of one hundred bytes, as config files are.....";

static void mode_seqput(long n) {
        Conn c;
        Samples s = {};
        char key[64];
        conn_init(&c, 0);
        for (long i = 0; i < n; i++) {
                snprintf(key, sizeof key, "/bench/seq/%ld", i % 1000);
                uint64_t t0 = peer_now_usec();
                if (etcd_put(&c, key, small_value) < 0) {
                        fprintf(stderr, "etcd-bench: put failed\n");
                        exit(1);
                }
                samples_add(&s, peer_now_usec() - t0);
        }
        peer_result("put_p50_ms", samples_pct_ms(&s, 50));
        peer_result("put_p99_ms", samples_pct_ms(&s, 99));
        samples_done(&s);
        conn_done(&c);
}

typedef struct Worker {
        pthread_t thread;
        int id;
        uint64_t deadline;
        long count, errors, limit;
        int value_size;
} Worker;

static void *writer_main(void *arg) {
        Worker *w = arg;
        Conn c;
        char key[64], *value = malloc((size_t) w->value_size + 1);
        uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t) (w->id + 1);
        conn_init(&c, w->id);
        peer_fill_value(value, (size_t) w->value_size, &rng);
        value[w->value_size] = '\0';
        while (peer_now_usec() < w->deadline && (w->limit < 0 || w->count < w->limit)) {
                snprintf(key, sizeof key, "/bench/w%d/%ld", w->id, w->count);
                if (etcd_put(&c, key, value) < 0) {
                        if (++w->errors > 100)
                                break;
                        continue;
                }
                w->count++;
        }
        conn_done(&c);
        free(value);
        return NULL;
}

static long run_writers(int n, double seconds, long total, int value_size, double *ret_elapsed) {
        Worker *w = calloc((size_t) n, sizeof *w);
        uint64_t t0 = peer_now_usec();
        long sum = 0, errors = 0;
        for (int i = 0; i < n; i++) {
                w[i] = (Worker) { .id = i, .deadline = t0 + (uint64_t) (seconds * 1e6), .value_size = value_size,
                                  .limit = total < 0 ? -1 : total / n + (i < total % n) };
                if (pthread_create(&w[i].thread, NULL, writer_main, &w[i]) != 0)
                        abort();
        }
        for (int i = 0; i < n; i++) {
                pthread_join(w[i].thread, NULL);
                sum += w[i].count;
                errors += w[i].errors;
        }
        *ret_elapsed = (double) (peer_now_usec() - t0) / 1e6;
        if (errors)
                fprintf(stderr, "etcd-bench: %ld failed puts\n", errors);
        free(w);
        return sum;
}

static void mode_get(long n) {
        Conn c;
        Samples s = {};
        conn_init(&c, 0);
        if (etcd_put(&c, "/bench/get", small_value) < 0)
                exit(1);
        for (long i = 0; i < n; i++) {
                uint64_t t0 = peer_now_usec();
                if (etcd_get(&c, "/bench/get") < 0) {
                        fprintf(stderr, "etcd-bench: get failed\n");
                        exit(1);
                }
                samples_add(&s, peer_now_usec() - t0);
        }
        peer_result("get_p50_ms", samples_pct_ms(&s, 50));
        peer_result("get_p99_ms", samples_pct_ms(&s, 99));
        samples_done(&s);
        conn_done(&c);
}

/* Lock contention: the holder history is shared so handoffs can be counted. */
static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static int last_holder = -1;
static long acquisitions, handoffs;

static void *locker_main(void *arg) {
        Worker *w = arg;
        Conn c;
        char body[1024], *resp, lease[64], key[512], name[64];
        conn_init(&c, w->id);
        if (http_post(&c, "/v3/lease/grant", "{\"TTL\":\"60\"}", &resp) != 200 || json_str(resp, "ID", lease, sizeof lease) < 0) {
                fprintf(stderr, "etcd-bench: lease grant failed\n");
                exit(1);
        }
        b64("/bench/lock", 11, name);
        while (peer_now_usec() < w->deadline) {
                snprintf(body, sizeof body, "{\"name\":\"%s\",\"lease\":\"%s\"}", name, lease);
                if (http_post(&c, "/v3/lock/lock", body, &resp) != 200 || json_str(resp, "key", key, sizeof key) < 0) {
                        if (++w->errors > 10)
                                break;
                        continue;
                }
                pthread_mutex_lock(&lock_mu);
                acquisitions++;
                if (last_holder >= 0 && last_holder != w->id)
                        handoffs++;
                last_holder = w->id;
                pthread_mutex_unlock(&lock_mu);
                snprintf(body, sizeof body, "{\"key\":\"%s\"}", key);
                if (http_post(&c, "/v3/lock/unlock", body, &resp) != 200)
                        w->errors++;
                w->count++;
        }
        conn_done(&c);
        return NULL;
}

static void mode_lock(double seconds, int n) {
        Worker w[2];
        uint64_t t0 = peer_now_usec();
        for (int i = 0; i < n; i++) {
                w[i] = (Worker) { .id = i, .deadline = t0 + (uint64_t) (seconds * 1e6) };
                pthread_create(&w[i].thread, NULL, locker_main, &w[i]);
        }
        for (int i = 0; i < n; i++)
                pthread_join(w[i].thread, NULL);
        double el = (double) (peer_now_usec() - t0) / 1e6;
        if (n == 1) {
                peer_result("lock_cycles_per_s", (double) acquisitions / el);
                return;
        }
        peer_result("lock_acquisitions_per_s", (double) acquisitions / el);
        peer_result("lock_handoffs_per_s", (double) handoffs / el);
}

static void mode_failover(double seconds) {
        Conn c;
        char key[64];
        uint64_t t0 = peer_now_usec(), deadline = t0 + (uint64_t) (seconds * 1e6), last_ok = 0, gap = 0;
        long ok = 0, failed = 0;
        request_timeout_ms = 300;
        conn_init(&c, 0);
        while (peer_now_usec() < deadline) {
                snprintf(key, sizeof key, "/bench/failover/%ld", ok % 100);
                if (etcd_put(&c, key, small_value) < 0) {
                        failed++;
                        usleep(1000); /* a failing member answers at once: do not spin */
                        continue;
                }
                uint64_t now = peer_now_usec();
                if (last_ok && now - last_ok > gap)
                        gap = now - last_ok;
                last_ok = now;
                ok++;
        }
        fprintf(stderr, "etcd-bench: failover: %ld ok, %ld failed puts\n", ok, failed);
        peer_result("failover_gap_ms", (double) gap / 1000.0);
        conn_done(&c);
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr,
                        "usage: etcd-bench HOST:PORT[,HOST:PORT...] MODE ARGS\n"
                        "  seqput N | writers C SECONDS | get N | lock SECONDS | lockcycle SECONDS | failover SECONDS | fill N C\n");
                return 2;
        }
        n_ep = peer_split_endpoints(argv[1], ep_host, ep_port, MAX_EP);
        if (n_ep == 0)
                return 2;
        const char *mode = argv[2];
        if (strcmp(mode, "seqput") == 0)
                mode_seqput(atol(argv[3]));
        else if (strcmp(mode, "writers") == 0 && argc >= 5) {
                double el;
                long n = run_writers(atoi(argv[3]), atof(argv[4]), -1, (int) sizeof small_value - 1, &el);
                peer_result("writers_puts_per_s", (double) n / el);
        } else if (strcmp(mode, "get") == 0)
                mode_get(atol(argv[3]));
        else if (strcmp(mode, "lock") == 0)
                mode_lock(atof(argv[3]), 2);
        else if (strcmp(mode, "lockcycle") == 0)
                mode_lock(atof(argv[3]), 1);
        else if (strcmp(mode, "failover") == 0)
                mode_failover(atof(argv[3]));
        else if (strcmp(mode, "fill") == 0 && argc >= 5) {
                double el;
                long total = atol(argv[3]);
                long n = run_writers(atoi(argv[4]), 3600, total, 1024, &el);
                peer_result("fill_keys", (double) n);
                peer_result("fill_seconds", el);
                if (n < total)
                        return 1;
        } else {
                fprintf(stderr, "etcd-bench: unknown mode or missing arguments\n");
                return 2;
        }
        return 0;
}
