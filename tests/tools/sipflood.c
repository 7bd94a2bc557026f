/* sipflood: a SIP flood for the overload tests (tests/integration/flood.sh).
 * sipp cannot send fast enough to overload the switch from one address, so
 * this sends pre-built requests with sendmmsg, paced to a packet rate, from
 * one local address, for a bounded time. Loopback only: the target must be
 * in 127.0.0.0/8.
 *
 *   sipflood --from 127.0.0.2 --to 127.0.0.1:5060 [--rate PPS] [--seconds S]
 *            [--method INVITE|OPTIONS] [--user-agent TEXT] [--distinct N]
 *            [--to-user USER]
 *
 * Requests are numbered (Call-ID, branch, From tag) modulo N (default: no
 * repeat), so the switch cannot absorb them as retransmissions. --rate 0 sends as fast as
 * the socket takes them. Prints what it sent: "sent P packets in S s (R pps)".
 * Responses are read and counted (non-blocking, between batches). */
#define _GNU_SOURCE /* sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SECONDS 120 /* a runaway flood stops by itself */

typedef struct options {
    const char *from;
    const char *to;
    uint64_t rate;
    double seconds;
    const char *method;
    const char *user_agent;
    uint64_t distinct;
    const char *to_user;
} options_t;

static void usage(void)
{
    fprintf(stderr, "usage: sipflood --from IP --to IP:PORT [--rate PPS] [--seconds S] [--method INVITE|OPTIONS]\n"
                    "                [--user-agent TEXT] [--distinct N] [--to-user USER]\n");
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void parse_args(int argc, char **argv, options_t *o)
{
    *o = (options_t){.rate = 50000, .seconds = 5, .method = "INVITE", .user_agent = "sipflood", .distinct = UINT64_MAX,
                     .to_user = "flood"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--from") == 0)
            o->from = v;
        else if (strcmp(a, "--to") == 0)
            o->to = v;
        else if (strcmp(a, "--rate") == 0)
            o->rate = strtoull(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--method") == 0)
            o->method = v;
        else if (strcmp(a, "--user-agent") == 0)
            o->user_agent = v;
        else if (strcmp(a, "--distinct") == 0)
            o->distinct = strtoull(v, NULL, 10);
        else if (strcmp(a, "--to-user") == 0)
            o->to_user = v;
        else
            usage();
        i++;
    }
    if (!o->from || !o->to || o->distinct == 0 || o->seconds <= 0)
        usage();
    if (o->seconds > MAX_SECONDS)
        o->seconds = MAX_SECONDS;
}

static void parse_target(const char *text, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
        usage();
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 || (ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "sipflood: %s: only loopback (127.0.0.0/8) targets\n", text);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    options_t o;
    parse_args(argc, argv, &o);
    struct sockaddr_in to, from;
    parse_target(o.to, &to);
    memset(&from, 0, sizeof from);
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, o.from, &from.sin_addr) != 1)
        usage();
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof from) != 0) {
        perror("sipflood: bind");
        return 1;
    }
    socklen_t fl = sizeof from;
    getsockname(fd, (struct sockaddr *)&from, &fl);
    char host[32];
    inet_ntop(AF_INET, &to.sin_addr, host, sizeof host);

    /* one request, built once; each packet gets its own number written into
     * the branch, the From tag and the Call-ID (fixed-width hex), so the
     * switch cannot absorb any as a retransmission */
    char tmpl[1024];
    unsigned pid = (unsigned)getpid();
    int tl = snprintf(tmpl, sizeof tmpl,
                      "%s sip:%s@%s:%u SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP %s:%u;branch=z9hG4bKfl%x.@@@@@@@@@@@@@@@@;rport\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:flood@%s>;tag=@@@@@@@@@@@@@@@@\r\n"
                      "To: <sip:%s@%s>\r\n"
                      "Call-ID: @@@@@@@@@@@@@@@@-%x@%s\r\n"
                      "CSeq: 1 %s\r\n"
                      "Contact: <sip:flood@%s:%u>\r\n"
                      "User-Agent: %s\r\n"
                      "Content-Length: 0\r\n\r\n",
                      o.method, o.to_user, host, ntohs(to.sin_port), o.from, ntohs(from.sin_port), pid, o.from,
                      o.to_user, host, pid, o.from, o.method, o.from, ntohs(from.sin_port), o.user_agent);
    if (tl <= 0 || (size_t)tl >= sizeof tmpl) {
        fprintf(stderr, "sipflood: request too long\n");
        return 2;
    }
    size_t marks[3], n_marks = 0;
    for (const char *m = tmpl; n_marks < 3 && (m = strstr(m, "@@@@@@@@@@@@@@@@")) != NULL; m += 16)
        marks[n_marks++] = (size_t)(m - tmpl);
    static char bufs[BATCH][1024];
    for (int i = 0; i < BATCH; i++)
        memcpy(bufs[i], tmpl, (size_t)tl);
    uint64_t number = 0;

    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    uint64_t sent = 0, send_errors = 0, responses = 0;
    double start = now_s(), end = start + o.seconds;
    char rbuf[2048];
    for (double t = start; t < end; t = now_s()) {
        /* pacing: as many as the rate allows by now, one batch at a time */
        uint64_t due = o.rate ? (uint64_t)((t - start) * (double)o.rate) : sent + BATCH;
        if (sent >= due) {
            struct timespec pause = {0, 200000};
            nanosleep(&pause, NULL);
        } else {
            int n = due - sent < BATCH ? (int)(due - sent) : BATCH;
            for (int i = 0; i < n; i++) {
                char hex[17];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)(number++ % o.distinct));
                for (size_t k = 0; k < n_marks; k++)
                    memcpy(bufs[i] + marks[k], hex, 16);
                iov[i].iov_base = bufs[i];
                iov[i].iov_len = (size_t)tl;
                memset(&mm[i], 0, sizeof mm[i]);
                mm[i].msg_hdr.msg_name = &to;
                mm[i].msg_hdr.msg_namelen = sizeof to;
                mm[i].msg_hdr.msg_iov = &iov[i];
                mm[i].msg_hdr.msg_iovlen = 1;
            }
            int r = sendmmsg(fd, mm, (unsigned)n, 0);
            if (r > 0)
                sent += (uint64_t)r;
            if (r < n) {
                send_errors += (uint64_t)(n - (r > 0 ? r : 0));
                sent += (uint64_t)(n - (r > 0 ? r : 0)); /* counted as offered: keep the pace */
            }
        }
        while (recv(fd, rbuf, sizeof rbuf, MSG_DONTWAIT) > 0)
            responses++;
    }
    double took = now_s() - start;
    printf("sent %llu packets in %.1f s (%.0f pps), %llu send errors, %llu responses\n",
           (unsigned long long)(sent - send_errors), took, (double)(sent - send_errors) / took,
           (unsigned long long)send_errors, (unsigned long long)responses);
    close(fd);
    return 0;
}
