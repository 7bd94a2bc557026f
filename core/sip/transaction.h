/* The transaction layer (RFC 3261 section 17, with RFC 6026's Accepted
 * state), the project's own: transactions are indexed in a hash table by
 * branch + method (RFC 2543 fallback matching for requests without the magic
 * cookie) and their timers live in one binary heap driven by a single libuv
 * timer, so 100k live transactions cost O(1) per message and nothing per
 * idle tick.
 *
 * Matching (server side, RFC 3261 17.2.3):
 *  - a top Via branch starting with "z9hG4bK" (and longer than it): key =
 *    branch + sent-by of the top Via (host case-insensitive) + method, where
 *    ACK and CANCEL look up the INVITE's key; the CANCEL itself gets its own
 *    transaction under (branch, sent-by, CANCEL). A match must also have
 *    the same Call-ID and CSeq number, which retransmissions, the CANCEL
 *    and the non-2xx ACK always share with the request: peers that reuse a
 *    branch across requests (the RFC 4475 corpus does) then get a new
 *    transaction, and a forged CANCEL needs more than a branch.
 *  - otherwise (RFC 2543 peers, or the bare cookie): key = Call-ID + CSeq
 *    number + From tag + the whole top via-parm + method; a match must also
 *    have the same Request-URI, and the same To tag as the request (a
 *    retransmission, a CANCEL) or, for an ACK, the To tag of our response.
 *  - an ACK that matches no branch is looked up by (Call-ID, CSeq number,
 *    From tag, To tag) among INVITE transactions that sent a final response
 *    with that To tag: our tags are random, so this finds the ACK of a 2xx
 *    (RFC 6026 Accepted) and also absorbs the ACK of a non-2xx from a UA
 *    that put a new branch in it (some do) instead of retransmitting our
 *    final until timer H.
 * Client side (17.1.3): the response's top Via branch + CSeq method.
 *
 * Reliable transports (TCP) never retransmit, 2xx included (RFC 3261
 * 13.3.1.4 would retransmit a 2xx on any transport; a stateless proxy
 * between TCP and UDP is the case it covers, which a carrier edge does not
 * have). Timers that only absorb retransmissions (I, J, K, D) are 0 there.
 *
 * Users ("transaction users", TU): the front door (server side: every
 * request goes through sw_tx_server_receive first) and the call engine
 * (client side: B-leg requests). Everything runs on the signaling thread.
 * Callbacks may call any function here, including on the transaction they
 * are about; a transaction is freed only after its on_terminated returned. */
#ifndef SW_SIP_TRANSACTION_H
#define SW_SIP_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sip/message.h"

typedef struct sw_tx sw_tx_t;

typedef enum {
    SW_TX_SERVER_INVITE = 1,
    SW_TX_SERVER_NON_INVITE,
    SW_TX_CLIENT_INVITE,
    SW_TX_CLIENT_NON_INVITE
} sw_tx_kind_t;

/* Timer settings (from cfg; reloadable: new transactions take the new ones,
 * live ones keep the settings they started with). */
typedef struct sw_tx_settings {
    uint32_t resend_ms[32];       /* SS_SIP_RESEND_INTERVAL: gap before the n-th retransmission */
    size_t n_resend;              /* its length bounds the retransmissions */
    uint32_t t1_ms;               /* RFC 3261 T1 (500): 64*T1 is timer B (default INVITE timeout),
                                     D and M (absorbing a client INVITE's retransmitted finals), and
                                     the CANCEL wait (9.1) */
    uint32_t t4_ms;               /* T4 (5000): timer K (client non-INVITE) and I (server INVITE
                                     after the ACK) on UDP */
    uint32_t non_invite_timeout_ms; /* timer F: 64*T1 = 32000; also timer J (server non-INVITE keeps
                                     absorbing retransmissions as long as the client sends them) */
    uint32_t invite_server_timeout_ms; /* timer H / L: 64*T1 = 32000 (ACK / 2xx-ACK wait) */
    uint32_t linger_slot_ms;      /* 100: the timers of a transaction that has its final response
                                     (D, H, I, J, K, L, M: absorbing retransmissions, waiting for an
                                     ACK) expire at the next multiple of this many ms, so that the
                                     transactions of the same slot end in one loop wake-up instead of
                                     one each; 0 makes them exact. Retransmissions (A, E, G) and the
                                     timeouts of pending transactions (B, F) are always exact. */
    bool force_rport;             /* UDP responses to the source port (core param force_rport) */
} sw_tx_settings_t;

void sw_tx_configure(const sw_tx_settings_t *s);
void sw_tx_default_settings(sw_tx_settings_t *s);

/* ---- server side ---------------------------------------------------------- */

typedef enum {
    SW_TX_INVALID = 0,    /* no Via/From/To/Call-ID/CSeq (cannot be matched nor answered), or
                             no memory: drop it */
    SW_TX_NEW = 1,        /* a new server transaction: *tx is it; the TU must answer it */
    SW_TX_RETRANSMISSION, /* a retransmitted request: absorbed (last response re-sent) */
    SW_TX_ACK_ABSORBED,   /* ACK for a non-2xx final response of ours (or a retransmitted
                             one): hop-by-hop, done; *tx is NULL */
    SW_TX_ACK_2XX,        /* ACK for a 2xx (end to end): for the dialog layer; *tx is the
                             INVITE transaction in Accepted state it confirms (its 2xx
                             retransmissions stop), or NULL when none is alive: an ACK with
                             a To tag that matches no transaction (its transaction ended) */
    SW_TX_CANCEL,         /* CANCEL: *tx is the INVITE server transaction it matches, NULL
                             when none (answer 481); the CANCEL itself got its own server
                             transaction in *cancel_tx, which the TU answers: 200 whenever
                             *tx is set (RFC 3261 9.2), and then 487 on *tx when
                             sw_tx_server_pending(*tx) (no final response sent yet) */
    SW_TX_UNMATCHED_ACK   /* ACK without a To tag matching nothing: drop */
} sw_tx_match_t;

/* Matches a request against the server transactions. For SW_TX_NEW on an
 * INVITE, a 100 Trying is due at once: it goes out when the loop turns
 * (before any timer or I/O of the next iteration), unless the TU answered
 * the INVITE by then. RFC 3261 17.2.1 lets a UAS skip the 100 when it
 * answers within 200 ms, so the front door's synchronous answers (404, 483,
 * sanity failures) go out alone, and a routed INVITE gets its 100 within a
 * millisecond. A retransmitted INVITE gets the 100 at once if it was still
 * due. The message stays owned by the caller; the transaction keeps what it
 * needs (key, origin, the Via/From/To/Call-ID/CSeq text of responses). A
 * server transaction no TU attached to (sw_tx_server_set_user) that has no
 * final response after 64*T1 (H for INVITE, F for others: the client gave
 * up) is freed silently, so a request a module took and never answered
 * cannot leak. */
sw_tx_match_t sw_tx_server_receive(sw_msg_t *req, sw_tx_t **tx, sw_tx_t **cancel_tx);

/* What a response carries besides the request's Via/From/To/Call-ID/CSeq. */
typedef struct sw_tx_reply {
    int code;
    const char *reason;           /* NULL: the standard phrase */
    const char *to_tag;           /* our tag (NULL: keep the request's, or none for 100) */
    const char *extra_headers;    /* "Name: value\r\n" lines (Contact, Require, RSeq, ...) or NULL */
    const char *content_type;     /* NULL when no body */
    const char *body;
    size_t body_len;
    /* A final response to a non-INVITE request that keeps no state (RFC
     * 3261 8.2.7, a stateless UAS: a digest challenge is the usual case):
     * the transaction ends as soon as it is sent instead of absorbing
     * retransmissions for timer J, so a retransmitted request is a new one
     * and gets a new answer. The To tag must then come from the request
     * (to_tag), so that the new answer carries the same one. Ignored for
     * INVITE, whose final response must wait for its ACK. */
    bool stateless;
} sw_tx_reply_t;

/* Sends a response on a server transaction and moves its state machine.
 * Responses with a code above 100 carry one To tag for the whole
 * transaction: reply->to_tag when given (the latest one given wins), else a
 * random one chosen at the first such response; a request whose To has a
 * tag keeps it. -1 (nothing sent) once a final response was sent, for a bad
 * code, or a client transaction. Generated tags are "sw" + 16 hex digits.
 * Final non-2xx INVITE responses are retransmitted on UDP until the ACK
 * (timer G on the resend schedule, H to give up); a 2xx moves an INVITE
 * transaction to Accepted (RFC 6026): the 2xx is retransmitted on the resend
 * schedule until the ACK arrives (SW_TX_ACK_2XX) or timer L fires (the TU's
 * on_no_ack is called: the call should send BYE). Returns 0 when sent.
 * With reply->stateless (see there) on a final response to a non-INVITE,
 * the transaction is freed before this returns, sent or not. */
int sw_tx_server_respond(sw_tx_t *tx, const sw_tx_reply_t *reply);

/* TU callbacks of a server transaction (all optional). */
typedef struct sw_tx_server_cbs {
    void (*on_no_ack)(sw_tx_t *tx, void *ud);     /* 2xx never ACKed (timer L) */
    void (*on_terminated)(sw_tx_t *tx, void *ud); /* the transaction is about to be freed */
} sw_tx_server_cbs_t;
/* Sends the INVITE's 100 Trying now rather than when the loop turns (the
 * default, so that an INVITE answered at once gets no 100 first): the call
 * engine calls it as soon as an INVITE becomes a call, so the 100 always
 * leads, even when the gateway's 180 is read in the same batch. */
void sw_tx_server_trying_now(sw_tx_t *tx);

/* The user data the TU attached (NULL when none or detached). */
void *sw_tx_user(const sw_tx_t *tx);
void sw_tx_server_set_user(sw_tx_t *tx, const sw_tx_server_cbs_t *cbs, void *ud);

/* True while a server transaction has sent no final response (a CANCEL
 * still makes it answer 487). */
bool sw_tx_server_pending(const sw_tx_t *tx);

/* The TU will never answer this request (a module dropped it): no 100 goes
 * out, retransmissions are absorbed silently, and the transaction is freed
 * after 64*T1. */
void sw_tx_server_discard(sw_tx_t *tx);

/* ---- client side ------------------------------------------------------------ */

/* Where a client transaction sends (resolved by the TU). */
typedef struct sw_tx_destination {
    sw_transport_t transport;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint64_t via_socket_id;       /* UDP: the local socket to send from (0 = first UDP listener) */
} sw_tx_destination_t;

typedef struct sw_tx_client_cbs {
    /* Every response except retransmissions of a final one; `resp` is valid
     * during the call only. 100 included (the TU decides what to relay).
     * INVITE 2xx: the transaction stays in Accepted for 64*T1 (timer M,
     * RFC 6026) and hands every 2xx that arrives meanwhile to the TU, the
     * retransmissions of the first and the 2xx of other forks alike: the TU
     * answers each with its ACK through sw_tx_send_ack (the ACK of a 2xx
     * is end to end, outside the transaction). Non-2xx finals are ACKed
     * here and their retransmissions re-ACKed without a callback. */
    void (*on_response)(sw_tx_t *tx, sw_msg_t *resp, void *ud);
    /* No response at all within the timeout (INVITE: invite_timeout_ms, the
     * VOS3000 INVITE timeout; non-INVITE: timer F), or the transport failed
     * (TCP connect refused, ICMP unreachable): `transport_error` tells which. */
    void (*on_timeout)(sw_tx_t *tx, bool transport_error, void *ud);
    void (*on_terminated)(sw_tx_t *tx, void *ud);
} sw_tx_client_cbs_t;

typedef struct sw_tx_client_options {
    uint32_t invite_timeout_ms;   /* INVITE: give up when nothing at all arrived in this time
                                     (retransmissions follow the resend schedule inside it);
                                     0 = timer B (64*T1) */
} sw_tx_client_options_t;

/* Sends a request built by the TU (exact bytes, top Via with our branch
 * already in place: see sw_tx_new_branch) and starts a client transaction.
 * INVITE: retransmits over UDP until a provisional response, generates the
 * hop-by-hop ACK for non-2xx finals itself (2xx ACKs are the TU's, end to
 * end). Non-INVITE: retransmits over UDP on the whole schedule until a
 * final response (a provisional does not stop it, RFC 3261 17.1.2.2).
 * The n-th retransmission goes out resend_ms[n-1] after the previous one.
 * TCP: the request goes over the pooled connection to dest (connecting if
 * needed); a connect that fails, or the connection lost before a final
 * response, calls on_timeout(transport_error = true). UDP uses
 * dest->via_socket_id, or sw_udp_default_socket for the address family.
 * Returns NULL (and calls nothing) when it cannot be sent at all: bad
 * arguments, method ACK (see sw_tx_send_ack), a live client transaction
 * with the same branch and method, TLS, no socket. */
sw_tx_t *sw_tx_client_send(const char *method, const char *branch, const char *bytes, size_t len,
                           const sw_tx_destination_t *dest, const sw_tx_client_options_t *opts,
                           const sw_tx_client_cbs_t *cbs, void *ud);

/* The front door hands every response here first. Returns true when a
 * client transaction took it (including absorbed retransmissions). */
bool sw_tx_client_receive(sw_msg_t *resp);

/* CANCELs a pending client INVITE (RFC 3261 9.1): sends a CANCEL with the
 * same branch once a provisional response has arrived (or as soon as one
 * does; if none ever does, timer B ends the INVITE and no CANCEL is sent).
 * The CANCEL is its own non-INVITE client transaction (Request-URI, top Via,
 * Route, From, To, Call-ID and CSeq number of the INVITE, method CANCEL).
 * The INVITE transaction then ends with the 487 (ACKed here); when no final
 * response arrives within 64*T1 of the CANCEL, it ends with on_timeout
 * (transport_error = false). 0 when sent or scheduled (again: no-op), -1
 * when too late (a final response arrived) or tx is no client INVITE. */
int sw_tx_client_cancel(sw_tx_t *tx);

/* Sends a request outside any transaction: the end-to-end ACK of a 2xx
 * (RFC 3261 13.2.2.4), once per 2xx the TU is handed. TCP uses the pooled
 * connection to dest (the INVITE's one when dest is the same). No
 * retransmission, no matching. 0 when sent (or queued). */
int sw_tx_send_ack(const char *bytes, size_t len, const sw_tx_destination_t *dest);

/* The live client transaction with this branch and method (what a response
 * with that top Via branch and CSeq method would match), or NULL. */
sw_tx_t *sw_tx_client_find(const char *branch, const char *method);

/* ---- common -------------------------------------------------------------------- */

/* Detaches the TU: no more callbacks (e.g. the call was freed), from this
 * moment on, even inside a callback of this transaction. The transaction
 * finishes its protocol duties (ACK, retransmissions) alone. Nobody being
 * left to take an answer, a client INVITE still waiting for its final
 * response is CANCELled (sw_tx_client_cancel), and a server transaction
 * with no final response yet answers 500 so its client is not left
 * hanging. */
void sw_tx_detach(sw_tx_t *tx);

sw_tx_kind_t sw_tx_kind(const sw_tx_t *tx);
const char *sw_tx_branch(const sw_tx_t *tx);
const char *sw_tx_call_id(const sw_tx_t *tx);
/* A fresh RFC 3261 branch ("z9hG4bK" + 20 random hex) into buf (>= 32 bytes). */
void sw_tx_new_branch(char *buf, size_t n);

/* Live transactions by kind (metrics). */
size_t sw_tx_count(sw_tx_kind_t kind);

/* True when req is a retransmission of a request a live server transaction
 * holds (what sw_tx_server_receive would absorb), without creating one:
 * overload shedding must not refuse a request it already accepted. */
bool sw_tx_server_known(sw_msg_t *req);
/* Frees every transaction (shutdown) without calling any TU: the TUs are
 * gone by then. The layer can be used again afterwards (tests). */
void sw_tx_shutdown(void);

#endif
