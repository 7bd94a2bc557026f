/*
 * Digest authentication of REGISTERs and INVITEs (RFC 7616; RFC 8760 for
 * SHA-256 in SIP), and the brute-force accounting around it.
 *
 * A request without usable credentials gets the challenge (401 with
 * WWW-Authenticate, or 407 with Proxy-Authenticate: SS_SIP_AUTHENTICATION_CODE),
 * one header per offered algorithm, most preferred first. A response is
 * verified before the nonce is judged, so that a right password with an
 * old nonce gets `stale=true` (the device retries silently) while a wrong
 * one is a failure whatever the nonce. Only wrong responses (and unknown
 * users) count as failures: a missing, stale, foreign or replayed nonce
 * costs the device one more round trip, nothing else.
 *
 * An IP that fails SS_AUTHENTICATION_MAX_RETRY times in a row is blocked in
 * the core's per-source table (api->block_address): from then on its
 * packets are dropped before they are parsed, which the module could not
 * do (blocks.c shows and lifts the blocks).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "digest_header.h"
#include "registrar.h"
#include "text_out.h"

#define NONCE_MAX 128
#define VALUE_MAX 512

/* The key of an account's suspension from one source: "account@ip". */
static void suspend_key(const char *user, const char *ip, char *out, size_t len)
{
    text_out_t o = {.p = out, .cap = len};
    text_put_str(&o, user);
    TEXT_PUT_LITERAL(&o, "@");
    text_put_str(&o, ip); /* (an account name and an address always fit the callers' buffers) */
}

int registrar_suspended(const char *user, const char *ip)
{
    if (reg_blocklist_is_empty(registrar.suspended))
        return 0; /* the usual case: no key to build */
    char key[REG_USER_MAX + 64];
    suspend_key(user, ip, key, sizeof key);
    return reg_blocklist_blocked_for(registrar.suspended, key, registrar.api->now_ms()) != 0;
}

/* The credentials of the request meant for our realm, if any: the header
 * the challenge code asks for first, then the other (some devices answer a
 * 407 with Authorization). */
static const char *find_credentials(const sw_msg_t *req, reg_digest_creds_t *creds, int *malformed)
{
    const sw_api_t *api = registrar.api;
    const char *names[2] = {"Authorization", "Proxy-Authorization"};
    if (registrar.set.challenge_code == 407) {
        names[0] = "Proxy-Authorization";
        names[1] = "Authorization";
    }
    *malformed = 0;
    for (int k = 0; k < 2; k++) {
        const char *v;
        for (size_t i = 0; (v = api->msg_header(req, names[k], i)) != NULL; i++) {
            reg_digest_parse_result_t r = reg_digest_parse(v, strlen(v), creds);
            if (r == REG_DIGEST_MALFORMED) {
                *malformed = 1;
                continue;
            }
            char realm[sizeof registrar.set.realm];
            if (r == REG_DIGEST_OK && reg_digest_copy(&creds->realm, realm, sizeof realm) == 0 &&
                strcmp(realm, registrar.set.realm) == 0)
                return v;
        }
    }
    return NULL;
}

int registrar_has_credentials(const sw_msg_t *req)
{
    reg_digest_creds_t creds;
    int malformed;
    return find_credentials(req, &creds, &malformed) != NULL || malformed;
}

/* Sends the challenge: a fresh nonce, one header per offered algorithm. */
static void challenge(sw_msg_t *req, const char *ip, int stale)
{
    const sw_api_t *api = registrar.api;
    char nonce[REG_NONCE_TEXT];
    reg_nonces_make(registrar.nonces, ip, api->now_ms(), nonce);
    /* room for every header with the longest realm: never full */
    char extra[REG_ALG_COUNT * (sizeof registrar.set.realm + REG_NONCE_TEXT + 128)];
    text_out_t o = {.p = extra, .cap = sizeof extra};
    extra[0] = '\0';
    for (size_t i = 0; i < registrar.set.n_algs; i++) {
        if (registrar.set.challenge_code == 407)
            TEXT_PUT_LITERAL(&o, "Proxy-Authenticate: Digest realm=\"");
        else
            TEXT_PUT_LITERAL(&o, "WWW-Authenticate: Digest realm=\"");
        text_put_str(&o, registrar.set.realm);
        TEXT_PUT_LITERAL(&o, "\", nonce=\"");
        text_put(&o, nonce, REG_NONCE_TEXT - 1);
        TEXT_PUT_LITERAL(&o, "\", algorithm=");
        text_put_str(&o, reg_digest_alg_name(registrar.set.algs[i]));
        TEXT_PUT_LITERAL(&o, ", qop=\"auth\"");
        if (stale)
            TEXT_PUT_LITERAL(&o, ", stale=true");
        TEXT_PUT_LITERAL(&o, "\r\n");
    }
    api->msg_reply(req, registrar.set.challenge_code, NULL, extra);
    api->stat_add(registrar.st.challenges, 1);
    if (stale)
        api->stat_add(registrar.st.stale, 1);
}

static int offered(reg_digest_alg_t alg)
{
    for (size_t i = 0; i < registrar.set.n_algs; i++)
        if (registrar.set.algs[i] == alg)
            return 1;
    return 0;
}

/* The IP's failures reached SS_AUTHENTICATION_MAX_RETRY (newly), or a
 * request came through from an IP the module counts as blocked (the core
 * lost the block: its table was crowded): the core blocks it for what is
 * left of the block time. 1 when it did. A trusted address ([mapping]
 * source, [gateway]) is not blocked: its count starts again. */
static int block_ip(const char *ip, uint64_t left_ms, int newly)
{
    const sw_api_t *api = registrar.api;
    switch (api->block_address(registrar.self, ip, left_ms, "auth_failures")) {
    case 0:
        api->log(registrar.self, SW_LOG_WARN, NULL,
                 newly ? "%s blocked after repeated authentication failures: its requests are dropped"
                       : "%s failed again while counted as blocked: blocked again",
                 ip);
        return 1;
    case 1: /* the core logs the first refusal for the address */
        api->stat_add(registrar.st.trusted_not_blocked, 1);
        break;
    default:
        api->log(registrar.self, SW_LOG_ERROR, NULL, "%s: the core would not block it", ip);
        break;
    }
    reg_blocklist_clear(registrar.blocked_ips, ip);
    return 0;
}

/* A wrong password (or an unknown user): counted against the IP and, for a
 * REGISTER, against the account from that IP. The request is answered
 * with a new challenge, unless the IP just got blocked: then it is dropped
 * like everything that follows from it (by the core). */
static sw_hook_result_t failed(sw_msg_t *req, const char *ip, const char *user, int is_register,
                               const char *why)
{
    const sw_api_t *api = registrar.api;
    uint64_t now = api->now_ms();
    api->stat_add(registrar.st.auth_failures, 1);
    api->log(registrar.self, SW_LOG_NOTICE, api->msg_call_id(req), "%s for '%s' from %s: authentication failed (%s)",
             api->msg_method(req), user, ip, why);
    if (is_register) {
        char key[REG_USER_MAX + 64];
        suspend_key(user, ip, key, sizeof key);
        if (reg_blocklist_failure(registrar.suspended, key, now))
            api->log(registrar.self, SW_LOG_WARN, NULL,
                     "account '%s' suspended for registrations from %s after repeated failures", user, ip);
    }
    int newly = reg_blocklist_failure(registrar.blocked_ips, ip, now);
    uint64_t left_ms = reg_blocklist_blocked_for(registrar.blocked_ips, ip, now);
    if (left_ms && block_ip(ip, left_ms, newly))
        return SW_HOOK_DROP;
    challenge(req, ip, 0);
    return SW_HOOK_HANDLED;
}

static sw_hook_result_t bad_request(sw_msg_t *req, const char *why)
{
    char reason[96];
    snprintf(reason, sizeof reason, "Bad Request (%s)", why);
    registrar.api->msg_reply(req, 400, reason, NULL);
    return SW_HOOK_HANDLED;
}

sw_hook_result_t registrar_authenticate(sw_msg_t *req, const char *ip, const char *user, int is_register,
                                        const reg_account_t **account)
{
    const sw_api_t *api = registrar.api;
    reg_digest_creds_t c;
    int malformed;
    if (!find_credentials(req, &c, &malformed)) {
        if (malformed)
            return bad_request(req, "malformed credentials");
        challenge(req, ip, 0);
        return SW_HOOK_HANDLED;
    }
    reg_digest_alg_t alg = REG_ALG_MD5; /* RFC 7616 3.4: no algorithm means MD5 */
    char text[VALUE_MAX];
    if (c.algorithm.p) {
        if (reg_digest_copy(&c.algorithm, text, sizeof text) != 0 || reg_digest_alg_parse(text, &alg) != 0 ||
            !offered(alg)) {
            challenge(req, ip, 0); /* an algorithm we did not offer: offer again */
            return SW_HOOK_HANDLED;
        }
    } else if (!offered(REG_ALG_MD5)) {
        challenge(req, ip, 0);
        return SW_HOOK_HANDLED;
    }
    char username[REG_USER_MAX + 1], nonce[NONCE_MAX], uri[VALUE_MAX], response[REG_DIGEST_HEX_MAX + 1];
    char cnonce[NONCE_MAX] = "", nc_text[16] = "";
    uint32_t nc = 0;
    int with_qop = c.qop.p != NULL;
    if (reg_digest_copy(&c.username, username, sizeof username) != 0 ||
        reg_digest_copy(&c.nonce, nonce, sizeof nonce) != 0 || reg_digest_copy(&c.uri, uri, sizeof uri) != 0 ||
        reg_digest_copy(&c.response, response, sizeof response) != 0)
        return bad_request(req, "incomplete credentials");
    if (with_qop) {
        if (!reg_digest_span_is(&c.qop, "auth"))
            return bad_request(req, "qop must be auth");
        if (reg_digest_copy(&c.nc, nc_text, sizeof nc_text) != 0 || reg_nonce_count_parse(nc_text, &nc) != 0 ||
            nc == 0 || reg_digest_copy(&c.cnonce, cnonce, sizeof cnonce) != 0)
            return bad_request(req, "qop=auth needs nc and cnonce");
    }
    /* RFC 7616 3.4.6 would have the digest uri equal the Request-URI (a
     * SHOULD). Devices differ (sipp hashes "sip:switch-address", phones
     * often their registrar's domain), so any uri is taken as hashed: what
     * keeps a captured header from serving another request is the method
     * in the hash, the nonce sealed to the device's IP, and the nonce
     * count used once. */
    const char *ruri = api->msg_ruri(req);
    if (ruri && strcasecmp(uri, ruri) != 0)
        api->log(registrar.self, SW_LOG_DEBUG, api->msg_call_id(req), "digest uri %s differs from Request-URI %s",
                 uri, ruri);

    const reg_account_t *acc = reg_accounts_find(registrar.accounts, username);
    if (!acc)
        return failed(req, ip, user, is_register, "unknown user");
    char expected[REG_DIGEST_HEX_MAX];
    reg_hasher_response(registrar.hasher, alg, acc->ha1[alg], nonce, with_qop ? nc_text : NULL, cnonce,
                        with_qop ? "auth" : NULL, api->msg_method(req), uri, expected);
    if (!reg_digest_hex_equal(expected, response))
        return failed(req, ip, user, is_register, "wrong password");
    uint64_t now = api->now_ms();
    switch (reg_nonces_accept(registrar.nonces, nonce, ip, nc, now, registrar.set.nonce_lifetime_ms)) {
    case REG_NONCE_FRESH:
        break;
    case REG_NONCE_REPLAYED:
        api->stat_add(registrar.st.replays, 1);
        api->log(registrar.self, SW_LOG_NOTICE, api->msg_call_id(req),
                 "%s for '%s' from %s reuses nonce count %08x: challenged again", api->msg_method(req), username, ip,
                 (unsigned)nc);
        challenge(req, ip, 1);
        return SW_HOOK_HANDLED;
    case REG_NONCE_STALE:
    case REG_NONCE_FOREIGN:
        challenge(req, ip, 1);
        return SW_HOOK_HANDLED;
    }
    /* right password, but for another account than the request claims */
    if (strcmp(username, user) != 0) {
        api->msg_reply(req, 403, "Forbidden (credentials of another account)", NULL);
        return SW_HOOK_HANDLED;
    }
    reg_blocklist_success(registrar.blocked_ips, ip);
    if (is_register && !reg_blocklist_is_empty(registrar.suspended)) {
        char key[REG_USER_MAX + 64];
        suspend_key(user, ip, key, sizeof key);
        reg_blocklist_success(registrar.suspended, key);
    }
    *account = acc;
    return SW_HOOK_CONTINUE;
}
