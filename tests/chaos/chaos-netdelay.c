#include "config.h"

/* chaos-netdelay — delays packets in userspace, for kernels without netem.
 *
 * Runs inside a node's network namespace, binds NFQUEUE queue --queue over a
 * raw nfnetlink socket (no library needed) and gives every queued packet its
 * ACCEPT verdict --delay-ms later (plus up to --jitter-ms, never reordering:
 * release times are kept monotonic, as netem does with rate-free delay).
 * An iptables rule "-j NFQUEUE --queue-num Q --queue-bypass" feeds it; with
 * --queue-bypass the packets pass undelayed when this program is not there.
 * Bounded: at most QUEUE_MAX packets waiting (the rest are dropped, which
 * looks like loss), exits after --seconds or on SIGTERM/SIGINT, releasing
 * everything it still holds. */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 65536u

static volatile sig_atomic_t stop;
static int nl_fd;
static uint16_t queue_num;

typedef struct Held {
        uint32_t id;
        uint64_t release_usec;
} Held;

static Held ring[QUEUE_MAX];
static unsigned ring_head, ring_len;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

/* Builds and sends one nfnetlink queue message with one attribute. */
static int nfq_send(uint16_t msg, uint16_t attr_type, const void *attr, uint16_t attr_len) {
        char buf[256] __attribute__((aligned(4)));
        struct nlmsghdr *nh = (struct nlmsghdr *) buf;
        struct nfgenmsg *g = NLMSG_DATA(nh);
        struct nlattr *a = (struct nlattr *) ((char *) g + NLMSG_ALIGN(sizeof *g));
        size_t len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof *g) + NLA_HDRLEN + NLA_ALIGN(attr_len));

        memset(buf, 0, len);
        nh->nlmsg_len = (uint32_t) len;
        nh->nlmsg_type = (uint16_t) ((NFNL_SUBSYS_QUEUE << 8) | msg);
        nh->nlmsg_flags = NLM_F_REQUEST;
        g->nfgen_family = AF_UNSPEC;
        g->version = NFNETLINK_V0;
        g->res_id = htons(queue_num);
        a->nla_type = attr_type;
        a->nla_len = (uint16_t) (NLA_HDRLEN + attr_len);
        memcpy((char *) a + NLA_HDRLEN, attr, attr_len);
        struct sockaddr_nl to = { .nl_family = AF_NETLINK };
        return sendto(nl_fd, buf, len, 0, (struct sockaddr *) &to, sizeof to) < 0 ? -errno : 0;
}

static void verdict(uint32_t id) {
        struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_ACCEPT), .id = htonl(id) };
        (void) nfq_send(NFQNL_MSG_VERDICT, NFQA_VERDICT_HDR, &v, sizeof v);
}

static void release_due(uint64_t now, bool all) {
        while (ring_len > 0 && (all || ring[ring_head].release_usec <= now)) {
                verdict(ring[ring_head].id);
                ring_head = (ring_head + 1) % QUEUE_MAX;
                ring_len--;
        }
}

/* Reads every pending packet notification and schedules its release. */
static void receive(uint64_t delay_usec, uint64_t jitter_usec, uint64_t *rng) {
        char buf[65536] __attribute__((aligned(4)));
        for (;;) {
                ssize_t n = recv(nl_fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n <= 0)
                        return;
                for (struct nlmsghdr *nh = (struct nlmsghdr *) buf; NLMSG_OK(nh, (size_t) n); nh = NLMSG_NEXT(nh, n)) {
                        if (nh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
                                continue;
                        struct nfgenmsg *g = NLMSG_DATA(nh);
                        char *p = (char *) g + NLMSG_ALIGN(sizeof *g), *end = (char *) nh + nh->nlmsg_len;
                        while (p + NLA_HDRLEN <= end) {
                                struct nlattr *a = (struct nlattr *) p;
                                if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
                                        break;
                                if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
                                    a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
                                        struct nfqnl_msg_packet_hdr h;
                                        memcpy(&h, p + NLA_HDRLEN, sizeof h);
                                        uint32_t id = ntohl(h.packet_id);
                                        if (ring_len == QUEUE_MAX) {
                                                struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_DROP), .id = htonl(id) };
                                                (void) nfq_send(NFQNL_MSG_VERDICT, NFQA_VERDICT_HDR, &v, sizeof v);
                                                break;
                                        }
                                        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
                                        uint64_t rel = now_usec() + delay_usec + (jitter_usec ? *rng % jitter_usec : 0);
                                        if (ring_len > 0) {
                                                uint64_t last = ring[(ring_head + ring_len - 1) % QUEUE_MAX].release_usec;
                                                if (rel < last)
                                                        rel = last;
                                        }
                                        ring[(ring_head + ring_len) % QUEUE_MAX] = (Held) { .id = id, .release_usec = rel };
                                        ring_len++;
                                        break;
                                }
                                p += NLA_ALIGN(a->nla_len);
                        }
                }
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "queue", required_argument, NULL, 'q' },   { "delay-ms", required_argument, NULL, 'd' },
                { "jitter-ms", required_argument, NULL, 'j' }, { "seconds", required_argument, NULL, 's' }, {},
        };
        double delay_ms = 50, jitter_ms = 0, seconds = 600;
        int o;
        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (o) {
                case 'q': queue_num = (uint16_t) atoi(optarg); break;
                case 'd': delay_ms = atof(optarg); break;
                case 'j': jitter_ms = atof(optarg); break;
                case 's': seconds = atof(optarg); break;
                default: return 2;
                }
        if (delay_ms < 0 || delay_ms > 10000 || jitter_ms < 0 || jitter_ms > 10000 || seconds <= 0) {
                fprintf(stderr, "usage: chaos-netdelay [--queue N] --delay-ms MS [--jitter-ms MS] [--seconds S]\n");
                return 2;
        }
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        struct sockaddr_nl me = { .nl_family = AF_NETLINK };
        int one = 1, big = 8 << 20;
        if (nl_fd < 0 || bind(nl_fd, (struct sockaddr *) &me, sizeof me) < 0) {
                perror("chaos-netdelay: netlink");
                return 1;
        }
        (void) setsockopt(nl_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
        (void) setsockopt(nl_fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
        struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET) };
        struct nfqnl_msg_config_params params = { .copy_range = htonl(0), .copy_mode = NFQNL_COPY_META };
        uint32_t maxlen = htonl(QUEUE_MAX);
        if (nfq_send(NFQNL_MSG_CONFIG, NFQA_CFG_CMD, &cmd, sizeof cmd) < 0 ||
            nfq_send(NFQNL_MSG_CONFIG, NFQA_CFG_PARAMS, &params, sizeof params) < 0 ||
            nfq_send(NFQNL_MSG_CONFIG, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen) < 0) {
                perror("chaos-netdelay: bind queue");
                return 1;
        }
        fprintf(stderr, "chaos-netdelay: queue %u, delay %.1f ms (+%.1f ms jitter), up to %.0f s\n", queue_num, delay_ms,
                jitter_ms, seconds);
        uint64_t rng = 0x2545f4914f6cdd1dull, end = now_usec() + (uint64_t) (seconds * 1e6);
        while (!stop && now_usec() < end) {
                uint64_t now = now_usec();
                int timeout = 100;
                if (ring_len > 0) {
                        uint64_t due = ring[ring_head].release_usec;
                        timeout = due <= now ? 0 : (int) ((due - now) / 1000u);
                        if (timeout > 100)
                                timeout = 100;
                }
                struct pollfd p = { .fd = nl_fd, .events = POLLIN };
                (void) poll(&p, 1, timeout);
                if (p.revents & POLLIN)
                        receive((uint64_t) (delay_ms * 1000), (uint64_t) (jitter_ms * 1000), &rng);
                release_due(now_usec(), false);
        }
        release_due(0, true);
        close(nl_fd);
        return 0;
}
