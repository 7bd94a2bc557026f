/* The transaction layer: RFC 3261 section 17 with RFC 6026's Accepted state
 * and VOS3000's resend schedule (SS_SIP_RESEND_INTERVAL) in place of T1
 * doubling. Matching rules and the TU contract are in transaction.h.
 *
 * Scale: lookups go through two hash indexes keyed with SipHash (branches
 * and tags are chosen by peers, so a keyed hash keeps a flood of crafted
 * branches from piling into one chain); every transaction has at most one
 * pending instant (the earlier of its next retransmission and its deadline)
 * in one binary heap, with a single uv timer armed for the heap's root. A
 * uv_timer_t per transaction would cost ~150 bytes twice over and an
 * asynchronous close before the memory can go; here a transaction is freed
 * synchronously the moment it terminates.
 *
 * Memory: a transaction keeps its key and identifying strings in one
 * allocation with the struct, the peer address, and the bytes it may have to
 * send again (the last response, or the request); a server transaction also
 * keeps the Via/From/To/Call-ID/CSeq text responses copy, until its final
 * response. Never the parsed message. */
#include "config.h"

#include "sip/transaction.h"

#include <endian.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "log.h"
#include "loop_jobs.h"
#include "net/transport.h"
#include "sip/late_answer.h"
#include "random.h"
#include "sip/sip.h"
#include "stats/metrics.h"
#include "strbuf.h"

#define NEVER UINT64_MAX
#define NOT_IN_HEAP SIZE_MAX
#define MAGIC_COOKIE "z9hG4bK"
#define MAGIC_COOKIE_LEN 7

/* ---- settings ------------------------------------------------------------------ */

/* A settings snapshot shared by the transactions started under it: a reload
 * makes a new one, and live transactions keep theirs to the end. */
typedef struct tx_config {
    sw_tx_settings_t s;
    unsigned refs;
} tx_config_t;

static tx_config_t *current_config;

void sw_tx_default_settings(sw_tx_settings_t *s)
{
    static const uint32_t schedule[] = {500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000};
    memset(s, 0, sizeof *s);
    memcpy(s->resend_ms, schedule, sizeof schedule);
    s->n_resend = sizeof schedule / sizeof schedule[0];
    s->t1_ms = 500;
    s->t4_ms = 5000;
    s->non_invite_timeout_ms = 64 * 500;
    s->invite_server_timeout_ms = 64 * 500;
    s->linger_slot_ms = 100;
    s->force_rport = true;
}

static void config_unref(tx_config_t *c)
{
    if (c && --c->refs == 0)
        free(c);
}

void sw_tx_configure(const sw_tx_settings_t *s)
{
    tx_config_t *c = calloc(1, sizeof *c);
    if (!c) {
        sw_error("transactions: no memory for new settings; keeping the old ones");
        return;
    }
    c->s = *s;
    if (c->s.n_resend > sizeof c->s.resend_ms / sizeof c->s.resend_ms[0])
        c->s.n_resend = sizeof c->s.resend_ms / sizeof c->s.resend_ms[0];
    /* a 0 gap would make a timer that is always due */
    for (size_t i = 0; i < c->s.n_resend; i++)
        if (c->s.resend_ms[i] == 0)
            c->s.resend_ms[i] = 1;
    if (!c->s.t1_ms)
        c->s.t1_ms = 500;
    if (!c->s.non_invite_timeout_ms)
        c->s.non_invite_timeout_ms = 64 * c->s.t1_ms;
    if (!c->s.invite_server_timeout_ms)
        c->s.invite_server_timeout_ms = 64 * c->s.t1_ms;
    c->refs = 1;
    config_unref(current_config);
    current_config = c;
}

/* The settings new transactions start with (a reference for the caller). */
static tx_config_t *config_take(void)
{
    if (!current_config) {
        sw_tx_settings_t s;
        sw_tx_default_settings(&s);
        sw_tx_configure(&s);
        if (!current_config)
            return NULL;
    }
    current_config->refs++;
    return current_config;
}

static uint64_t t1_times_64(const tx_config_t *c)
{
    return 64ULL * c->s.t1_ms;
}

/* The instant a finished transaction's timer (D, H, I, J, K, L, M) expires:
 * `at` rounded up to the next slot boundary. Nothing depends on these
 * instants to the millisecond, and at a few hundred calls per second giving
 * each its own instant costs one loop wake-up (an epoll_wait that sleeps,
 * with cold caches after it) per transaction: sharing slots makes that one
 * per slot (bench/call_profile.sh counts them). */
static uint64_t linger_until(const tx_config_t *c, uint64_t at)
{
    uint64_t slot = c->s.linger_slot_ms;
    return slot > 1 ? (at + slot - 1) / slot * slot : at;
}

/* ---- branches ---------------------------------------------------------------------- */

void sw_tx_new_branch(char *buf, size_t n)
{
    char text[sizeof MAGIC_COOKIE + 20] = MAGIC_COOKIE; /* cookie + 20 hex digits + NUL */
    sw_random_hex(text + sizeof MAGIC_COOKIE - 1, 10);
    size_t len = n > sizeof text - 1 ? sizeof text - 1 : n - 1;
    memcpy(buf, text, len);
    buf[len] = '\0';
}

/* ---- keyed hash (SipHash-1-3) ------------------------------------------------------ */

/* SipHash with a random key: a peer cannot choose Call-IDs or branches that
 * collide in the tables. The 1-3 variant (one round per word, three to
 * finish; what Rust's HashMap uses against hash flooding) rather than the
 * 2-4 one: a key is hashed several times per message. */
static uint64_t hash_key[2];
static bool hash_key_ready;

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                         \
    do {                                                                                                 \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);                                    \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                                                         \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                                                         \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);                                    \
    } while (0)

static uint64_t siphash13(const unsigned char *in, size_t len, const uint64_t k[2])
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
    uint64_t v3 = 0x7465646279746573ULL ^ k[1];
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, sizeof m);
        m = le64toh(m);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t j = 0; j < len % 8; j++)
        last |= (uint64_t)in[whole + j] << (8 * j);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The fields of a key, NUL-separated in one buffer. Fields longer than the
 * buffer are cut: that only makes different keys share a hash, and every
 * match compares the fields in full. Declared without an initializer, only
 * n set: clearing 512 bytes per lookup would cost more than the hash. */
typedef struct key_text {
    unsigned char b[512];
    size_t n;
} key_text_t;

static void key_add(key_text_t *k, const char *s, size_t n, bool fold_case)
{
    size_t room = k->n < sizeof k->b - 1 ? sizeof k->b - 1 - k->n : 0;
    if (n > room)
        n = room;
    if (fold_case) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            k->b[k->n++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        }
    } else {
        memcpy(k->b + k->n, s, n);
        k->n += n;
    }
    if (k->n < sizeof k->b)
        k->b[k->n++] = 0;
}

static void key_add_str(key_text_t *k, const char *s)
{
    key_add(k, s ? s : "", s ? strlen(s) : 0, false);
}

static void key_add_uint(key_text_t *k, uint32_t v)
{
    char num[24];
    key_add(k, num, sw_decimal(num, v), false);
}

static uint64_t key_hash(const key_text_t *k)
{
    if (!hash_key_ready) {
        sw_random_bytes((unsigned char *)hash_key, sizeof hash_key);
        hash_key_ready = true;
    }
    return siphash13(k->b, k->n, hash_key);
}

/* ---- the transaction ------------------------------------------------------------ */

typedef enum {
    TX_TRYING,      /* non-INVITE: nothing final yet (server: nothing sent at all) */
    TX_CALLING,     /* client INVITE: no response yet */
    TX_PROCEEDING,  /* a provisional response was sent / received */
    TX_COMPLETED,   /* a final response (non-2xx for INVITE) */
    TX_CONFIRMED,   /* server INVITE: the ACK of our non-2xx arrived */
    TX_ACCEPTED     /* INVITE 2xx (RFC 6026) */
} tx_state_t;

typedef struct tx_link {
    struct tx_link *next;
    uint64_t hash;
    bool linked;
} tx_link_t;

typedef struct tx_index {
    tx_link_t **buckets;
    size_t size;        /* a power of two, or 0 before first use */
    size_t count;
} tx_index_t;

/* Where the transaction's messages go. */
typedef struct tx_peer {
    sw_transport_t transport;
    uint64_t socket_id;             /* UDP: the local socket */
    struct sw_conn *conn;           /* TCP: held */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    socklen_t addr_len;
} tx_peer_t;

struct sw_tx {
    tx_link_t key_link;             /* by_key: how requests/responses find it */
    tx_link_t ack_link;             /* by_dialog: server INVITE after its final response */
    sw_tx_kind_t kind;
    tx_state_t state;
    bool rfc2543;                   /* matched by RFC 2543 rules (server) */
    bool dying;                     /* terminating: no more work, no second terminate */
    bool tu_attached;               /* callbacks may be called */
    bool trying_due;                /* server INVITE: the 100 is still to be sent */
    bool discarded;                 /* server: the TU will never answer */
    bool acked;                     /* server INVITE in Accepted: the 2xx ACK arrived */
    bool cancel_wanted, cancel_sent; /* client INVITE */
    bool late_bye_sent;             /* client INVITE, detached: a late 2xx's dialog was BYEd */
    uint8_t resends;                /* retransmissions sent so far */
    size_t heap_pos;
    uint64_t due;                   /* min(resend_at, deadline_at) while in the heap */
    uint64_t resend_at;             /* next retransmission (or the due 100), NEVER if none */
    uint64_t deadline_at;           /* the state's timer (B, F, H, L, J, ...), NEVER if none */
    tx_config_t *cfg;
    tx_peer_t peer;
    sw_conn_watch_t watch;          /* client over TCP: the connection's loss fails us */
    /* identity, in ids[] */
    const char *branch;             /* NULL for RFC 2543 server transactions */
    const char *method;
    const char *sent_by;            /* server: top Via sent-by */
    const char *call_id;
    const char *from_tag;           /* server: "" when none */
    const char *req_to_tag;         /* server: the request's To tag, NULL when none */
    const char *ruri;               /* RFC 2543 only */
    const char *top_via;            /* RFC 2543 only */
    uint32_t cseq;
    char *to_tag;                   /* server: the To tag of our responses (malloc'd) */
    sw_sip_reply_base_t base;       /* server: response headers, until the final response */
    char *bytes;                    /* server: last response sent; client: the request, then our ACK */
    size_t bytes_len;
    union {
        sw_tx_server_cbs_t server;
        sw_tx_client_cbs_t client;
    } cbs;
    void *ud;
    char ids[];
};

#define TX_OF(link, field) ((sw_tx_t *)(void *)((char *)(link) - offsetof(sw_tx_t, field)))

static tx_index_t by_key, by_dialog;
static size_t live[SW_TX_CLIENT_NON_INVITE + 1];

static bool is_server(const sw_tx_t *tx)
{
    return tx->kind == SW_TX_SERVER_INVITE || tx->kind == SW_TX_SERVER_NON_INVITE;
}

static bool reliable(const sw_tx_t *tx)
{
    return tx->peer.transport != SW_TRANSPORT_UDP;
}

/* ---- hash indexes ---------------------------------------------------------------- */

static void index_rehash(tx_index_t *ix, size_t nsize)
{
    tx_link_t **nb = calloc(nsize, sizeof *nb);
    if (!nb)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < ix->size; i++)
        for (tx_link_t *l = ix->buckets[i], *next; l; l = next) {
            next = l->next;
            size_t b = (size_t)l->hash & (nsize - 1);
            l->next = nb[b];
            nb[b] = l;
        }
    free(ix->buckets);
    ix->buckets = nb;
    ix->size = nsize;
}

static bool index_insert(tx_index_t *ix, tx_link_t *l, uint64_t hash)
{
    /* load factor at most 1: doubling costs one pass over the entries, a
     * few ms at 100k, amortised over as many insertions */
    if (ix->count >= ix->size)
        index_rehash(ix, ix->size ? ix->size * 2 : 1024);
    if (!ix->size)
        return false;
    size_t b = (size_t)hash & (ix->size - 1);
    l->hash = hash;
    l->next = ix->buckets[b];
    l->linked = true;
    ix->buckets[b] = l;
    ix->count++;
    return true;
}

static void index_remove(tx_index_t *ix, tx_link_t *l)
{
    if (!l->linked)
        return;
    for (tx_link_t **pp = &ix->buckets[(size_t)l->hash & (ix->size - 1)]; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    l->linked = false;
    l->next = NULL;
    ix->count--;
}

static void index_free(tx_index_t *ix)
{
    free(ix->buckets);
    memset(ix, 0, sizeof *ix);
}

/* ---- timer heap -------------------------------------------------------------------- */

static sw_tx_t **heap;
static size_t heap_len, heap_cap;
static uv_timer_t heap_timer;
static uv_loop_t *heap_timer_loop;      /* the loop heap_timer was initialised on */
static uint64_t armed_for = NEVER;      /* the instant heap_timer is armed for */

static void tx_fire(sw_tx_t *tx, uint64_t now);

static uint64_t now_ms(void)
{
    uv_loop_t *loop = sw_loop();
    return loop ? uv_now(loop) : 0;
}

static void heap_set(size_t pos, sw_tx_t *tx)
{
    heap[pos] = tx;
    tx->heap_pos = pos;
}

static void heap_sift_up(size_t pos)
{
    sw_tx_t *tx = heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (heap[parent]->due <= tx->due)
            break;
        heap_set(pos, heap[parent]);
        pos = parent;
    }
    heap_set(pos, tx);
}

static void heap_sift_down(size_t pos)
{
    sw_tx_t *tx = heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= heap_len)
            break;
        if (child + 1 < heap_len && heap[child + 1]->due < heap[child]->due)
            child++;
        if (heap[child]->due >= tx->due)
            break;
        heap_set(pos, heap[child]);
        pos = child;
    }
    heap_set(pos, tx);
}

static void heap_remove(sw_tx_t *tx)
{
    size_t pos = tx->heap_pos;
    if (pos == NOT_IN_HEAP)
        return;
    tx->heap_pos = NOT_IN_HEAP;
    sw_tx_t *last = heap[--heap_len];
    if (last == tx)
        return;
    heap_set(pos, last);
    heap_sift_up(pos);
    heap_sift_down(last->heap_pos);
}

static void on_heap_timer(uv_timer_t *t)
{
    (void)t;
    armed_for = NEVER;
    uint64_t now = now_ms();
    /* one at a time: a transaction's work may add, move or free others */
    while (heap_len && heap[0]->due <= now) {
        sw_tx_t *tx = heap[0];
        heap_remove(tx);
        tx_fire(tx, now);
    }
    if (heap_len) {
        armed_for = heap[0]->due;
        uv_timer_start(&heap_timer, on_heap_timer, armed_for > now ? armed_for - now : 0, 0);
    }
}

/* Arms the uv timer for the heap's root when that changed. */
static void heap_arm(void)
{
    uv_loop_t *loop = sw_loop();
    if (!loop)
        return;
    if (heap_timer_loop != loop) {
        uv_timer_init(loop, &heap_timer);
        heap_timer_loop = loop;
        armed_for = NEVER;
    }
    if (!heap_len) {
        if (armed_for != NEVER)
            uv_timer_stop(&heap_timer);
        armed_for = NEVER;
        return;
    }
    if (heap[0]->due == armed_for)
        return;
    uint64_t now = uv_now(loop);
    armed_for = heap[0]->due;
    uv_timer_start(&heap_timer, on_heap_timer, armed_for > now ? armed_for - now : 0, 0);
}

/* Puts the transaction in the heap at the earlier of its two instants (or
 * takes it out when it has none). */
static void tx_schedule(sw_tx_t *tx)
{
    if (tx->dying)
        return;
    uint64_t due = tx->resend_at < tx->deadline_at ? tx->resend_at : tx->deadline_at;
    if (due == NEVER) {
        heap_remove(tx);
        heap_arm();
        return;
    }
    if (tx->heap_pos == NOT_IN_HEAP) {
        if (heap_len == heap_cap) {
            size_t ncap = heap_cap ? heap_cap * 2 : 1024;
            sw_tx_t **nh = realloc(heap, ncap * sizeof *nh);
            if (!nh) {
                sw_error("transactions: no memory for a timer; transaction %s will not time out",
                         tx->branch ? tx->branch : "(rfc2543)");
                return;
            }
            heap = nh;
            heap_cap = ncap;
        }
        tx->due = due;
        heap_set(heap_len++, tx);
        heap_sift_up(tx->heap_pos);
    } else if (due != tx->due) {
        bool earlier = due < tx->due;
        tx->due = due;
        if (earlier)
            heap_sift_up(tx->heap_pos);
        else
            heap_sift_down(tx->heap_pos);
    }
    heap_arm();
}

/* The next retransmission on the schedule, counted from now. */
static void schedule_next_resend(sw_tx_t *tx, uint64_t now)
{
    if (reliable(tx) || tx->resends >= tx->cfg->s.n_resend)
        tx->resend_at = NEVER;
    else
        tx->resend_at = now + tx->cfg->s.resend_ms[tx->resends];
}

/* ---- life cycle ---------------------------------------------------------------------- */

/* One allocation for the struct and its strings; each pointer field given
 * gets a copy of its string (NULL stays NULL). */
typedef struct id_field {
    size_t offset;          /* of the `const char *` member */
    const char *s;
    size_t n;
} id_field_t;

#define ID(member, str, len) {offsetof(sw_tx_t, member), (str), (len)}

static sw_tx_t *tx_alloc(sw_tx_kind_t kind, const id_field_t *f, size_t nf)
{
    size_t total = 0;
    for (size_t i = 0; i < nf; i++)
        if (f[i].s)
            total += f[i].n + 1;
    sw_tx_t *tx = calloc(1, sizeof *tx + total);
    if (!tx)
        return NULL;
    tx->cfg = config_take();
    if (!tx->cfg) {
        free(tx);
        return NULL;
    }
    char *p = tx->ids;
    for (size_t i = 0; i < nf; i++) {
        if (!f[i].s)
            continue;
        memcpy(p, f[i].s, f[i].n);
        p[f[i].n] = '\0';
        memcpy((char *)tx + f[i].offset, &p, sizeof p);
        p += f[i].n + 1;
    }
    tx->kind = kind;
    tx->heap_pos = NOT_IN_HEAP;
    tx->resend_at = tx->deadline_at = NEVER;
    live[kind]++;
    atomic_fetch_add_explicit(&sw_metrics.transactions[kind], 1, memory_order_relaxed);
    return tx;
}

static void tx_free(sw_tx_t *tx)
{
    sw_conn_unwatch(&tx->watch);
    sw_conn_release(tx->peer.conn);
    sw_sip_reply_base_free(&tx->base);
    free(tx->bytes);
    free(tx->to_tag);
    config_unref(tx->cfg);
    live[tx->kind]--;
    atomic_fetch_sub_explicit(&sw_metrics.transactions[tx->kind], 1, memory_order_relaxed);
    free(tx);
}

static void tx_terminate(sw_tx_t *tx)
{
    if (tx->dying)
        return;
    tx->dying = true;
    index_remove(&by_key, &tx->key_link);
    index_remove(&by_dialog, &tx->ack_link);
    heap_remove(tx);
    heap_arm();
    sw_conn_unwatch(&tx->watch);
    if (tx->tu_attached) {
        if (is_server(tx) && tx->cbs.server.on_terminated)
            tx->cbs.server.on_terminated(tx, tx->ud);
        else if (!is_server(tx) && tx->cbs.client.on_terminated)
            tx->cbs.client.on_terminated(tx, tx->ud);
    }
    tx_free(tx);
}

/* ---- sending ------------------------------------------------------------------------- */

static uint16_t sent_by_port(const char *sent_by)
{
    /* "host", "host:port", "[v6]", "[v6]:port" */
    const char *colon = strrchr(sent_by, ':');
    const char *bracket = strrchr(sent_by, ']');
    if (!colon || (bracket && colon < bracket))
        return 5060;
    unsigned long p = strtoul(colon + 1, NULL, 10);
    return p > 0 && p < 65536 ? (uint16_t)p : 5060;
}

/* RFC 3261 18.2.2: the connection a request came on is gone; a response
 * then goes over a new connection to the source IP and the Via port. */
static void server_reconnect(sw_tx_t *tx)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, &tx->peer.addr, tx->peer.addr_len);
    uint16_t port = htons(sent_by_port(tx->sent_by));
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)&ss)->sin6_port = port;
    else
        ((struct sockaddr_in *)(void *)&ss)->sin_port = port;
    struct sw_conn *c = sw_tcp_connect_to((struct sockaddr *)&ss, tx->peer.addr_len);
    if (!c)
        return;
    sw_conn_release(tx->peer.conn);
    tx->peer.conn = c;
}

static int peer_send(sw_tx_t *tx, const char *buf, size_t len)
{
    int rc;
    if (tx->peer.transport == SW_TRANSPORT_UDP) {
        rc = sw_udp_send(tx->peer.socket_id, &tx->peer.addr.sa, buf, len);
    } else {
        if (is_server(tx) && !sw_conn_usable(tx->peer.conn))
            server_reconnect(tx);
        rc = sw_tcp_send(tx->peer.conn, buf, len);
    }
    if (rc) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_SEND_FAILED]);
        return -1;
    }
    atomic_fetch_add_explicit(&sw_metrics.bytes_out, len, memory_order_relaxed);
    return 0;
}

static void resend_bytes(sw_tx_t *tx)
{
    if (tx->bytes && peer_send(tx, tx->bytes, tx->bytes_len) == 0)
        sw_metric_inc(&sw_metrics.tx_retransmissions);
}

/* ---- what identifies a request ----------------------------------------------------- */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_token(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* The length of the first via-parm of a Via value (up to a ',' outside
 * quotes and brackets), trailing whitespace excluded. */
static size_t first_via_parm_len(const char *v, size_t n)
{
    bool quoted = false;
    int bracket = 0;
    size_t i = 0;
    /* most Via lines carry one via-parm: without a comma the walk below
     * would reach the end anyway, and memchr gets there several bytes at a
     * time */
    if (memchr(v, ',', n) == NULL)
        i = n;
    for (; i < n; i++) {
        char c = v[i];
        if (quoted) {
            if (c == '\\' && i + 1 < n)
                i++;
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '[') {
            bracket++;
        } else if (c == ']' && bracket) {
            bracket--;
        } else if (c == ',' && !bracket) {
            break;
        }
    }
    while (i > 0 && is_ws(v[i - 1]))
        i--;
    return i;
}

/* sent-by of a via-parm: after "SIP / 2.0 / UDP" and whitespace, up to ';'. */
static const char *via_sent_by(const char *v, size_t n, size_t *len)
{
    size_t i = 0;
    for (int slash = 0; slash < 2; slash++) {
        const char *s = memchr(v + i, '/', n - i);
        if (!s)
            return NULL;
        i = (size_t)(s - v) + 1;
    }
    while (i < n && is_ws(v[i]))
        i++;
    while (i < n && is_token(v[i]))
        i++; /* the transport */
    while (i < n && is_ws(v[i]))
        i++;
    size_t start = i;
    while (i < n && v[i] != ';')
        i++;
    while (i > start && is_ws(v[i - 1]))
        i--;
    if (i == start)
        return NULL;
    *len = i - start;
    return v + start;
}

/* A header parameter (";tag=...") of a From/To value, outside <> and
 * quotes. "" with *len 0 when absent. */
static const char *header_param(const char *v, const char *name, size_t *len)
{
    bool quoted = false, angle = false;
    size_t name_len = strlen(name);
    *len = 0;
    for (const char *p = v; *p; p++) {
        if (quoted) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = false;
            continue;
        }
        if (*p == '"')
            quoted = true;
        else if (*p == '<')
            angle = true;
        else if (*p == '>')
            angle = false;
        if (angle || *p != ';')
            continue;
        const char *q = p + 1;
        while (is_ws(*q))
            q++;
        if (strncasecmp(q, name, name_len) != 0)
            continue;
        q += name_len;
        while (is_ws(*q))
            q++;
        if (*q != '=')
            continue;
        q++;
        while (is_ws(*q))
            q++;
        const char *start = q;
        while (is_token(*q))
            q++;
        *len = (size_t)(q - start);
        return start;
    }
    return "";
}

static uint32_t cseq_number(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && is_ws(v[i]))
        i++;
    uint64_t num = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        num = num * 10 + (uint64_t)(v[i] - '0');
        if (num > UINT32_MAX)
            return 0; /* sanity answers it 400 */
    }
    return (uint32_t)num;
}

typedef struct req_info {
    const char *method;
    const char *branch;             /* NULL when rfc2543 */
    bool rfc2543;
    const char *top_via;
    size_t top_via_len;
    const char *sent_by;
    size_t sent_by_len;
    const char *call_id;
    const char *from_tag;
    size_t from_tag_len;
    const char *to_tag;             /* NULL when none */
    const char *ruri;
    uint32_t cseq;
    uint64_t key_hash;              /* server_key_hash(ri, method): its own key */
} req_info_t;

static uint64_t server_key_hash(const struct req_info *ri, const char *method);

static bool req_info_get(const sw_msg_t *m, req_info_t *ri)
{
    memset(ri, 0, sizeof *ri);
    const sw_msg_hdr_t *via = sw_msg_header_field(m, SW_HDR_VIA, 0);
    const sw_msg_hdr_t *from = sw_msg_header_field(m, SW_HDR_FROM, 0);
    const sw_msg_hdr_t *cseq = sw_msg_header_field(m, SW_HDR_CSEQ, 0);
    ri->method = sw_msg_method(m);
    ri->call_id = sw_msg_call_id(m);
    ri->ruri = sw_msg_ruri(m);
    if (!via || !from || !cseq || !ri->call_id || !ri->method || !ri->ruri || !sw_msg_header_field(m, SW_HDR_TO, 0))
        return false;
    ri->top_via = via->value;
    ri->top_via_len = first_via_parm_len(via->value, via->value_len);
    ri->sent_by = via_sent_by(via->value, ri->top_via_len, &ri->sent_by_len);
    if (!ri->sent_by) {
        ri->sent_by = "";
        ri->sent_by_len = 0;
    }
    const char *branch = sw_msg_top_via_branch(m);
    ri->rfc2543 = !branch || strncmp(branch, MAGIC_COOKIE, MAGIC_COOKIE_LEN) != 0 ||
                  branch[MAGIC_COOKIE_LEN] == '\0';
    ri->branch = ri->rfc2543 ? NULL : branch;
    ri->from_tag = header_param(from->value, "tag", &ri->from_tag_len);
    ri->to_tag = sw_msg_to_tag(m);
    ri->cseq = cseq_number(cseq->value, cseq->value_len);
    ri->key_hash = server_key_hash(ri, ri->method);
    return true;
}

static bool span_eq(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

static bool span_caseeq(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && strncasecmp(a, b, blen) == 0;
}

static bool str_eq_null(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- server side: lookups --------------------------------------------------------------- */

static uint64_t server_key_hash(const req_info_t *ri, const char *method)
{
    key_text_t k;
    k.n = 0;
    if (!ri->rfc2543) {
        key_add_str(&k, "S");
        key_add_str(&k, method);
        key_add_str(&k, ri->branch);
        key_add(&k, ri->sent_by, ri->sent_by_len, true);
    } else {
        key_add_str(&k, "S2543");
        key_add_str(&k, method);
        key_add_str(&k, ri->call_id);
        key_add_uint(&k, ri->cseq);
        key_add(&k, ri->from_tag, ri->from_tag_len, false);
        key_add(&k, ri->top_via, ri->top_via_len, false);
    }
    return key_hash(&k);
}

typedef enum { MATCH_SAME_REQUEST, MATCH_ACK } match_mode_t;

static bool server_matches(const sw_tx_t *tx, const req_info_t *ri, const char *method, match_mode_t mode)
{
    if (!is_server(tx) || tx->rfc2543 != ri->rfc2543 || strcmp(tx->method, method) != 0)
        return false;
    /* A retransmission, the CANCEL and the non-2xx ACK all carry the
     * request's Call-ID and CSeq number: requiring them too keeps peers
     * that reuse a branch across requests (the RFC 4475 corpus does) from
     * having a new request taken for a retransmission, or a forged CANCEL
     * from needing only a branch. */
    if (tx->cseq != ri->cseq || strcmp(tx->call_id, ri->call_id) != 0)
        return false;
    if (!ri->rfc2543)
        return strcmp(tx->branch, ri->branch) == 0 && span_caseeq(tx->sent_by, ri->sent_by, ri->sent_by_len);
    if (!span_eq(tx->from_tag, ri->from_tag, ri->from_tag_len) ||
        !span_eq(tx->top_via, ri->top_via, ri->top_via_len) || !str_eq_null(tx->ruri, ri->ruri))
        return false;
    if (mode == MATCH_ACK)
        return ri->to_tag && tx->to_tag && strcmp(ri->to_tag, tx->to_tag) == 0;
    return str_eq_null(tx->req_to_tag, ri->to_tag);
}

static sw_tx_t *server_find(const req_info_t *ri, const char *method, match_mode_t mode)
{
    if (!by_key.size)
        return NULL;
    /* its own key was hashed once; an ACK's or a CANCEL's INVITE is another */
    uint64_t h = method == ri->method ? ri->key_hash : server_key_hash(ri, method);
    for (tx_link_t *l = by_key.buckets[(size_t)h & (by_key.size - 1)]; l; l = l->next)
        if (l->hash == h) {
            sw_tx_t *tx = TX_OF(l, key_link);
            if (server_matches(tx, ri, method, mode))
                return tx;
        }
    return NULL;
}

static uint64_t dialog_key_hash(const char *call_id, uint32_t cseq, const char *from_tag, size_t from_tag_len,
                                const char *to_tag)
{
    key_text_t k;
    k.n = 0;
    key_add_str(&k, "D");
    key_add_str(&k, call_id);
    key_add_uint(&k, cseq);
    key_add(&k, from_tag, from_tag_len, false);
    key_add_str(&k, to_tag);
    return key_hash(&k);
}

/* An INVITE transaction that sent a final response with the ACK's To tag. */
static sw_tx_t *dialog_find(const req_info_t *ri)
{
    if (!by_dialog.size || !ri->to_tag)
        return NULL;
    uint64_t h = dialog_key_hash(ri->call_id, ri->cseq, ri->from_tag, ri->from_tag_len, ri->to_tag);
    for (tx_link_t *l = by_dialog.buckets[(size_t)h & (by_dialog.size - 1)]; l; l = l->next)
        if (l->hash == h) {
            sw_tx_t *tx = TX_OF(l, ack_link);
            if (tx->cseq == ri->cseq && strcmp(tx->call_id, ri->call_id) == 0 &&
                span_eq(tx->from_tag, ri->from_tag, ri->from_tag_len) && strcmp(tx->to_tag, ri->to_tag) == 0)
                return tx;
        }
    return NULL;
}

/* ---- server side: creation and answers ------------------------------------------------- */

static sw_tx_t *server_create(const sw_msg_t *req, const req_info_t *ri, sw_tx_kind_t kind)
{
    id_field_t f[] = {
        ID(branch, ri->branch, ri->branch ? strlen(ri->branch) : 0),
        ID(method, ri->method, strlen(ri->method)),
        ID(sent_by, ri->sent_by, ri->sent_by_len),
        ID(call_id, ri->call_id, strlen(ri->call_id)),
        ID(from_tag, ri->from_tag, ri->from_tag_len),
        ID(req_to_tag, ri->to_tag, ri->to_tag ? strlen(ri->to_tag) : 0),
        ID(ruri, ri->rfc2543 ? ri->ruri : NULL, strlen(ri->ruri)),
        ID(top_via, ri->rfc2543 ? ri->top_via : NULL, ri->top_via_len),
    };
    sw_tx_t *tx = tx_alloc(kind, f, sizeof f / sizeof f[0]);
    if (!tx)
        return NULL;
    tx->rfc2543 = ri->rfc2543;
    tx->cseq = ri->cseq;
    if (sw_sip_reply_base_init(req, &tx->base) != 0) {
        tx_free(tx);
        return NULL;
    }
    tx->peer.transport = req->origin.transport;
    tx->peer.socket_id = req->origin.socket_id;
    if (req->origin.transport != SW_TRANSPORT_UDP) {
        tx->peer.conn = req->origin.conn;
        sw_conn_hold(tx->peer.conn);
    }
    struct sockaddr_storage to;
    socklen_t to_len = sizeof to;
    sw_sip_response_target(req, tx->cfg->s.force_rport, &to, &to_len);
    if (to_len > sizeof tx->peer.addr)
        to_len = sizeof tx->peer.addr;
    memcpy(&tx->peer.addr, &to, to_len);
    tx->peer.addr_len = to_len;
    if (!index_insert(&by_key, &tx->key_link, ri->key_hash)) {
        tx_free(tx);
        return NULL;
    }
    uint64_t now = now_ms();
    if (kind == SW_TX_SERVER_INVITE) {
        tx->state = TX_PROCEEDING;
        tx->trying_due = true;
        tx->resend_at = now; /* the 100, when the loop turns */
        tx->deadline_at = now + tx->cfg->s.invite_server_timeout_ms;
    } else {
        tx->state = TX_TRYING;
        tx->deadline_at = now + tx->cfg->s.non_invite_timeout_ms;
    }
    tx_schedule(tx);
    return tx;
}

static void send_trying(sw_tx_t *tx)
{
    tx->trying_due = false;
    size_t len = 0;
    char *buf = sw_sip_reply_from_base(&tx->base, 100, NULL, NULL, NULL, NULL, NULL, 0, &len);
    if (!buf)
        return;
    if (peer_send(tx, buf, len) == 0)
        sw_metric_inc(&sw_metrics.responses_out[100]);
    free(tx->bytes);
    tx->bytes = buf;
    tx->bytes_len = len;
}

void sw_tx_server_trying_now(sw_tx_t *tx)
{
    if (!tx || tx->kind != SW_TX_SERVER_INVITE || !tx->trying_due)
        return;
    send_trying(tx);
    tx->resend_at = NEVER;
    tx_schedule(tx);
}

/* A retransmitted request: the last response goes out again (RFC 3261
 * 17.2.1 Proceeding/Completed, 17.2.2 Proceeding/Completed). */
static void server_absorb(sw_tx_t *tx)
{
    sw_metric_inc(&sw_metrics.tx_absorbed);
    if (tx->discarded)
        return;
    if (tx->trying_due) {
        send_trying(tx);
        tx->resend_at = NEVER;
        tx_schedule(tx);
        return;
    }
    switch (tx->state) {
    case TX_PROCEEDING:
    case TX_COMPLETED:
        resend_bytes(tx);
        break;
    case TX_ACCEPTED:
        if (!tx->acked)
            resend_bytes(tx); /* the 2xx did not arrive: help our own schedule */
        break;
    default:
        break; /* Trying (nothing sent yet), Confirmed: absorb silently */
    }
}

static sw_tx_match_t server_ack(const req_info_t *ri, sw_tx_t **txp)
{
    sw_tx_t *inv = server_find(ri, "INVITE", MATCH_ACK);
    if (!inv)
        inv = dialog_find(ri);
    if (inv) {
        switch (inv->state) {
        case TX_COMPLETED:
            /* RFC 3261 17.2.1: Confirmed, absorbing ACK retransmissions for
             * timer I (none needed on TCP) */
            inv->state = TX_CONFIRMED;
            inv->resend_at = NEVER;
            if (reliable(inv)) {
                tx_terminate(inv);
            } else {
                inv->deadline_at = linger_until(inv->cfg, now_ms() + inv->cfg->s.t4_ms); /* timer I */
                tx_schedule(inv);
            }
            return SW_TX_ACK_ABSORBED;
        case TX_CONFIRMED:
            sw_metric_inc(&sw_metrics.tx_absorbed);
            return SW_TX_ACK_ABSORBED;
        case TX_ACCEPTED:
            /* RFC 6026: the ACK goes to the TU; our 2xx retransmissions stop,
             * the transaction stays to absorb the INVITE until timer L */
            inv->acked = true;
            inv->resend_at = NEVER;
            tx_schedule(inv);
            *txp = inv;
            return SW_TX_ACK_2XX;
        default:
            break; /* no final response yet: nothing to acknowledge */
        }
    }
    return ri->to_tag ? SW_TX_ACK_2XX : SW_TX_UNMATCHED_ACK;
}

sw_tx_match_t sw_tx_server_receive(sw_msg_t *req, sw_tx_t **txp, sw_tx_t **cancel_txp)
{
    sw_tx_t *dummy_tx, *dummy_cancel;
    if (!txp)
        txp = &dummy_tx;
    if (!cancel_txp)
        cancel_txp = &dummy_cancel;
    *txp = *cancel_txp = NULL;
    req_info_t ri;
    if (!req || !sw_msg_is_request(req) || !req_info_get(req, &ri))
        return SW_TX_INVALID;
    if (strcmp(ri.method, "ACK") == 0)
        return server_ack(&ri, txp);
    sw_tx_t *same = server_find(&ri, ri.method, MATCH_SAME_REQUEST);
    if (same) {
        server_absorb(same);
        *txp = same;
        return SW_TX_RETRANSMISSION;
    }
    bool invite = strcmp(ri.method, "INVITE") == 0;
    sw_tx_t *tx = server_create(req, &ri, invite ? SW_TX_SERVER_INVITE : SW_TX_SERVER_NON_INVITE);
    if (!tx)
        return SW_TX_INVALID;
    if (strcmp(ri.method, "CANCEL") == 0) {
        *txp = server_find(&ri, "INVITE", MATCH_SAME_REQUEST);
        *cancel_txp = tx;
        return SW_TX_CANCEL;
    }
    *txp = tx;
    return SW_TX_NEW;
}

bool sw_tx_server_known(sw_msg_t *req)
{
    req_info_t ri;
    if (!req || !sw_msg_is_request(req) || !req_info_get(req, &ri))
        return false;
    return server_find(&ri, ri.method, MATCH_SAME_REQUEST) != NULL;
}

/* The To tag of a response above 100 (see sw_tx_server_respond). */
static const char *server_to_tag(sw_tx_t *tx, const char *given)
{
    if (tx->base.to_has_tag)
        given = tx->req_to_tag;
    if (given && *given) {
        if (!tx->to_tag || strcmp(tx->to_tag, given) != 0) {
            char *copy = strdup(given);
            if (!copy)
                return given;
            free(tx->to_tag);
            tx->to_tag = copy;
        }
        return tx->to_tag;
    }
    if (!tx->to_tag) {
        /* "sw" marks our tags in traces (and the stateless ones had it) */
        tx->to_tag = malloc(19);
        if (!tx->to_tag)
            return NULL; /* the builder makes one up */
        tx->to_tag[0] = 's';
        tx->to_tag[1] = 'w';
        sw_random_hex(tx->to_tag + 2, 8);
    }
    return tx->to_tag;
}

int sw_tx_server_respond(sw_tx_t *tx, const sw_tx_reply_t *r)
{
    if (!tx || !r || tx->dying || !is_server(tx) || r->code < 100 || r->code > 699)
        return -1;
    if (tx->state != TX_TRYING && tx->state != TX_PROCEEDING)
        return -1;
    bool forget = r->stateless && r->code >= 200 && tx->kind == SW_TX_SERVER_NON_INVITE;
    const char *tag = r->code > 100 ? server_to_tag(tx, r->to_tag) : NULL;
    size_t len = 0;
    char *buf = sw_sip_reply_from_base(&tx->base, r->code, r->reason, tag, r->extra_headers, r->content_type,
                                       r->body, r->body_len, &len);
    if (forget) {
        /* nothing to absorb retransmissions with: they are new requests */
        int rc = buf ? peer_send(tx, buf, len) : -1;
        if (rc == 0)
            sw_metric_inc(&sw_metrics.responses_out[r->code]);
        free(buf);
        tx_terminate(tx);
        return rc;
    }
    if (!buf)
        return -1;
    tx->trying_due = false;
    tx->discarded = false;
    int rc = peer_send(tx, buf, len);
    if (rc == 0)
        sw_metric_inc(&sw_metrics.responses_out[r->code]);
    free(tx->bytes);
    tx->bytes = buf;
    tx->bytes_len = len;
    uint64_t now = now_ms();
    if (r->code < 200) {
        tx->state = TX_PROCEEDING;
        tx->resend_at = NEVER;
        tx_schedule(tx);
        return rc;
    }
    /* final: nothing more will be built from the request */
    sw_sip_reply_base_free(&tx->base);
    tx->resends = 0;
    if (tx->kind == SW_TX_SERVER_NON_INVITE) {
        tx->state = TX_COMPLETED;
        tx->resend_at = NEVER;
        if (reliable(tx)) {
            tx_terminate(tx); /* timer J is 0: nothing to absorb */
            return rc;
        }
        tx->deadline_at = linger_until(tx->cfg, now + tx->cfg->s.non_invite_timeout_ms); /* timer J */
        tx_schedule(tx);
        return rc;
    }
    /* INVITE: findable by the ACK's To tag from now on */
    if (tx->to_tag && !tx->ack_link.linked)
        index_insert(&by_dialog, &tx->ack_link,
                     dialog_key_hash(tx->call_id, tx->cseq, tx->from_tag, strlen(tx->from_tag), tx->to_tag));
    tx->state = r->code < 300 ? TX_ACCEPTED : TX_COMPLETED;
    tx->deadline_at = linger_until(tx->cfg, now + tx->cfg->s.invite_server_timeout_ms); /* L or H */
    schedule_next_resend(tx, now);
    tx_schedule(tx);
    return rc;
}

void *sw_tx_user(const sw_tx_t *tx)
{
    return tx && tx->tu_attached ? tx->ud : NULL;
}

void sw_tx_server_set_user(sw_tx_t *tx, const sw_tx_server_cbs_t *cbs, void *ud)
{
    if (!tx || !is_server(tx))
        return;
    memset(&tx->cbs.server, 0, sizeof tx->cbs.server);
    if (cbs)
        tx->cbs.server = *cbs;
    tx->ud = ud;
    tx->tu_attached = true;
    if (!tx->dying && (tx->state == TX_TRYING || tx->state == TX_PROCEEDING)) {
        /* answering is the TU's job now: no silent expiry */
        tx->deadline_at = NEVER;
        tx_schedule(tx);
    }
}

bool sw_tx_server_pending(const sw_tx_t *tx)
{
    return tx && is_server(tx) && !tx->dying && (tx->state == TX_TRYING || tx->state == TX_PROCEEDING);
}

void sw_tx_server_discard(sw_tx_t *tx)
{
    if (!sw_tx_server_pending(tx))
        return;
    tx->discarded = true;
    tx->trying_due = false;
    tx->resend_at = NEVER;
    if (tx->deadline_at == NEVER)
        tx->deadline_at = now_ms() + t1_times_64(tx->cfg);
    tx_schedule(tx);
}

/* ---- client side: building ACK and CANCEL from the request ------------------------------- */

/* One header field of raw message bytes: its name and its whole text
 * (continuation lines included, final line end excluded). */
typedef struct raw_field {
    const char *name;
    size_t name_len;
    const char *line;
    size_t line_len;
    const char *value;
    size_t value_len;
    sw_hdr_id_t id;         /* of the name (SW_HDR_OTHER for a field without one) */
} raw_field_t;

/* The next header field at *pos; false at the empty line or the end. */
static bool raw_next_field(const char *buf, size_t len, size_t *pos, raw_field_t *f)
{
    size_t at = *pos;
    if (at >= len || buf[at] == '\r' || buf[at] == '\n')
        return false;
    size_t end = at;
    for (;;) {
        const char *lf = memchr(buf + end, '\n', len - end);
        size_t next = lf ? (size_t)(lf - buf) + 1 : len;
        end = next;
        if (next >= len || (buf[next] != ' ' && buf[next] != '\t'))
            break;
    }
    *pos = end;
    size_t line_end = end;
    while (line_end > at && (buf[line_end - 1] == '\n' || buf[line_end - 1] == '\r'))
        line_end--;
    f->line = buf + at;
    f->line_len = line_end - at;
    size_t i = at;
    while (i < line_end && is_token(buf[i]))
        i++;
    f->name = buf + at;
    f->name_len = i - at;
    f->id = sw_msg_header_id(f->name, f->name_len);
    while (i < line_end && (buf[i] == ' ' || buf[i] == '\t'))
        i++;
    if (i < line_end && buf[i] == ':')
        i++;
    while (i < line_end && is_ws(buf[i]))
        i++;
    f->value = buf + i;
    f->value_len = line_end - i;
    return true;
}

/* Past the request line. */
static size_t raw_headers_start(const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    return lf ? (size_t)(lf - buf) + 1 : len;
}

/* The first Call-ID and CSeq values of request bytes, in one walk that ends
 * once both are found (they lead most requests). NULL for one not found. */
static void raw_call_id_cseq(const char *buf, size_t len, raw_field_t *call_id, raw_field_t *cseq)
{
    size_t pos = raw_headers_start(buf, len);
    raw_field_t f;
    call_id->value = cseq->value = NULL;
    call_id->value_len = cseq->value_len = 0;
    while ((!call_id->value || !cseq->value) && raw_next_field(buf, len, &pos, &f)) {
        if (f.id == SW_HDR_CALL_ID && !call_id->value)
            *call_id = f;
        else if (f.id == SW_HDR_CSEQ && !cseq->value)
            *cseq = f;
    }
}

/* RFC 3261 17.1.1.3 (ACK) and 9.1 (CANCEL): the INVITE's Request-URI, its
 * top Via only, its Route headers, From, Call-ID and CSeq number; the To is
 * the response's for an ACK (its tag), the INVITE's for a CANCEL. */
static char *build_ack_or_cancel(const sw_tx_t *tx, const char *method, const char *to_value, size_t *out_len)
{
    const char *req = tx->bytes;
    size_t len = tx->bytes_len;
    const char *sp1 = memchr(req, ' ', len);
    const char *lf = memchr(req, '\n', len);
    if (!sp1 || !lf || sp1 > lf)
        return NULL;
    const char *uri = sp1 + 1;
    const char *sp2 = memchr(uri, ' ', (size_t)(lf - uri));
    if (!sp2)
        return NULL;
    sw_strbuf_t b = {0};
    sw_strbuf_printf(&b, "%s %.*s SIP/2.0\r\n", method, (int)(sp2 - uri), uri);
    raw_field_t f, from = {0}, to = {0}, call_id = {0};
    bool via_done = false;
    size_t pos = raw_headers_start(req, len);
    while (raw_next_field(req, len, &pos, &f)) {
        if (!f.name_len)
            continue;
        if (!via_done && f.id == SW_HDR_VIA) {
            sw_strbuf_printf(&b, "Via: %.*s\r\n", (int)first_via_parm_len(f.value, f.value_len), f.value);
            via_done = true;
        } else if (f.id == SW_HDR_ROUTE) {
            sw_strbuf_printf(&b, "%.*s\r\n", (int)f.line_len, f.line);
        } else if (!from.line && f.id == SW_HDR_FROM) {
            from = f;
        } else if (!to.line && f.id == SW_HDR_TO) {
            to = f;
        } else if (!call_id.line && f.id == SW_HDR_CALL_ID) {
            call_id = f;
        }
    }
    if (!via_done || !from.line || !to.line || !call_id.line) {
        free(sw_strbuf_take(&b));
        return NULL;
    }
    sw_strbuf_printf(&b, "Max-Forwards: 70\r\n%.*s\r\n", (int)from.line_len, from.line);
    if (to_value)
        sw_strbuf_printf(&b, "To: %s\r\n", to_value);
    else
        sw_strbuf_printf(&b, "%.*s\r\n", (int)to.line_len, to.line);
    sw_strbuf_printf(&b, "%.*s\r\nCSeq: %u %s\r\nContent-Length: 0\r\n\r\n", (int)call_id.line_len, call_id.line,
                     tx->cseq, method);
    *out_len = b.len;
    return sw_strbuf_take(&b);
}

/* ---- client side ------------------------------------------------------------------------- */

static uint64_t client_key_hash(const char *branch, const char *method)
{
    key_text_t k;
    k.n = 0;
    key_add_str(&k, "C");
    key_add_str(&k, method);
    key_add_str(&k, branch);
    return key_hash(&k);
}

sw_tx_t *sw_tx_client_find(const char *branch, const char *method)
{
    if (!by_key.size || !branch || !method)
        return NULL;
    uint64_t h = client_key_hash(branch, method);
    for (tx_link_t *l = by_key.buckets[(size_t)h & (by_key.size - 1)]; l; l = l->next)
        if (l->hash == h) {
            sw_tx_t *tx = TX_OF(l, key_link);
            if (!is_server(tx) && strcmp(tx->branch, branch) == 0 && strcmp(tx->method, method) == 0)
                return tx;
        }
    return NULL;
}

/* Resolves a destination into a peer: the UDP socket, or a held pooled TCP
 * connection. */
static int peer_for_destination(const sw_tx_destination_t *dest, tx_peer_t *p)
{
    memset(p, 0, sizeof *p);
    if (dest->addr_len == 0 || dest->addr_len > sizeof p->addr ||
        (dest->addr.ss_family != AF_INET && dest->addr.ss_family != AF_INET6))
        return -1;
    p->transport = dest->transport;
    memcpy(&p->addr, &dest->addr, dest->addr_len);
    p->addr_len = dest->addr_len;
    switch (dest->transport) {
    case SW_TRANSPORT_UDP:
        p->socket_id = dest->via_socket_id ? dest->via_socket_id : sw_udp_default_socket(dest->addr.ss_family);
        return p->socket_id ? 0 : -1;
    case SW_TRANSPORT_TCP:
        p->conn = sw_tcp_connect_to(&p->addr.sa, p->addr_len);
        return p->conn ? 0 : -1;
    default:
        return -1; /* TLS is not there yet */
    }
}

static void client_deliver(sw_tx_t *tx, sw_msg_t *resp)
{
    if (tx->tu_attached && tx->cbs.client.on_response) {
        tx->cbs.client.on_response(tx, resp, tx->ud);
        return;
    }
    int code = sw_msg_status(resp);
    if (tx->kind == SW_TX_CLIENT_INVITE && code >= 200 && code < 300) {
        /* nobody waits for this answer (the TU CANCELled and let go): ACK
         * each copy, BYE the dialog once (late_answer.h) */
        sw_tx_destination_t dest = {.transport = tx->peer.transport, .addr_len = tx->peer.addr_len,
                                    .via_socket_id = tx->peer.socket_id};
        memcpy(&dest.addr, &tx->peer.addr, tx->peer.addr_len);
        sw_sip_end_late_answer(resp, &dest, !tx->late_bye_sent);
        tx->late_bye_sent = true;
    }
}

/* The attempt failed without a final response: tell the TU, then end. */
static void client_fail(sw_tx_t *tx, bool transport_error)
{
    sw_metric_inc(transport_error ? &sw_metrics.tx_transport_errors : &sw_metrics.tx_timeouts);
    sw_logf(SW_LOG_DEBUG, NULL, tx->call_id, "%s transaction %s: %s", tx->method, tx->branch,
            transport_error ? "transport error" : "timed out");
    if (tx->tu_attached && tx->cbs.client.on_timeout)
        tx->cbs.client.on_timeout(tx, transport_error, tx->ud);
    tx_terminate(tx);
}

static void on_conn_lost(sw_conn_watch_t *w)
{
    sw_tx_t *tx = (sw_tx_t *)(void *)((char *)w - offsetof(sw_tx_t, watch));
    if (tx->dying)
        return;
    if (tx->state == TX_CALLING || tx->state == TX_TRYING || tx->state == TX_PROCEEDING)
        client_fail(tx, true);
}

static sw_tx_t *client_start(const char *method, const char *branch, const char *bytes, size_t len,
                             tx_peer_t *peer, uint32_t invite_timeout_ms)
{
    raw_field_t call_id_field, cseq_field;
    raw_call_id_cseq(bytes, len, &call_id_field, &cseq_field);
    const char *call_id = call_id_field.value, *cseq = cseq_field.value;
    size_t call_id_len = call_id_field.value_len, cseq_len = cseq_field.value_len;
    bool invite = strcmp(method, "INVITE") == 0;
    id_field_t f[] = {
        ID(branch, branch, strlen(branch)),
        ID(method, method, strlen(method)),
        ID(call_id, call_id ? call_id : "", call_id_len),
    };
    sw_tx_t *tx = tx_alloc(invite ? SW_TX_CLIENT_INVITE : SW_TX_CLIENT_NON_INVITE, f, sizeof f / sizeof f[0]);
    if (!tx)
        return NULL;
    tx->peer = *peer; /* the held connection moves to the transaction */
    memset(peer, 0, sizeof *peer);
    tx->cseq = cseq ? cseq_number(cseq, cseq_len) : 0;
    tx->bytes = malloc(len);
    if (!tx->bytes || !index_insert(&by_key, &tx->key_link, client_key_hash(branch, method))) {
        tx_free(tx);
        return NULL;
    }
    memcpy(tx->bytes, bytes, len);
    tx->bytes_len = len;
    if (peer_send(tx, bytes, len) != 0) {
        index_remove(&by_key, &tx->key_link);
        tx_free(tx);
        return NULL;
    }
    sw_metric_inc(&sw_metrics.requests_out[sw_method_index(method)]);
    uint64_t now = now_ms();
    tx->state = invite ? TX_CALLING : TX_TRYING;
    tx->deadline_at = now + (invite ? (invite_timeout_ms ? invite_timeout_ms : t1_times_64(tx->cfg))
                                    : tx->cfg->s.non_invite_timeout_ms);
    schedule_next_resend(tx, now);
    if (tx->peer.conn)
        sw_conn_watch(tx->peer.conn, &tx->watch, on_conn_lost);
    tx_schedule(tx);
    return tx;
}

sw_tx_t *sw_tx_client_send(const char *method, const char *branch, const char *bytes, size_t len,
                           const sw_tx_destination_t *dest, const sw_tx_client_options_t *opts,
                           const sw_tx_client_cbs_t *cbs, void *ud)
{
    if (!method || !*method || !branch || !*branch || !bytes || !len || !dest || strcmp(method, "ACK") == 0)
        return NULL;
    if (sw_tx_client_find(branch, method)) {
        sw_warn("transactions: a %s with branch %s is already pending; not sent", method, branch);
        return NULL;
    }
    tx_peer_t peer;
    if (peer_for_destination(dest, &peer) != 0)
        return NULL;
    sw_tx_t *tx = client_start(method, branch, bytes, len, &peer, opts ? opts->invite_timeout_ms : 0);
    sw_conn_release(peer.conn); /* still ours when the start failed */
    if (!tx)
        return NULL;
    if (cbs) {
        tx->cbs.client = *cbs;
        tx->ud = ud;
        tx->tu_attached = true;
    }
    return tx;
}

int sw_tx_send_ack(const char *bytes, size_t len, const sw_tx_destination_t *dest)
{
    if (!bytes || !len || !dest)
        return -1;
    tx_peer_t peer;
    if (peer_for_destination(dest, &peer) != 0)
        return -1;
    int rc = peer.transport == SW_TRANSPORT_UDP ? sw_udp_send(peer.socket_id, &peer.addr.sa, bytes, len)
                                                : sw_tcp_send(peer.conn, bytes, len);
    sw_conn_release(peer.conn);
    if (rc) {
        sw_metric_inc(&sw_metrics.drops[SW_DROP_SEND_FAILED]);
        return -1;
    }
    atomic_fetch_add_explicit(&sw_metrics.bytes_out, len, memory_order_relaxed);
    sw_metric_inc(&sw_metrics.requests_out[SW_M_ACK]);
    return 0;
}

static int send_cancel(sw_tx_t *inv)
{
    size_t len = 0;
    char *cancel = build_ack_or_cancel(inv, "CANCEL", NULL, &len);
    if (!cancel)
        return -1;
    tx_peer_t peer = inv->peer;
    sw_conn_hold(peer.conn);
    sw_tx_t *ctx = client_start("CANCEL", inv->branch, cancel, len, &peer, 0);
    sw_conn_release(peer.conn);
    free(cancel);
    if (!ctx)
        return -1;
    inv->cancel_sent = true;
    /* RFC 3261 9.1: no final response in 64*T1 after the CANCEL ends it */
    inv->deadline_at = now_ms() + t1_times_64(inv->cfg);
    tx_schedule(inv);
    return 0;
}

int sw_tx_client_cancel(sw_tx_t *tx)
{
    if (!tx || tx->dying || tx->kind != SW_TX_CLIENT_INVITE)
        return -1;
    if (tx->state != TX_CALLING && tx->state != TX_PROCEEDING)
        return -1;
    if (tx->cancel_wanted)
        return 0;
    tx->cancel_wanted = true;
    return tx->state == TX_PROCEEDING ? send_cancel(tx) : 0;
}

static void client_ack(sw_tx_t *tx, sw_msg_t *resp)
{
    const char *to = sw_msg_header_by_id(resp, SW_HDR_TO, 0);
    size_t len = 0;
    char *ack = to ? build_ack_or_cancel(tx, "ACK", to, &len) : NULL;
    if (!ack) {
        sw_logf(SW_LOG_WARN, NULL, tx->call_id, "INVITE %s: cannot build the ACK of a %d", tx->branch,
                sw_msg_status(resp));
        return;
    }
    /* the request is not needed any more; the ACK answers retransmissions */
    free(tx->bytes);
    tx->bytes = ack;
    tx->bytes_len = len;
    if (peer_send(tx, ack, len) == 0)
        sw_metric_inc(&sw_metrics.requests_out[SW_M_ACK]);
}

static void client_invite_response(sw_tx_t *tx, sw_msg_t *resp, int code)
{
    uint64_t now = now_ms();
    switch (tx->state) {
    case TX_CALLING:
    case TX_PROCEEDING:
        if (code < 200) {
            if (tx->state == TX_CALLING) {
                /* something arrived: retransmissions and the INVITE timeout stop */
                tx->state = TX_PROCEEDING;
                tx->resend_at = NEVER;
                tx->deadline_at = NEVER;
                tx_schedule(tx);
                if (tx->cancel_wanted && !tx->cancel_sent)
                    send_cancel(tx);
            }
            client_deliver(tx, resp);
            return;
        }
        sw_conn_unwatch(&tx->watch);
        tx->resend_at = NEVER;
        if (code < 300) {
            tx->state = TX_ACCEPTED; /* RFC 6026 timer M: later 2xx go to the TU */
            tx->deadline_at = linger_until(tx->cfg, now + t1_times_64(tx->cfg));
            tx_schedule(tx);
            client_deliver(tx, resp);
            return;
        }
        client_ack(tx, resp);
        tx->state = TX_COMPLETED;
        if (reliable(tx)) {
            client_deliver(tx, resp);
            tx_terminate(tx); /* timer D is 0 */
            return;
        }
        tx->deadline_at = linger_until(tx->cfg, now + t1_times_64(tx->cfg)); /* timer D */
        tx_schedule(tx);
        client_deliver(tx, resp);
        return;
    case TX_ACCEPTED:
        if (code >= 200 && code < 300)
            client_deliver(tx, resp); /* the TU ACKs each 2xx end to end */
        else
            sw_metric_inc(&sw_metrics.tx_absorbed);
        return;
    case TX_COMPLETED:
        sw_metric_inc(&sw_metrics.tx_absorbed);
        if (code >= 300 && tx->bytes && peer_send(tx, tx->bytes, tx->bytes_len) == 0)
            sw_metric_inc(&sw_metrics.requests_out[SW_M_ACK]); /* the ACK again */
        return;
    default:
        return;
    }
}

static void client_non_invite_response(sw_tx_t *tx, sw_msg_t *resp, int code)
{
    if (tx->state != TX_TRYING && tx->state != TX_PROCEEDING) {
        sw_metric_inc(&sw_metrics.tx_absorbed);
        return;
    }
    if (code < 200) {
        tx->state = TX_PROCEEDING; /* retransmissions go on (17.1.2.2) */
        client_deliver(tx, resp);
        return;
    }
    tx->state = TX_COMPLETED;
    tx->resend_at = NEVER;
    sw_conn_unwatch(&tx->watch);
    free(tx->bytes);
    tx->bytes = NULL;
    tx->bytes_len = 0;
    if (reliable(tx)) {
        client_deliver(tx, resp);
        tx_terminate(tx); /* timer K is 0 */
        return;
    }
    tx->deadline_at = linger_until(tx->cfg, now_ms() + tx->cfg->s.t4_ms); /* timer K */
    tx_schedule(tx);
    client_deliver(tx, resp);
}

bool sw_tx_client_receive(sw_msg_t *resp)
{
    if (!resp || sw_msg_is_request(resp))
        return false;
    sw_tx_t *tx = sw_tx_client_find(sw_msg_top_via_branch(resp), sw_msg_cseq_method(resp));
    if (!tx || tx->dying)
        return false;
    int code = sw_msg_status(resp);
    if (tx->kind == SW_TX_CLIENT_INVITE)
        client_invite_response(tx, resp, code);
    else
        client_non_invite_response(tx, resp, code);
    return true;
}

/* ---- timers ---------------------------------------------------------------------------- */

static void tx_resend_due(sw_tx_t *tx, uint64_t now)
{
    if (tx->trying_due) {
        send_trying(tx); /* not a retransmission: the 100 that was due */
        return;
    }
    bool resend = false;
    switch (tx->kind) {
    case SW_TX_SERVER_INVITE:
        /* timer G (non-2xx until the ACK), and the 2xx until its ACK */
        resend = tx->state == TX_COMPLETED || (tx->state == TX_ACCEPTED && !tx->acked);
        break;
    case SW_TX_CLIENT_INVITE:
        resend = tx->state == TX_CALLING; /* timer A */
        break;
    case SW_TX_CLIENT_NON_INVITE:
        resend = tx->state == TX_TRYING || tx->state == TX_PROCEEDING; /* timer E */
        break;
    default:
        break;
    }
    if (!resend)
        return;
    resend_bytes(tx);
    tx->resends++;
    schedule_next_resend(tx, now);
}

/* The state's timer fired. Returns false when the transaction is gone. */
static bool tx_deadline(sw_tx_t *tx)
{
    switch (tx->kind) {
    case SW_TX_SERVER_INVITE:
    case SW_TX_SERVER_NON_INVITE:
        if (tx->state == TX_COMPLETED && tx->kind == SW_TX_SERVER_INVITE) {
            sw_metric_inc(&sw_metrics.tx_timeouts); /* timer H: the ACK never came */
            sw_logf(SW_LOG_DEBUG, NULL, tx->call_id, "INVITE from %s: no ACK for our final response",
                    tx->sent_by);
        } else if (tx->state == TX_ACCEPTED && !tx->acked) {
            sw_metric_inc(&sw_metrics.tx_timeouts); /* timer L: the 2xx was never ACKed */
            sw_logf(SW_LOG_INFO, NULL, tx->call_id, "INVITE from %s: 2xx never ACKed", tx->sent_by);
            if (tx->tu_attached && tx->cbs.server.on_no_ack)
                tx->cbs.server.on_no_ack(tx, tx->ud);
        } else if (tx->state == TX_TRYING || tx->state == TX_PROCEEDING) {
            sw_logf(SW_LOG_DEBUG, NULL, tx->call_id, "%s from %s: never answered, forgotten", tx->method,
                    tx->sent_by);
        }
        tx_terminate(tx); /* or timers I, J, or L after the ACK */
        return false;
    case SW_TX_CLIENT_INVITE:
    case SW_TX_CLIENT_NON_INVITE:
        if (tx->state == TX_CALLING || tx->state == TX_TRYING || tx->state == TX_PROCEEDING)
            client_fail(tx, false); /* B, F, or the wait after a CANCEL */
        else
            tx_terminate(tx); /* D, K, M */
        return false;
    }
    return true;
}

static void tx_fire(sw_tx_t *tx, uint64_t now)
{
    if (tx->resend_at <= now) {
        tx->resend_at = NEVER;
        tx_resend_due(tx, now);
    }
    if (tx->deadline_at <= now) {
        tx->deadline_at = NEVER;
        if (!tx_deadline(tx))
            return;
    }
    tx_schedule(tx);
}

/* ---- common ---------------------------------------------------------------------------- */

void sw_tx_detach(sw_tx_t *tx)
{
    if (!tx)
        return;
    memset(&tx->cbs, 0, sizeof tx->cbs);
    tx->ud = NULL;
    tx->tu_attached = false;
    if (tx->dying)
        return;
    if (sw_tx_server_pending(tx) && !tx->discarded) {
        sw_logf(SW_LOG_WARN, NULL, tx->call_id, "%s from %s: its user left without answering; 500 sent",
                tx->method, tx->sent_by);
        sw_tx_reply_t r = {.code = 500};
        sw_tx_server_respond(tx, &r);
    } else if (tx->kind == SW_TX_CLIENT_INVITE) {
        sw_tx_client_cancel(tx); /* nobody left to take the answer */
    }
}

sw_tx_kind_t sw_tx_kind(const sw_tx_t *tx)
{
    return tx->kind;
}

const char *sw_tx_branch(const sw_tx_t *tx)
{
    return tx->branch;
}

const char *sw_tx_call_id(const sw_tx_t *tx)
{
    return tx->call_id;
}

size_t sw_tx_count(sw_tx_kind_t kind)
{
    return kind >= SW_TX_SERVER_INVITE && kind <= SW_TX_CLIENT_NON_INVITE ? live[kind] : 0;
}

void sw_tx_shutdown(void)
{
    for (size_t b = 0; b < by_key.size; b++)
        while (by_key.buckets[b]) {
            sw_tx_t *tx = TX_OF(by_key.buckets[b], key_link);
            tx->tu_attached = false; /* the TUs are gone */
            tx_terminate(tx);
        }
    index_free(&by_key);
    index_free(&by_dialog);
    free(heap);
    heap = NULL;
    heap_len = heap_cap = 0;
    if (heap_timer_loop && armed_for != NEVER)
        uv_timer_stop(&heap_timer);
    armed_for = NEVER;
    config_unref(current_config);
    current_config = NULL;
}
