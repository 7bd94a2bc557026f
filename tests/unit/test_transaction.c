/* The transaction layer on a real libuv loop with real sockets: the switch
 * side is a UDP listener of the core (sw_udp_listen on 127.0.0.1, ephemeral
 * port); the far end of every exchange is a plain socket of this test, on
 * 127.0.0.1 too, whose datagrams are captured with their arrival time by a
 * uv_poll on the same loop. Requests "from" the far end are parsed and handed
 * to sw_tx_server_receive with the far end as origin; responses to client
 * transactions are handed to sw_tx_client_receive (or, over TCP, written on
 * the accepted connection so they take the transport's read path). Timers
 * are in milliseconds: resend 10, 20, 40 ms, T1 5 ms (64*T1 = 320 ms). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "loop_jobs.h"
#include "net/transport.h"
#include "sip/frontdoor.h"
#include "sip/sip.h"
#include "sip/transaction.h"
#include "stats/metrics.h"

#define SWITCH_SOCKET 1
#define MAX_CAPTURED 512

static uv_loop_t *loop;

/* ---- the far end: a UDP socket whose datagrams are captured -------------------- */

typedef struct captured {
    char *data;
    size_t len;
    double at_ms;               /* arrival, uv_hrtime in ms */
} captured_t;

typedef struct peer {
    int fd;
    uv_poll_t poll;
    struct sockaddr_in addr;
    captured_t msgs[MAX_CAPTURED];
    size_t n;
    bool polling;
} peer_t;

static peer_t ua; /* the UA that talks to the switch (server tests) or the gateway (client tests) */

static double now_ms(void)
{
    return (double)uv_hrtime() / 1e6;
}

static void on_peer_readable(uv_poll_t *h, int status, int events)
{
    peer_t *p = h->data;
    (void)status;
    (void)events;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0)
            return;
        if (p->n < MAX_CAPTURED) {
            captured_t *c = &p->msgs[p->n++];
            c->data = malloc((size_t)n + 1);
            assert_non_null(c->data);
            memcpy(c->data, buf, (size_t)n);
            c->data[n] = '\0';
            c->len = (size_t)n;
            c->at_ms = now_ms();
        }
    }
}

static void peer_open(peer_t *p)
{
    memset(p, 0, sizeof *p);
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(p->fd >= 0);
    int big = 4 << 20;
    setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    p->addr.sin_family = AF_INET;
    p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&p->addr, sizeof p->addr), 0);
    socklen_t len = sizeof p->addr;
    getsockname(p->fd, (struct sockaddr *)&p->addr, &len);
    uv_poll_init(loop, &p->poll, p->fd);
    p->poll.data = p;
    uv_poll_start(&p->poll, UV_READABLE, on_peer_readable);
    p->polling = true;
}

static void peer_forget(peer_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->msgs[i].data);
    p->n = 0;
}

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void peer_close(peer_t *p)
{
    peer_forget(p);
    if (p->polling) {
        uv_poll_stop(&p->poll);
        uv_close((uv_handle_t *)&p->poll, handle_closed);
        p->polling = false;
    }
    close(p->fd);
}

static uint16_t peer_port(const peer_t *p)
{
    return ntohs(p->addr.sin_port);
}

/* How many captured messages start with `start` (a status or request line). */
static size_t count_starting(const peer_t *p, const char *start)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->msgs[i].data, start, strlen(start)) == 0)
            n++;
    return n;
}

static const captured_t *first_starting(const peer_t *p, const char *start)
{
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->msgs[i].data, start, strlen(start)) == 0)
            return &p->msgs[i];
    return NULL;
}

/* ---- running the loop --------------------------------------------------------------- */

static void on_stop(uv_timer_t *t)
{
    (void)t;
    uv_stop(loop);
}

static void run_for(unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_stop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, handle_closed);
    uv_run(loop, UV_RUN_NOWAIT);
}

typedef bool (*predicate_fn)(void *arg);
typedef struct wait_ctx {
    predicate_fn done;
    void *arg;
} wait_ctx_t;

static void on_check(uv_timer_t *t)
{
    wait_ctx_t *w = t->data;
    if (w->done(w->arg))
        uv_stop(loop);
}

/* Runs until done(arg) or max_ms; returns done(arg). */
static bool run_until(predicate_fn done, void *arg, unsigned max_ms)
{
    wait_ctx_t w = {done, arg};
    uv_timer_t check, stop;
    uv_timer_init(loop, &check);
    uv_timer_init(loop, &stop);
    check.data = &w;
    uv_timer_start(&check, on_check, 1, 1);
    uv_timer_start(&stop, on_stop, max_ms, 0);
    if (!done(arg))
        uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&check, handle_closed);
    uv_close((uv_handle_t *)&stop, handle_closed);
    uv_run(loop, UV_RUN_NOWAIT);
    return done(arg);
}

static bool no_transactions(void *arg)
{
    (void)arg;
    return sw_tx_count(SW_TX_SERVER_INVITE) + sw_tx_count(SW_TX_SERVER_NON_INVITE) +
               sw_tx_count(SW_TX_CLIENT_INVITE) + sw_tx_count(SW_TX_CLIENT_NON_INVITE) ==
           0;
}

/* ---- messages ----------------------------------------------------------------------- */

static sw_msg_t *parse_text(const char *text)
{
    size_t len = strlen(text);
    sw_frame_t fr;
    memset(&fr, 0, sizeof fr);
    assert_int_equal(sw_sip_frame(text, len, false, 65535, &fr), SW_FRAME_OK);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(text + fr.skipped, fr.total - fr.skipped, &err);
    if (!m)
        fail_msg("parse failed: %s\n%s", err, text);
    return m;
}

/* A request from the UA peer: parsed, with the UA as its origin. */
static sw_msg_t *from_ua(const char *fmt, ...) SW_PRINTF(1, 2);
static sw_msg_t *from_ua(const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    sw_msg_t *m = parse_text(text);
    m->origin.transport = SW_TRANSPORT_UDP;
    m->origin.socket_id = SWITCH_SOCKET;
    sw_fill_origin_addr(&m->origin, (struct sockaddr *)&ua.addr);
    return m;
}

#define REQ(method, ruri, branch_param, call_id, cseq, to_tag_param)                                              \
    method " " ruri " SIP/2.0\r\n"                                                                                 \
    "Via: SIP/2.0/UDP 127.0.0.1:%u" branch_param ";rport\r\n"                                                     \
    "Max-Forwards: 70\r\n"                                                                                         \
    "From: <sip:alice@example.net>;tag=f1\r\n"                                                                     \
    "To: <sip:bob@example.com>" to_tag_param "\r\n"                                                                \
    "Call-ID: " call_id "\r\n"                                                                                     \
    "CSeq: " cseq "\r\n"                                                                                           \
    "Content-Length: 0\r\n\r\n"

/* Receives a request through the layer; returns the match, *tx set. */
static sw_tx_match_t receive(sw_msg_t *m, sw_tx_t **tx, sw_tx_t **cancel_tx)
{
    sw_tx_match_t r = sw_tx_server_receive(m, tx, cancel_tx);
    sw_msg_free(m);
    return r;
}

/* The To tag of a captured response ("" when none). */
static void to_tag_of(const char *msg, char *out, size_t n)
{
    out[0] = '\0';
    const char *to = strstr(msg, "\r\nTo: ");
    assert_non_null(to);
    const char *eol = strstr(to + 2, "\r\n");
    const char *tag = strstr(to, ";tag=");
    if (!tag || tag > eol)
        return;
    tag += 5;
    size_t len = (size_t)(eol - tag);
    snprintf(out, n, "%.*s", (int)len, tag);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static void configure(const uint32_t *schedule, size_t n)
{
    sw_tx_settings_t s;
    sw_tx_default_settings(&s);
    memcpy(s.resend_ms, schedule, n * sizeof *schedule);
    s.n_resend = n;
    s.t1_ms = 5;
    s.t4_ms = 50;
    s.non_invite_timeout_ms = 320;
    s.invite_server_timeout_ms = 320;
    s.linger_slot_ms = 0; /* exact timers: the tests below time them (slots: test_finished_timers_share_slots) */
    s.force_rport = true;
    sw_tx_configure(&s);
}

static const uint32_t default_schedule[] = {10, 20, 40};

static int setup(void **state)
{
    (void)state;
    configure(default_schedule, 3);
    peer_open(&ua);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sw_tx_shutdown();
    assert_true(no_transactions(NULL));
    peer_close(&ua);
    uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    loop = uv_default_loop();
    sw_loop_jobs_init(loop);
    sw_listen_spec_t spec = {.transport = SW_TRANSPORT_UDP, .host = "127.0.0.1", .port = 0};
    char err[256];
    if (sw_udp_listen(&spec, SWITCH_SOCKET, err, sizeof err) != 0) {
        fprintf(stderr, "cannot listen: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sw_tx_shutdown();
    sw_transport_stop();
    uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}

/* ---- server side --------------------------------------------------------------------- */

static void test_server_new_invite_gets_100_at_once(void **state)
{
    (void)state;
    sw_tx_t *tx = NULL;
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs1", "s1@test", "1 INVITE", ""),
                                     peer_port(&ua)),
                             &tx, NULL),
                     SW_TX_NEW);
    assert_non_null(tx);
    assert_int_equal(sw_tx_kind(tx), SW_TX_SERVER_INVITE);
    assert_string_equal(sw_tx_branch(tx), "z9hG4bKs1");
    assert_string_equal(sw_tx_call_id(tx), "s1@test");
    assert_int_equal(sw_tx_count(SW_TX_SERVER_INVITE), 1);
    run_for(5);
    assert_int_equal(ua.n, 1);
    assert_int_equal(count_starting(&ua, "SIP/2.0 100 Trying\r\n"), 1);
    char tag[64];
    to_tag_of(ua.msgs[0].data, tag, sizeof tag);
    assert_string_equal(tag, ""); /* a 100 carries no tag */
    assert_non_null(strstr(ua.msgs[0].data, ";rport=")); /* top Via filled in */
}

static void test_server_invite_answered_at_once_sends_no_100(void **state)
{
    (void)state;
    sw_tx_t *tx = NULL;
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs2", "s2@test", "1 INVITE", ""),
                                     peer_port(&ua)),
                             &tx, NULL),
                     SW_TX_NEW);
    sw_tx_reply_t r = {.code = 404, .reason = "Not Found (no route)"};
    assert_int_equal(sw_tx_server_respond(tx, &r), 0);
    run_for(5);
    assert_int_equal(count_starting(&ua, "SIP/2.0 100"), 0);
    assert_int_equal(count_starting(&ua, "SIP/2.0 404 Not Found (no route)\r\n"), 1);
    /* a second final is refused */
    sw_tx_reply_t again = {.code = 500};
    assert_int_equal(sw_tx_server_respond(tx, &again), -1);
}

static void test_server_invite_retransmission_absorbed(void **state)
{
    (void)state;
    char invite[1024];
    snprintf(invite, sizeof invite, REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs3", "s3@test", "1 INVITE", ""), peer_port(&ua));
    sw_tx_t *tx = NULL, *again = NULL;
    assert_int_equal(receive(from_ua("%s", invite), &tx, NULL), SW_TX_NEW);
    run_for(3);
    assert_int_equal(count_starting(&ua, "SIP/2.0 100"), 1);
    uint64_t absorbed = sw_metrics.tx_absorbed;
    assert_int_equal(receive(from_ua("%s", invite), &again, NULL), SW_TX_RETRANSMISSION);
    assert_ptr_equal(again, tx);
    assert_int_equal(sw_metrics.tx_absorbed, absorbed + 1);
    run_for(3);
    assert_int_equal(count_starting(&ua, "SIP/2.0 100"), 2); /* the last response again */
    sw_tx_reply_t ringing = {.code = 180, .to_tag = "ring1"};
    assert_int_equal(sw_tx_server_respond(tx, &ringing), 0);
    assert_int_equal(receive(from_ua("%s", invite), &again, NULL), SW_TX_RETRANSMISSION);
    run_for(3);
    assert_int_equal(count_starting(&ua, "SIP/2.0 180 Ringing"), 2);
    assert_int_equal(sw_tx_count(SW_TX_SERVER_INVITE), 1);
    /* same branch, other Call-ID: another request (a peer reusing branches) */
    sw_tx_t *other = NULL;
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs3", "s3-other@test",
                                         "1 INVITE", ""),
                                     peer_port(&ua)),
                             &other, NULL),
                     SW_TX_NEW);
    assert_ptr_not_equal(other, tx);
}

/* The gaps between retransmissions: each within a few ms of the schedule. */
static void assert_gaps(const peer_t *p, const char *start, const uint32_t *schedule, size_t n)
{
    const captured_t *prev = NULL;
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strncmp(p->msgs[i].data, start, strlen(start)) != 0)
            continue;
        if (prev) {
            assert_true(k < n);
            double gap = p->msgs[i].at_ms - prev->at_ms;
            if (gap < schedule[k] - 2.0 || gap > schedule[k] + 15.0)
                fail_msg("retransmission %zu came %.1f ms after the previous one; the schedule says %u", k + 1,
                         gap, schedule[k]);
            k++;
        }
        prev = &p->msgs[i];
    }
}

static void test_server_non2xx_retransmitted_until_ack(void **state)
{
    (void)state;
    sw_tx_t *tx = NULL;
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs4", "s4@test", "1 INVITE", ""),
                                     peer_port(&ua)),
                             &tx, NULL),
                     SW_TX_NEW);
    uint64_t resent = sw_metrics.tx_retransmissions;
    sw_tx_reply_t busy = {.code = 486, .to_tag = "busy4"};
    assert_int_equal(sw_tx_server_respond(tx, &busy), 0);
    run_for(45); /* sent at 0, again at 10 and 30 */
    assert_int_equal(count_starting(&ua, "SIP/2.0 486"), 3);
    assert_gaps(&ua, "SIP/2.0 486", default_schedule, 3);
    assert_int_equal(sw_metrics.tx_retransmissions, resent + 2);
    /* the ACK (same branch, our tag) stops them */
    sw_tx_t *acked = (sw_tx_t *)1;
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", ";branch=z9hG4bKs4", "s4@test", "1 ACK",
                                         ";tag=busy4"),
                                     peer_port(&ua)),
                             &acked, NULL),
                     SW_TX_ACK_ABSORBED);
    assert_null(acked);
    /* Confirmed absorbs a retransmitted ACK until timer I (T4 = 50 ms) */
    assert_int_equal(sw_tx_count(SW_TX_SERVER_INVITE), 1);
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", ";branch=z9hG4bKs4", "s4@test", "1 ACK",
                                         ";tag=busy4"),
                                     peer_port(&ua)),
                             NULL, NULL),
                     SW_TX_ACK_ABSORBED);
    double start = now_ms();
    assert_true(run_until(no_transactions, NULL, 200));
    assert_true(now_ms() - start >= 45);
    run_for(60);
    assert_int_equal(count_starting(&ua, "SIP/2.0 486"), 3);
}

static void test_server_non2xx_timer_h(void **state)
{
    (void)state;
    sw_tx_t *tx = NULL;
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs5", "s5@test", "1 INVITE", ""),
                                     peer_port(&ua)),
                             &tx, NULL),
                     SW_TX_NEW);
    uint64_t timeouts = sw_metrics.tx_timeouts;
    sw_tx_reply_t busy = {.code = 503};
    sw_tx_server_respond(tx, &busy);
    double start = now_ms();
    assert_true(run_until(no_transactions, NULL, 1000));
    double took = now_ms() - start;
    assert_true(took >= 310 && took < 600); /* H = 320 ms */
    /* the schedule's length bounds the retransmissions: 1 + 3 */
    assert_int_equal(count_starting(&ua, "SIP/2.0 503"), 4);
    assert_int_equal(sw_metrics.tx_timeouts, timeouts + 1);
}

typedef struct tu_record {
    int no_ack, terminated;
    int responses, timeouts, transport_errors;
    int last_code;
    int codes[16];
    sw_tx_t *tx;
} tu_record_t;

static void on_no_ack(sw_tx_t *tx, void *ud)
{
    tu_record_t *r = ud;
    assert_ptr_equal(tx, r->tx);
    r->no_ack++;
}

static void on_server_terminated(sw_tx_t *tx, void *ud)
{
    tu_record_t *r = ud;
    assert_ptr_equal(tx, r->tx);
    r->terminated++;
}

static const sw_tx_server_cbs_t server_cbs = {.on_no_ack = on_no_ack, .on_terminated = on_server_terminated};

static void test_server_2xx_accepted_until_ack(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs6", "s6@test", "1 INVITE", ""),
                                     peer_port(&ua)),
                             &rec.tx, NULL),
                     SW_TX_NEW);
    sw_tx_server_set_user(rec.tx, &server_cbs, &rec);
    static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
    sw_tx_reply_t ok = {.code = 200,
                        .to_tag = "ok6",
                        .extra_headers = "Contact: <sip:switch@127.0.0.1>\r\n",
                        .content_type = "application/sdp",
                        .body = sdp,
                        .body_len = sizeof sdp - 1};
    assert_int_equal(sw_tx_server_respond(rec.tx, &ok), 0);
    run_for(45);
    assert_int_equal(count_starting(&ua, "SIP/2.0 200 OK"), 3);
    const captured_t *first = first_starting(&ua, "SIP/2.0 200 OK");
    char body_headers[128];
    snprintf(body_headers, sizeof body_headers, "\r\nContent-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n%s",
             sizeof sdp - 1, sdp);
    assert_non_null(strstr(first->data, body_headers));
    assert_non_null(strstr(first->data, "\r\nTo: <sip:bob@example.com>;tag=ok6\r\n"));
    /* the ACK of a 2xx has a branch of its own: matched by the dialog */
    sw_tx_t *confirmed = NULL;
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:switch@127.0.0.1", ";branch=z9hG4bKs6ack", "s6@test", "1 ACK",
                                         ";tag=ok6"),
                                     peer_port(&ua)),
                             &confirmed, NULL),
                     SW_TX_ACK_2XX);
    assert_ptr_equal(confirmed, rec.tx);
    run_for(90);
    assert_int_equal(count_starting(&ua, "SIP/2.0 200 OK"), 3); /* stopped */
    assert_int_equal(rec.terminated, 0);                     /* Accepted until timer L */
    assert_true(run_until(no_transactions, NULL, 500));
    assert_int_equal(rec.no_ack, 0);
    assert_int_equal(rec.terminated, 1);
}

static void test_server_2xx_timer_l_calls_on_no_ack(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs7", "s7@test", "1 INVITE", ""),
                    peer_port(&ua)),
            &rec.tx, NULL);
    sw_tx_server_set_user(rec.tx, &server_cbs, &rec);
    sw_tx_reply_t ok = {.code = 200};
    sw_tx_server_respond(rec.tx, &ok);
    assert_true(run_until(no_transactions, NULL, 1000));
    assert_int_equal(rec.no_ack, 1);
    assert_int_equal(rec.terminated, 1);
    assert_int_equal(count_starting(&ua, "SIP/2.0 200 OK"), 4);
}

static void test_server_non_invite_retransmission_resends_final(void **state)
{
    (void)state;
    char options[1024];
    snprintf(options, sizeof options, REQ("OPTIONS", "sip:switch@127.0.0.1", ";branch=z9hG4bKs8", "s8@test", "7 OPTIONS", ""), peer_port(&ua));
    sw_tx_t *tx = NULL;
    assert_int_equal(receive(from_ua("%s", options), &tx, NULL), SW_TX_NEW);
    assert_int_equal(sw_tx_kind(tx), SW_TX_SERVER_NON_INVITE);
    /* nothing sent yet: a retransmission is absorbed silently */
    assert_int_equal(receive(from_ua("%s", options), NULL, NULL), SW_TX_RETRANSMISSION);
    run_for(3);
    assert_int_equal(ua.n, 0);
    sw_tx_reply_t ok = {.code = 200, .extra_headers = "Allow: INVITE, ACK\r\n"};
    assert_int_equal(sw_tx_server_respond(tx, &ok), 0);
    assert_int_equal(receive(from_ua("%s", options), NULL, NULL), SW_TX_RETRANSMISSION);
    run_for(30);
    /* no retransmission of its own (non-INVITE), one per request retransmission */
    assert_int_equal(ua.n, 2);
    assert_int_equal(ua.msgs[0].len, ua.msgs[1].len);
    assert_memory_equal(ua.msgs[0].data, ua.msgs[1].data, ua.msgs[0].len);
    char tag[64];
    to_tag_of(ua.msgs[0].data, tag, sizeof tag);
    assert_true(strncmp(tag, "sw", 2) == 0 && strlen(tag) == 18);
    /* timer J */
    assert_true(run_until(no_transactions, NULL, 600));
}

static void test_server_stateless_challenge_keeps_nothing(void **state)
{
    (void)state;
    char reg[1024];
    snprintf(reg, sizeof reg, REQ("REGISTER", "sip:127.0.0.1", ";branch=z9hG4bKst1", "st1@test", "1 REGISTER", ""),
             peer_port(&ua));
    sw_tx_t *tx = NULL;
    assert_int_equal(receive(from_ua("%s", reg), &tx, NULL), SW_TX_NEW);
    sw_tx_reply_t challenge = {.code = 401, .to_tag = "swfixed", .stateless = true,
                               .extra_headers = "WWW-Authenticate: Digest realm=\"x\", nonce=\"n1\"\r\n"};
    assert_int_equal(sw_tx_server_respond(tx, &challenge), 0);
    /* sent, and nothing kept: the retransmission is a new request */
    assert_int_equal(sw_tx_count(SW_TX_SERVER_NON_INVITE), 0);
    run_for(3);
    assert_int_equal(count_starting(&ua, "SIP/2.0 401"), 1);
    assert_non_null(strstr(ua.msgs[0].data, ";tag=swfixed\r\n"));
    assert_int_equal(receive(from_ua("%s", reg), &tx, NULL), SW_TX_NEW);
    /* a provisional does not end it; the final without the flag keeps it (timer J) */
    sw_tx_reply_t trying = {.code = 100, .stateless = true}, ok = {.code = 200};
    assert_int_equal(sw_tx_server_respond(tx, &trying), 0);
    assert_int_equal(sw_tx_count(SW_TX_SERVER_NON_INVITE), 1);
    assert_int_equal(sw_tx_server_respond(tx, &ok), 0);
    assert_int_equal(receive(from_ua("%s", reg), NULL, NULL), SW_TX_RETRANSMISSION);
    assert_int_equal(sw_tx_count(SW_TX_SERVER_NON_INVITE), 1);
    assert_true(run_until(no_transactions, NULL, 600));

    /* an INVITE's challenge keeps its transaction: it waits for the ACK */
    sw_tx_t *inv = NULL;
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKst2", "st2@test",
                                         "1 INVITE", ""),
                                     peer_port(&ua)),
                             &inv, NULL),
                     SW_TX_NEW);
    sw_tx_reply_t proxy_challenge = {.code = 407, .to_tag = "swfixed2", .stateless = true};
    assert_int_equal(sw_tx_server_respond(inv, &proxy_challenge), 0);
    assert_int_equal(sw_tx_count(SW_TX_SERVER_INVITE), 1);
}

static void test_server_cancel_matches_pending_invite(void **state)
{
    (void)state;
    sw_tx_t *invite = NULL, *matched = NULL, *cancel_tx = NULL;
    receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs9", "s9@test", "4 INVITE", ""),
                    peer_port(&ua)),
            &invite, NULL);
    assert_true(sw_tx_server_pending(invite));
    char cancel[1024];
    snprintf(cancel, sizeof cancel, REQ("CANCEL", "sip:bob@example.com", ";branch=z9hG4bKs9", "s9@test", "4 CANCEL", ""), peer_port(&ua));
    assert_int_equal(receive(from_ua("%s", cancel), &matched, &cancel_tx), SW_TX_CANCEL);
    assert_ptr_equal(matched, invite);
    assert_non_null(cancel_tx);
    assert_ptr_not_equal(cancel_tx, invite);
    assert_int_equal(sw_tx_kind(cancel_tx), SW_TX_SERVER_NON_INVITE);
    sw_tx_reply_t ok = {.code = 200}, terminated = {.code = 487};
    assert_int_equal(sw_tx_server_respond(cancel_tx, &ok), 0);
    assert_int_equal(sw_tx_server_respond(invite, &terminated), 0);
    assert_false(sw_tx_server_pending(invite));
    /* the CANCEL retransmitted: its own transaction re-sends its 200 */
    assert_int_equal(receive(from_ua("%s", cancel), &matched, &cancel_tx), SW_TX_RETRANSMISSION);
    run_for(5);
    const captured_t *c200 = first_starting(&ua, "SIP/2.0 200");
    assert_non_null(c200);
    assert_non_null(strstr(c200->data, "\r\nCSeq: 4 CANCEL\r\n"));
    assert_int_equal(count_starting(&ua, "SIP/2.0 200"), 2);
    const captured_t *c487 = first_starting(&ua, "SIP/2.0 487");
    assert_non_null(c487);
    assert_non_null(strstr(c487->data, "\r\nCSeq: 4 INVITE\r\n"));
    /* a CANCEL matching nothing: its transaction, and no INVITE (481) */
    assert_int_equal(receive(from_ua(REQ("CANCEL", "sip:bob@example.com", ";branch=z9hG4bKnone", "s9@test",
                                         "4 CANCEL", ""),
                                     peer_port(&ua)),
                             &matched, &cancel_tx),
                     SW_TX_CANCEL);
    assert_null(matched);
    assert_non_null(cancel_tx);
}

static void test_server_cancel_through_front_door(void **state)
{
    (void)state;
    sw_tx_t *invite = NULL;
    receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKfd1", "fd1@test", "1 INVITE", ""),
                    peer_port(&ua)),
            &invite, NULL);
    sw_tx_server_set_user(invite, NULL, NULL); /* a TU that has not answered yet */
    char text[1024];
    snprintf(text, sizeof text, REQ("CANCEL", "sip:bob@example.com", ";branch=z9hG4bKfd1", "fd1@test", "1 CANCEL", ""),
             peer_port(&ua));
    sw_msg_origin_t origin;
    memset(&origin, 0, sizeof origin);
    origin.transport = SW_TRANSPORT_UDP;
    origin.socket_id = SWITCH_SOCKET;
    sw_fill_origin_addr(&origin, (struct sockaddr *)&ua.addr);
    sw_frontdoor_datagram(text, strlen(text), &origin);
    snprintf(text, sizeof text, REQ("CANCEL", "sip:bob@example.com", ";branch=z9hG4bKfd2", "fd2@test", "1 CANCEL", ""),
             peer_port(&ua));
    sw_frontdoor_datagram(text, strlen(text), &origin);
    run_for(5);
    assert_int_equal(count_starting(&ua, "SIP/2.0 200 OK"), 1);
    assert_int_equal(count_starting(&ua, "SIP/2.0 487"), 1);
    assert_int_equal(count_starting(&ua, "SIP/2.0 481"), 1);
    assert_non_null(strstr(first_starting(&ua, "SIP/2.0 481")->data, "fd2@test"));
}

static void test_server_front_door_answers_through_transactions(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, REQ("INVITE", "sip:4420@127.0.0.1", ";branch=z9hG4bKfd3", "fd3@test", "1 INVITE", ""),
             peer_port(&ua));
    sw_msg_origin_t origin;
    memset(&origin, 0, sizeof origin);
    origin.transport = SW_TRANSPORT_UDP;
    origin.socket_id = SWITCH_SOCKET;
    sw_fill_origin_addr(&origin, (struct sockaddr *)&ua.addr);
    sw_frontdoor_datagram(text, strlen(text), &origin);
    run_for(5);
    sw_frontdoor_datagram(text, strlen(text), &origin); /* retransmitted */
    run_for(5);
    assert_int_equal(count_starting(&ua, "SIP/2.0 100"), 0); /* answered at once */
    assert_int_equal(count_starting(&ua, "SIP/2.0 403"), 3); /* 403 (no [mapping] in this test), retransmitted at 10 ms, re-sent */
    char tag0[64], tag1[64];
    to_tag_of(ua.msgs[0].data, tag0, sizeof tag0);
    to_tag_of(ua.msgs[ua.n - 1].data, tag1, sizeof tag1);
    assert_string_equal(tag0, tag1);
    char ack[1024];
    snprintf(ack, sizeof ack,
             "ACK sip:4420@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKfd3;rport\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:alice@example.net>;tag=f1\r\nTo: <sip:bob@example.com>;tag=%s\r\n"
             "Call-ID: fd3@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
             peer_port(&ua), tag0);
    sw_frontdoor_datagram(ack, strlen(ack), &origin);
    size_t before = ua.n;
    run_for(100);
    assert_int_equal(ua.n, before); /* the ACK stopped the retransmissions */
}

static void test_server_rfc2543_matching(void **state)
{
    (void)state;
    /* no branch at all: Request-URI, tags, Call-ID, CSeq and top Via */
    char invite[1024];
    snprintf(invite, sizeof invite, REQ("INVITE", "sip:bob@example.com", "", "old@test", "9 INVITE", ""), peer_port(&ua));
    sw_tx_t *tx = NULL, *m = NULL, *cancel_tx = NULL;
    assert_int_equal(receive(from_ua("%s", invite), &tx, NULL), SW_TX_NEW);
    assert_null(sw_tx_branch(tx));
    assert_int_equal(receive(from_ua("%s", invite), &m, NULL), SW_TX_RETRANSMISSION);
    assert_ptr_equal(m, tx);
    /* another Request-URI, CSeq or top Via: another request */
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:carol@example.com", "", "old@test", "9 INVITE", ""),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_NEW);
    assert_ptr_not_equal(m, tx);
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", "", "old@test", "10 INVITE", ""),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_NEW);
    assert_int_equal(receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";received=10.0.0.1", "old@test",
                                         "9 INVITE", ""),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_NEW);
    /* the bare cookie is not RFC 3261 either */
    assert_int_equal(receive(from_ua(REQ("OPTIONS", "sip:bob@example.com", ";branch=z9hG4bK", "old2@test",
                                         "1 OPTIONS", ""),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_NEW);
    assert_null(sw_tx_branch(m));
    /* CANCEL: same Request-URI, Call-ID, From, To, CSeq number and Via */
    assert_int_equal(receive(from_ua(REQ("CANCEL", "sip:bob@example.com", "", "old@test", "9 CANCEL", ""),
                                     peer_port(&ua)),
                             &m, &cancel_tx),
                     SW_TX_CANCEL);
    assert_ptr_equal(m, tx);
    /* ACK: the To tag of our final response */
    sw_tx_reply_t busy = {.code = 486, .to_tag = "t2543"};
    sw_tx_server_respond(tx, &busy);
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", "", "old@test", "9 ACK", ";tag=wrong"),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_ACK_2XX); /* another tag: not this transaction's ACK */
    assert_null(m);
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", "", "old@test", "9 ACK", ";tag=t2543"),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_ACK_ABSORBED);
    run_for(2);
    size_t before = count_starting(&ua, "SIP/2.0 486");
    run_for(80);
    assert_int_equal(count_starting(&ua, "SIP/2.0 486"), before);
}

static void test_server_ack_with_new_branch_absorbed(void **state)
{
    (void)state;
    sw_tx_t *tx = NULL, *m = (sw_tx_t *)1;
    receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs10", "s10@test", "1 INVITE", ""),
                    peer_port(&ua)),
            &tx, NULL);
    sw_tx_reply_t nf = {.code = 404, .to_tag = "nf10"};
    sw_tx_server_respond(tx, &nf);
    /* some UAs put a fresh branch in the ACK of a non-2xx: the tag finds it */
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", ";branch=z9hG4bKs10other", "s10@test",
                                         "1 ACK", ";tag=nf10"),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_ACK_ABSORBED);
    run_for(60);
    assert_int_equal(count_starting(&ua, "SIP/2.0 404"), 1);
    /* ACKs matching nothing */
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", ";branch=z9hG4bKx", "nothing@test", "1 ACK", ""),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_UNMATCHED_ACK);
    assert_int_equal(receive(from_ua(REQ("ACK", "sip:bob@example.com", ";branch=z9hG4bKx", "nothing@test", "1 ACK",
                                         ";tag=zz"),
                                     peer_port(&ua)),
                             &m, NULL),
                     SW_TX_ACK_2XX);
    assert_null(m);
}

static void test_server_unanswered_transactions_expire(void **state)
{
    (void)state;
    sw_tx_t *tx = NULL;
    receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs11", "s11@test", "1 INVITE", ""),
                    peer_port(&ua)),
            &tx, NULL);
    sw_tx_server_discard(tx);
    receive(from_ua(REQ("MESSAGE", "sip:bob@example.com", ";branch=z9hG4bKs12", "s12@test", "1 MESSAGE", ""),
                    peer_port(&ua)),
            &tx, NULL);
    assert_true(run_until(no_transactions, NULL, 1000));
    assert_int_equal(ua.n, 0); /* discarded: not even a 100 */
    /* a TU that detaches without answering: 500 */
    tu_record_t rec = {0};
    receive(from_ua(REQ("INVITE", "sip:bob@example.com", ";branch=z9hG4bKs13", "s13@test", "1 INVITE", ""),
                    peer_port(&ua)),
            &rec.tx, NULL);
    sw_tx_server_set_user(rec.tx, &server_cbs, &rec);
    sw_tx_detach(rec.tx);
    run_for(5);
    assert_int_equal(count_starting(&ua, "SIP/2.0 500"), 1);
    assert_true(run_until(no_transactions, NULL, 1000));
    assert_int_equal(rec.terminated, 0); /* detached: no callback */
}

/* ---- client side --------------------------------------------------------------------- */

static void on_response(sw_tx_t *tx, sw_msg_t *resp, void *ud)
{
    tu_record_t *r = ud;
    assert_ptr_equal(tx, r->tx);
    r->last_code = sw_msg_status(resp);
    if (r->responses < 16)
        r->codes[r->responses] = r->last_code;
    r->responses++;
}

static void on_timeout(sw_tx_t *tx, bool transport_error, void *ud)
{
    tu_record_t *r = ud;
    assert_ptr_equal(tx, r->tx);
    if (transport_error)
        r->transport_errors++;
    else
        r->timeouts++;
}

static void on_client_terminated(sw_tx_t *tx, void *ud)
{
    tu_record_t *r = ud;
    assert_ptr_equal(tx, r->tx);
    r->terminated++;
}

static const sw_tx_client_cbs_t client_cbs = {
    .on_response = on_response, .on_timeout = on_timeout, .on_terminated = on_client_terminated};

static void udp_to_ua(sw_tx_destination_t *d)
{
    memset(d, 0, sizeof *d);
    d->transport = SW_TRANSPORT_UDP;
    memcpy(&d->addr, &ua.addr, sizeof ua.addr);
    d->addr_len = sizeof ua.addr;
    d->via_socket_id = SWITCH_SOCKET;
}

static char *client_request(const char *method, const char *branch, const char *call_id, size_t *len)
{
    char *text = NULL;
    int n = asprintf(&text,
                     "%s sip:gw@127.0.0.1 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s;rport\r\n"
                     "Route: <sip:edge.example.com;lr>\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:switch@127.0.0.1>;tag=sw1\r\n"
                     "To: <sip:4420@gw.example.com>\r\n"
                     "Call-ID: %s\r\n"
                     "CSeq: 1 %s\r\n"
                     "Contact: <sip:switch@127.0.0.1>\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, branch, call_id, method);
    assert_true(n > 0);
    *len = (size_t)n;
    return text;
}

static sw_msg_t *response(int code, const char *branch, const char *call_id, const char *method, const char *to_tag)
{
    char text[1024];
    snprintf(text, sizeof text,
             "SIP/2.0 %d %s\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s;rport=5060\r\n"
             "From: <sip:switch@127.0.0.1>;tag=sw1\r\n"
             "To: <sip:4420@gw.example.com>%s%s\r\n"
             "Call-ID: %s\r\n"
             "CSeq: 1 %s\r\n"
             "Content-Length: 0\r\n\r\n",
             code, sw_sip_reason_phrase(code), branch, to_tag ? ";tag=" : "", to_tag ? to_tag : "", call_id,
             method);
    return parse_text(text);
}

/* Hands a response to the layer; true when a transaction took it. */
static bool respond(int code, const char *branch, const char *call_id, const char *method, const char *to_tag)
{
    sw_msg_t *m = response(code, branch, call_id, method, to_tag);
    bool taken = sw_tx_client_receive(m);
    sw_msg_free(m);
    return taken;
}

static sw_tx_t *send_client(const char *method, const char *branch, tu_record_t *rec, uint32_t invite_timeout_ms)
{
    size_t len;
    char *req = client_request(method, branch, "c@test", &len);
    sw_tx_destination_t d;
    udp_to_ua(&d);
    sw_tx_client_options_t opts = {.invite_timeout_ms = invite_timeout_ms};
    rec->tx = sw_tx_client_send(method, branch, req, len, &d, &opts, &client_cbs, rec);
    free(req);
    return rec->tx;
}

static void test_client_invite_retransmissions_follow_schedule(void **state)
{
    (void)state;
    static const uint32_t schedule[] = {10, 20, 40, 80, 160};
    configure(schedule, 5);
    tu_record_t rec = {0};
    assert_non_null(send_client("INVITE", "z9hG4bKc1", &rec, 2000));
    assert_int_equal(sw_tx_kind(rec.tx), SW_TX_CLIENT_INVITE);
    assert_ptr_equal(sw_tx_client_find("z9hG4bKc1", "INVITE"), rec.tx);
    run_for(80); /* sent at 0, 10, 30, 70 */
    assert_int_equal(count_starting(&ua, "INVITE "), 4);
    assert_gaps(&ua, "INVITE ", schedule, 5);
    /* the first provisional stops them */
    assert_true(respond(100, "z9hG4bKc1", "c@test", "INVITE", NULL));
    assert_int_equal(rec.responses, 1);
    assert_int_equal(rec.last_code, 100);
    run_for(200);
    assert_int_equal(count_starting(&ua, "INVITE "), 4);
    assert_int_equal(rec.timeouts, 0); /* the INVITE timeout stopped too */
    /* a response for another method or branch is not ours */
    assert_false(respond(200, "z9hG4bKc1", "c@test", "BYE", NULL));
    assert_false(respond(200, "z9hG4bKother", "c@test", "INVITE", NULL));
}

static void test_client_invite_timeout(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    uint64_t timeouts = sw_metrics.tx_timeouts;
    double start = now_ms();
    send_client("INVITE", "z9hG4bKc2", &rec, 100);
    assert_true(run_until(no_transactions, NULL, 1000));
    double took = now_ms() - start;
    assert_true(took >= 95 && took < 300);
    assert_int_equal(rec.timeouts, 1);
    assert_int_equal(rec.transport_errors, 0);
    assert_int_equal(rec.terminated, 1);
    assert_int_equal(sw_metrics.tx_timeouts, timeouts + 1);
    assert_int_equal(count_starting(&ua, "INVITE "), 4); /* 1 + the 3 of the schedule */
}

static void test_client_non2xx_acked_once_per_final(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    send_client("INVITE", "z9hG4bKc3", &rec, 0);
    assert_true(respond(486, "z9hG4bKc3", "c@test", "INVITE", "gwtag"));
    assert_int_equal(rec.responses, 1);
    assert_int_equal(rec.last_code, 486);
    run_for(5);
    const captured_t *ack = first_starting(&ua, "ACK sip:gw@127.0.0.1 SIP/2.0\r\n");
    assert_non_null(ack);
    assert_non_null(strstr(ack->data, "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc3;rport\r\n"));
    assert_non_null(strstr(ack->data, "\r\nRoute: <sip:edge.example.com;lr>\r\n"));
    assert_non_null(strstr(ack->data, "\r\nTo: <sip:4420@gw.example.com>;tag=gwtag\r\n"));
    assert_non_null(strstr(ack->data, "\r\nFrom: <sip:switch@127.0.0.1>;tag=sw1\r\n"));
    assert_non_null(strstr(ack->data, "\r\nCall-ID: c@test\r\n"));
    assert_non_null(strstr(ack->data, "\r\nCSeq: 1 ACK\r\n"));
    assert_null(strstr(ack->data, "Contact:"));
    /* the final retransmitted: ACKed again, no second callback */
    assert_true(respond(486, "z9hG4bKc3", "c@test", "INVITE", "gwtag"));
    run_for(5);
    assert_int_equal(rec.responses, 1);
    assert_int_equal(count_starting(&ua, "ACK "), 2);
    /* no more INVITE retransmissions; timer D (64*T1) ends it */
    size_t invites = count_starting(&ua, "INVITE ");
    assert_true(run_until(no_transactions, NULL, 1000));
    assert_int_equal(count_starting(&ua, "INVITE "), invites);
    assert_int_equal(rec.terminated, 1);
    assert_int_equal(rec.timeouts, 0);
}

static void test_client_2xx_goes_to_tu(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    send_client("INVITE", "z9hG4bKc4", &rec, 0);
    assert_true(respond(180, "z9hG4bKc4", "c@test", "INVITE", "gw4"));
    assert_true(respond(200, "z9hG4bKc4", "c@test", "INVITE", "gw4"));
    assert_true(respond(200, "z9hG4bKc4", "c@test", "INVITE", "gw4"));      /* retransmitted */
    assert_true(respond(200, "z9hG4bKc4", "c@test", "INVITE", "gw4fork")); /* another fork */
    assert_int_equal(rec.responses, 4);
    assert_int_equal(rec.codes[1], 200);
    assert_int_equal(rec.codes[3], 200);
    run_for(5);
    assert_int_equal(count_starting(&ua, "ACK "), 0); /* end to end: the TU's */
    sw_tx_destination_t d;
    udp_to_ua(&d);
    static const char ack[] = "ACK sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc4a\r\n"
                              "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(sw_tx_send_ack(ack, sizeof ack - 1, &d), 0);
    run_for(5);
    assert_int_equal(count_starting(&ua, "ACK "), 1);
    /* Accepted until timer M */
    assert_int_equal(rec.terminated, 0);
    assert_true(run_until(no_transactions, NULL, 1000));
    assert_int_equal(rec.terminated, 1);
}

static void test_client_cancel_waits_for_provisional(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    send_client("INVITE", "z9hG4bKc5", &rec, 0);
    assert_int_equal(sw_tx_client_cancel(rec.tx), 0);
    assert_int_equal(sw_tx_client_cancel(rec.tx), 0); /* again: no-op */
    run_for(20);
    assert_int_equal(count_starting(&ua, "CANCEL "), 0);
    assert_int_equal(sw_tx_count(SW_TX_CLIENT_NON_INVITE), 0);
    assert_true(respond(180, "z9hG4bKc5", "c@test", "INVITE", "gw5"));
    run_for(5);
    const captured_t *cancel = first_starting(&ua, "CANCEL sip:gw@127.0.0.1 SIP/2.0\r\n");
    assert_non_null(cancel);
    assert_non_null(strstr(cancel->data, "\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc5;rport\r\n"));
    assert_non_null(strstr(cancel->data, "\r\nTo: <sip:4420@gw.example.com>\r\n")); /* the INVITE's */
    assert_non_null(strstr(cancel->data, "\r\nRoute: <sip:edge.example.com;lr>\r\n"));
    assert_non_null(strstr(cancel->data, "\r\nCSeq: 1 CANCEL\r\n"));
    /* the CANCEL is its own transaction */
    assert_int_equal(sw_tx_count(SW_TX_CLIENT_NON_INVITE), 1);
    assert_non_null(sw_tx_client_find("z9hG4bKc5", "CANCEL"));
    run_for(15);
    assert_true(count_starting(&ua, "CANCEL ") >= 2); /* retransmitted until answered */
    assert_true(respond(200, "z9hG4bKc5", "c@test", "CANCEL", "gw5"));
    assert_true(respond(487, "z9hG4bKc5", "c@test", "INVITE", "gw5"));
    assert_int_equal(rec.last_code, 487);
    run_for(5);
    assert_int_equal(count_starting(&ua, "ACK "), 1);
    assert_int_equal(sw_tx_client_cancel(rec.tx), -1); /* too late now */
    assert_true(run_until(no_transactions, NULL, 1000));
}

static void test_client_non_invite_schedule_and_timer_f(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    send_client("OPTIONS", "z9hG4bKc6", &rec, 0);
    assert_int_equal(sw_tx_kind(rec.tx), SW_TX_CLIENT_NON_INVITE);
    run_for(15);
    assert_true(respond(100, "z9hG4bKc6", "c@test", "OPTIONS", NULL));
    assert_int_equal(rec.responses, 1);
    /* a provisional does not stop non-INVITE retransmissions */
    assert_true(run_until(no_transactions, NULL, 1000)); /* timer F = 320 ms */
    assert_int_equal(count_starting(&ua, "OPTIONS "), 4);
    assert_int_equal(rec.timeouts, 1);
    assert_int_equal(rec.terminated, 1);
    /* a final response stops them and is delivered once */
    tu_record_t rec2 = {0};
    peer_forget(&ua);
    send_client("OPTIONS", "z9hG4bKc7", &rec2, 0);
    assert_true(respond(200, "z9hG4bKc7", "c@test", "OPTIONS", "x"));
    assert_true(respond(200, "z9hG4bKc7", "c@test", "OPTIONS", "x")); /* absorbed */
    run_for(80);
    assert_int_equal(count_starting(&ua, "OPTIONS "), 1);
    assert_int_equal(rec2.responses, 1);
    assert_true(run_until(no_transactions, NULL, 500)); /* timer K = T4 */
    assert_int_equal(rec2.timeouts, 0);
}

/* The timers of finished transactions (K here) expire at slot boundaries:
 * three transactions answered 7 ms apart end in one timer run (the same loop
 * time) at the first boundary after their T4, while retransmissions keep
 * their exact schedule. */
static void on_terminated_record_time(sw_tx_t *tx, void *ud)
{
    (void)tx;
    *(uint64_t *)ud = uv_now(loop);
}

static void test_finished_timers_share_slots(void **state)
{
    (void)state;
    enum { SLOT = 80, T4 = 50, N = 3 };
    sw_tx_settings_t s;
    sw_tx_default_settings(&s);
    assert_int_equal(s.linger_slot_ms, 100); /* the default */
    memcpy(s.resend_ms, default_schedule, sizeof default_schedule);
    s.n_resend = 3;
    s.t1_ms = 5;
    s.t4_ms = T4;
    s.linger_slot_ms = SLOT;
    sw_tx_configure(&s);
    static const sw_tx_client_cbs_t cbs = {.on_terminated = on_terminated_record_time};
    sw_tx_destination_t d;
    udp_to_ua(&d);
    uint64_t answered[N + 1], ended[N + 1] = {0};
    char branch[N + 1][32];
    for (int i = 0; i <= N; i++) {
        snprintf(branch[i], sizeof branch[i], "z9hG4bKslot%d", i);
        if (i == 1) {
            /* start the three just after a boundary minus T4, so one slot holds them */
            uv_update_time(loop);
            run_for((unsigned)((2 * SLOT - (uv_now(loop) + T4) % SLOT + 3) % SLOT));
        }
        size_t len;
        char *req = client_request("OPTIONS", branch[i], "slot@test", &len);
        assert_non_null(sw_tx_client_send("OPTIONS", branch[i], req, len, &d, NULL, &cbs, &ended[i]));
        free(req);
        if (i == 0) {
            /* the schedule stays exact: sent at 0, again 10 ms later (not at a boundary) */
            run_for(15);
            assert_int_equal(count_starting(&ua, "OPTIONS "), 2);
            assert_gaps(&ua, "OPTIONS ", default_schedule, 1);
        }
        uv_update_time(loop);
        answered[i] = uv_now(loop);
        assert_true(respond(200, branch[i], "slot@test", "OPTIONS", "g"));
        run_for(7);
    }
    assert_true(run_until(no_transactions, NULL, 1000));
    for (int i = 0; i <= N; i++) {
        assert_true(ended[i] >= answered[i] + T4);
        assert_true(ended[i] < answered[i] + T4 + SLOT + 30);
    }
    for (int i = 2; i <= N; i++)
        assert_int_equal(ended[i], ended[1]);
    configure(default_schedule, 3);
}

static void test_client_detach_stops_callbacks_and_cancels(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    send_client("INVITE", "z9hG4bKc8", &rec, 0);
    assert_true(respond(183, "z9hG4bKc8", "c@test", "INVITE", "gw8"));
    sw_tx_detach(rec.tx);
    run_for(5);
    assert_int_equal(count_starting(&ua, "CANCEL "), 1); /* nobody to take an answer */
    assert_true(respond(487, "z9hG4bKc8", "c@test", "INVITE", "gw8"));
    assert_true(respond(200, "z9hG4bKc8", "c@test", "CANCEL", "gw8"));
    assert_true(run_until(no_transactions, NULL, 1000));
    assert_int_equal(rec.responses, 1);
    assert_int_equal(rec.terminated, 0);
}

static void test_client_refuses_what_it_cannot_send(void **state)
{
    (void)state;
    tu_record_t rec = {0};
    sw_tx_destination_t d;
    udp_to_ua(&d);
    size_t len;
    char *req = client_request("INVITE", "z9hG4bKc9", "c9@test", &len);
    assert_null(sw_tx_client_send("ACK", "z9hG4bKc9", req, len, &d, NULL, &client_cbs, &rec));
    assert_non_null(sw_tx_client_send("INVITE", "z9hG4bKc9", req, len, &d, NULL, &client_cbs, &rec));
    assert_null(sw_tx_client_send("INVITE", "z9hG4bKc9", req, len, &d, NULL, &client_cbs, &rec)); /* same branch */
    d.transport = SW_TRANSPORT_TLS;
    assert_null(sw_tx_client_send("INVITE", "z9hG4bKc10", req, len, &d, NULL, &client_cbs, &rec));
    free(req);
    char branch[32];
    sw_tx_new_branch(branch, sizeof branch);
    assert_int_equal(strlen(branch), 27);
    assert_memory_equal(branch, "z9hG4bK", 7);
}

/* ---- TCP ------------------------------------------------------------------------------- */

typedef struct tcp_gateway {
    int listen_fd;
    int conn_fd;
    struct sockaddr_in addr;
    char buf[65536];
    size_t len;
} tcp_gateway_t;

static void gateway_listen(tcp_gateway_t *g)
{
    memset(g, 0, sizeof *g);
    g->conn_fd = -1;
    g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(g->listen_fd >= 0);
    g->addr.sin_family = AF_INET;
    g->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(g->listen_fd, (struct sockaddr *)&g->addr, sizeof g->addr), 0);
    socklen_t len = sizeof g->addr;
    getsockname(g->listen_fd, (struct sockaddr *)&g->addr, &len);
    assert_int_equal(listen(g->listen_fd, 8), 0);
}

/* Accepts pending connections (keeps the first) and reads what arrived. */
static void gateway_poll(tcp_gateway_t *g, int *accepted)
{
    for (;;) {
        int fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            break;
        (*accepted)++;
        if (g->conn_fd < 0)
            g->conn_fd = fd;
        else
            close(fd);
    }
    if (g->conn_fd < 0)
        return;
    for (;;) {
        ssize_t n = recv(g->conn_fd, g->buf + g->len, sizeof g->buf - 1 - g->len, MSG_DONTWAIT);
        if (n <= 0)
            break;
        g->len += (size_t)n;
    }
    g->buf[g->len] = '\0';
}

static size_t count_in(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void gateway_close(tcp_gateway_t *g)
{
    if (g->conn_fd >= 0)
        close(g->conn_fd);
    close(g->listen_fd);
}

static void test_client_tcp_no_retransmission_and_pooled_connection(void **state)
{
    (void)state;
    tcp_gateway_t gw;
    gateway_listen(&gw);
    sw_tx_destination_t d = {.transport = SW_TRANSPORT_TCP, .addr_len = sizeof gw.addr};
    memcpy(&d.addr, &gw.addr, sizeof gw.addr);
    tu_record_t rec = {0};
    size_t len;
    char *req = client_request("INVITE", "z9hG4bKt1", "t1@test", &len);
    rec.tx = sw_tx_client_send("INVITE", "z9hG4bKt1", req, len, &d, NULL, &client_cbs, &rec);
    free(req);
    assert_non_null(rec.tx);
    int accepted = 0;
    run_for(150); /* the UDP schedule would have sent 3 more */
    gateway_poll(&gw, &accepted);
    assert_int_equal(accepted, 1);
    assert_int_equal(count_in(gw.buf, "INVITE sip:"), 1);
    /* a second request to the same address reuses the connection */
    tu_record_t rec2 = {0};
    req = client_request("OPTIONS", "z9hG4bKt2", "t2@test", &len);
    rec2.tx = sw_tx_client_send("OPTIONS", "z9hG4bKt2", req, len, &d, NULL, &client_cbs, &rec2);
    free(req);
    run_for(20);
    gateway_poll(&gw, &accepted);
    assert_int_equal(accepted, 1);
    assert_int_equal(count_in(gw.buf, "OPTIONS sip:"), 1);
    /* responses come back on the connection through the front door */
    char resp[1024];
    int n = snprintf(resp, sizeof resp,
                     "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKt1\r\n"
                     "From: <sip:switch@127.0.0.1>;tag=sw1\r\nTo: <sip:4420@gw.example.com>;tag=g1\r\n"
                     "Call-ID: t1@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
                     "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKt2\r\n"
                     "From: <sip:switch@127.0.0.1>;tag=sw1\r\nTo: <sip:4420@gw.example.com>;tag=g2\r\n"
                     "Call-ID: t2@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(send(gw.conn_fd, resp, (size_t)n, 0), n);
    assert_true(run_until(no_transactions, NULL, 500)); /* reliable: D and K are 0 */
    assert_int_equal(rec.responses, 1);
    assert_int_equal(rec.last_code, 486);
    assert_int_equal(rec.terminated, 1);
    assert_int_equal(rec2.last_code, 200);
    run_for(10);
    gateway_poll(&gw, &accepted);
    assert_int_equal(count_in(gw.buf, "ACK sip:"), 1); /* the ACK went over TCP too */
    assert_int_equal(count_in(gw.buf, "INVITE sip:"), 1);
    gateway_close(&gw);
    run_for(10);
}

static void test_client_tcp_connect_refused(void **state)
{
    (void)state;
    /* a port nothing listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&addr, sizeof addr);
    socklen_t alen = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    close(fd);
    sw_tx_destination_t d = {.transport = SW_TRANSPORT_TCP, .addr_len = sizeof addr};
    memcpy(&d.addr, &addr, sizeof addr);
    tu_record_t rec = {0};
    size_t len;
    char *req = client_request("INVITE", "z9hG4bKt3", "t3@test", &len);
    uint64_t errors = sw_metrics.tx_transport_errors;
    rec.tx = sw_tx_client_send("INVITE", "z9hG4bKt3", req, len, &d, NULL, &client_cbs, &rec);
    free(req);
    assert_non_null(rec.tx);
    assert_true(run_until(no_transactions, NULL, 500));
    assert_int_equal(rec.transport_errors, 1);
    assert_int_equal(rec.timeouts, 0);
    assert_int_equal(rec.terminated, 1);
    assert_int_equal(sw_metrics.tx_transport_errors, errors + 1);
}

/* ---- scale -------------------------------------------------------------------------------- */

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
}

static void test_many_server_transactions_complete_without_leak(void **state)
{
    (void)state;
    enum { N = 10000 };
    /* the UA's socket is not read meanwhile: the answers just pile up */
    uv_poll_stop(&ua.poll);
    size_t before = heap_in_use();
    for (int i = 0; i < N; i++) {
        char branch[64], call_id[64];
        snprintf(branch, sizeof branch, ";branch=z9hG4bKmany%d", i);
        snprintf(call_id, sizeof call_id, "many%d@test", i);
        char text[1024];
        snprintf(text, sizeof text,
                 "OPTIONS sip:switch@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%u%s;rport\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:alice@example.net>;tag=f1\r\nTo: <sip:switch@127.0.0.1>\r\n"
                 "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                 peer_port(&ua), branch, call_id);
        sw_tx_t *tx = NULL;
        assert_int_equal(receive(from_ua("%s", text), &tx, NULL), SW_TX_NEW);
        sw_tx_reply_t ok = {.code = 200, .extra_headers = "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n"};
        assert_int_equal(sw_tx_server_respond(tx, &ok), 0);
    }
    size_t during = heap_in_use();
    assert_int_equal(sw_tx_count(SW_TX_SERVER_NON_INVITE), N);
    printf("# %d completed server transactions (OPTIONS, 200 kept for retransmissions): %zu bytes each\n", N,
           (during - before) / N);
    assert_true(run_until(no_transactions, NULL, 3000)); /* timer J */
    uv_poll_start(&ua.poll, UV_READABLE, on_peer_readable);
}

static void test_many_client_transactions_lookup_cost(void **state)
{
    (void)state;
    uv_poll_stop(&ua.poll);
    static const size_t sizes[] = {1000, 10000, 100000};
    size_t live_now = 0;
    size_t before = heap_in_use();
    sw_tx_destination_t d;
    udp_to_ua(&d);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (; live_now < sizes[s]; live_now++) {
            char branch[40], req[512];
            snprintf(branch, sizeof branch, "z9hG4bKscale%zu", live_now);
            int n = snprintf(req, sizeof req,
                             "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=%s\r\n"
                             "From: <sip:switch@127.0.0.1>;tag=sw1\r\nTo: <sip:gw@127.0.0.1>\r\n"
                             "Call-ID: scale%zu@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                             branch, live_now);
            assert_non_null(sw_tx_client_send("OPTIONS", branch, req, (size_t)n, &d, NULL, NULL, NULL));
        }
        if (s == 2)
            printf("# %zu live client transactions: %zu bytes each\n", live_now,
                   (heap_in_use() - before) / live_now);
        enum { LOOKUPS = 200000 };
        char branches[64][40];
        for (int i = 0; i < 64; i++)
            snprintf(branches[i], sizeof branches[i], "z9hG4bKscale%zu", (size_t)i * 7919 % live_now);
        uint64_t t0 = uv_hrtime();
        size_t found = 0;
        for (int i = 0; i < LOOKUPS; i++)
            found += sw_tx_client_find(branches[i & 63], "OPTIONS") != NULL;
        uint64_t t1 = uv_hrtime();
        assert_int_equal(found, LOOKUPS);
        assert_null(sw_tx_client_find("z9hG4bKnot-there", "OPTIONS"));
        printf("# lookup among %zu live transactions: %.0f ns\n", live_now, (double)(t1 - t0) / LOOKUPS);
    }
    assert_int_equal(sw_tx_count(SW_TX_CLIENT_NON_INVITE), 100000);
    /* completed by their final responses */
    for (size_t i = 0; i < 1000; i++) {
        char branch[40], call_id[40];
        snprintf(branch, sizeof branch, "z9hG4bKscale%zu", i);
        snprintf(call_id, sizeof call_id, "scale%zu@test", i);
        assert_true(respond(200, branch, call_id, "OPTIONS", "g"));
    }
    assert_int_equal(sw_tx_count(SW_TX_CLIENT_NON_INVITE), 100000); /* timer K holds them */
    sw_tx_shutdown();                                               /* and this frees the rest */
    assert_true(no_transactions(NULL));
    configure(default_schedule, 3);
    uv_poll_start(&ua.poll, UV_READABLE, on_peer_readable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_new_invite_gets_100_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_invite_answered_at_once_sends_no_100, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_invite_retransmission_absorbed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_non2xx_retransmitted_until_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_non2xx_timer_h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_2xx_accepted_until_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_2xx_timer_l_calls_on_no_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_stateless_challenge_keeps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_non_invite_retransmission_resends_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_cancel_matches_pending_invite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_cancel_through_front_door, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_front_door_answers_through_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_rfc2543_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_ack_with_new_branch_absorbed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_unanswered_transactions_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_invite_retransmissions_follow_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_invite_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_non2xx_acked_once_per_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_2xx_goes_to_tu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cancel_waits_for_provisional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_non_invite_schedule_and_timer_f, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finished_timers_share_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_detach_stops_callbacks_and_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_refuses_what_it_cannot_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_tcp_no_retransmission_and_pooled_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_tcp_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_server_transactions_complete_without_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_client_transactions_lookup_cost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
