/*
 * The heartbeat counter of bench/nat_keepalive.sh: a packet socket on the
 * loopback interface that sees every UDP datagram the switch sends from
 * its SIP port, whatever its destination, so that a million NAT devices
 * (127.x addresses x ports nobody listens on) can be told apart without a
 * million sockets. A kernel filter keeps only those datagrams, received
 * once (not also as outgoing). Per device it counts the heartbeats that
 * arrive within the measuring window and the gaps between consecutive
 * ones; at the end it prints one summary line of key=value pairs.
 *
 *   nat_keepalive_sink SWITCH_PORT BASE_IP BASE_PORT PORTS_PER_IP DEVICES WARMUP_S MEASURE_S PAYLOAD
 *
 * Device i is BASE_IP + i / PORTS_PER_IP, port BASE_PORT + i % PORTS_PER_IP
 * (tests/modules/fake_registrar.c's numbering). Needs CAP_NET_RAW (root).
 * Runs WARMUP_S + MEASURE_S seconds, then exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 256
#define SNAP 128

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Incoming (not outgoing) IPv4 UDP, not a fragment, from source port `port`. */
static int attach_filter(int fd, unsigned port)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 10),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, 0, 8),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),            /* protocol */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 6),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),            /* flags + fragment offset */
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),           /* x = IP header length */
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),            /* UDP source port */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SNAP),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: %s SWITCH_PORT BASE_IP BASE_PORT PORTS_PER_IP DEVICES WARMUP_S MEASURE_S PAYLOAD\n",
                argv[0]);
        return 2;
    }
    unsigned switch_port = (unsigned)atoi(argv[1]);
    struct in_addr base_addr;
    if (inet_pton(AF_INET, argv[2], &base_addr) != 1)
        return 2;
    uint32_t base_ip = ntohl(base_addr.s_addr);
    unsigned base_port = (unsigned)atoi(argv[3]), per_ip = (unsigned)atoi(argv[4]);
    size_t devices = (size_t)atol(argv[5]);
    uint64_t warmup_ns = (uint64_t)atol(argv[6]) * 1000000000u, measure_ns = (uint64_t)atol(argv[7]) * 1000000000u;
    const char *payload = argv[8];
    size_t payload_len = strlen(payload);

    /* ETH_P_ALL: the tap comes before the ingress filter that bench's
     * private namespace uses to drop the heartbeats (no ICMP back) */
    int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
    if (fd < 0) {
        perror("packet socket (root needed)");
        return 1;
    }
    int rcvbuf = 256 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                             .sll_ifindex = (int)if_nametoindex("lo")};
    if (attach_filter(fd, switch_port) != 0 || bind(fd, (struct sockaddr *)&ll, sizeof ll) != 0) {
        perror("filter/bind");
        return 1;
    }
    uint32_t *counts = calloc(devices, sizeof *counts);
    uint64_t *last = calloc(devices, sizeof *last);
    if (!counts || !last)
        return 1;

    static unsigned char bufs[BATCH][SNAP];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = SNAP};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    uint64_t start = now_ns(), from = start + warmup_ns, until = from + measure_ns;
    uint64_t packets = 0, in_window = 0, foreign = 0, bad_payload = 0, gaps = 0;
    uint64_t min_gap = UINT64_MAX, max_gap = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= until)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        t = now_ns();
        for (int i = 0; i < n; i++) {
            const unsigned char *ip = bufs[i];
            size_t len = msgs[i].msg_len < SNAP ? msgs[i].msg_len : SNAP;
            size_t ihl = (size_t)(ip[0] & 15u) * 4;
            if (len < ihl + 8)
                continue;
            packets++;
            uint32_t dst = (uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 | (uint32_t)ip[18] << 8 | ip[19];
            unsigned dport = (unsigned)ip[ihl + 2] << 8 | ip[ihl + 3];
            size_t body = (size_t)((unsigned)ip[ihl + 4] << 8 | ip[ihl + 5]) - 8;
            if (body != payload_len || len < ihl + 8 + body || memcmp(ip + ihl + 8, payload, body) != 0)
                bad_payload++;
            if (dst < base_ip || dport < base_port || dport >= base_port + per_ip) {
                foreign++;
                continue;
            }
            size_t dev = (size_t)(dst - base_ip) * per_ip + (dport - base_port);
            if (dev >= devices) {
                foreign++;
                continue;
            }
            if (t >= from) {
                in_window++;
                counts[dev]++;
                if (last[dev] >= from) {
                    uint64_t gap = t - last[dev];
                    gaps++;
                    min_gap = gap < min_gap ? gap : min_gap;
                    max_gap = gap > max_gap ? gap : max_gap;
                }
            }
            last[dev] = t;
        }
    }
    uint32_t min_count = UINT32_MAX, max_count = 0;
    size_t silent = 0, hist[8] = {0};
    for (size_t d = 0; d < devices; d++) {
        min_count = counts[d] < min_count ? counts[d] : min_count;
        max_count = counts[d] > max_count ? counts[d] : max_count;
        silent += counts[d] == 0;
        hist[counts[d] < 7 ? counts[d] : 7]++;
    }
    struct tpacket_stats st = {0};
    socklen_t sl = sizeof st;
    getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);
    printf("packets=%llu in_window=%llu silent_devices=%zu min_count=%u max_count=%u min_gap_ms=%.1f "
           "max_gap_ms=%.1f gaps=%llu foreign=%llu bad_payload=%llu kernel_drops=%u count_hist=%zu,%zu,%zu,%zu,%zu,"
           "%zu,%zu,%zu\n",
           (unsigned long long)packets, (unsigned long long)in_window, silent, min_count, max_count,
           gaps ? (double)min_gap / 1e6 : 0.0, (double)max_gap / 1e6, (unsigned long long)gaps,
           (unsigned long long)foreign, (unsigned long long)bad_payload, st.tp_drops, hist[0], hist[1], hist[2],
           hist[3], hist[4], hist[5], hist[6], hist[7]);
    return 0;
}
