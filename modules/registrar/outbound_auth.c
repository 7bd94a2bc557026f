#include "outbound_auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "digest_header.h"

static int is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True when parameter `name` of a challenge that reg_digest_parse accepted
 * (its syntax is known good) has the value `word`, ignoring case.
 * digest_header.c keeps the parameters of credentials only, and `stale`
 * belongs to challenges. */
static int challenge_param_is(const char *t, size_t len, const char *name, const char *word)
{
    size_t i = 0;
    while (i < len && is_lws(t[i]))
        i++;
    while (i < len && !is_lws(t[i])) /* the scheme */
        i++;
    while (i < len) {
        while (i < len && (is_lws(t[i]) || t[i] == ','))
            i++;
        size_t name_at = i;
        while (i < len && t[i] != '=' && !is_lws(t[i]))
            i++;
        size_t name_len = i - name_at;
        while (i < len && (is_lws(t[i]) || t[i] == '='))
            i++;
        size_t value_at = i, value_len;
        if (i < len && t[i] == '"') {
            value_at = ++i;
            while (i < len && t[i] != '"')
                i += (t[i] == '\\' && i + 1 < len) ? 2 : 1;
            value_len = i - value_at;
            i++; /* the closing quote */
        } else {
            while (i < len && t[i] != ',' && !is_lws(t[i]))
                i++;
            value_len = i - value_at;
        }
        if (name_len == strlen(name) && strncasecmp(t + name_at, name, name_len) == 0)
            return value_len == strlen(word) && strncasecmp(t + value_at, word, value_len) == 0;
    }
    return 0;
}

/* True when the comma list (a challenge's qop-options) holds `word`. */
static int list_has(const char *list, const char *word)
{
    size_t wlen = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == wlen && strncasecmp(p, word, n) == 0)
            return 1;
        p += n;
    }
    return 0;
}

int ob_challenge_parse(const char *value, size_t len, ob_challenge_t *out)
{
    memset(out, 0, sizeof *out);
    reg_digest_creds_t c;
    if (!value || reg_digest_parse(value, len, &c) != REG_DIGEST_OK)
        return -1;
    if (reg_digest_copy(&c.realm, out->realm, sizeof out->realm) != 0 ||
        reg_digest_copy(&c.nonce, out->nonce, sizeof out->nonce) != 0 || !out->nonce[0])
        return -1;
    out->alg = REG_ALG_MD5; /* RFC 7616 3.3: absent means MD5 */
    if (c.algorithm.p) {
        char alg[32];
        if (reg_digest_copy(&c.algorithm, alg, sizeof alg) != 0 || reg_digest_alg_parse(alg, &out->alg) != 0)
            return -1;
    }
    if (c.qop.p) {
        char qop[64];
        if (reg_digest_copy(&c.qop, qop, sizeof qop) != 0 || !list_has(qop, "auth"))
            return -1; /* auth-int alone: the switch does not hash bodies */
        out->qop_auth = 1;
    }
    if (c.opaque.p) {
        if (reg_digest_copy(&c.opaque, out->opaque, sizeof out->opaque) != 0)
            return -1;
        out->has_opaque = 1;
    }
    out->stale = challenge_param_is(value, len, "stale", "true");
    return 0;
}

int ob_challenge_pick(const char *const *values, size_t n, ob_challenge_t *out)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        ob_challenge_t c;
        if (!values[i] || ob_challenge_parse(values[i], strlen(values[i]), &c) != 0)
            continue;
        if (!found || (c.alg == REG_ALG_SHA256 && out->alg != REG_ALG_SHA256)) {
            *out = c;
            found = 1;
        }
    }
    return found ? 0 : -1;
}

typedef struct text_out {
    char *p;
    size_t len, used;
    int overflow;
} text_out_t;

static void put(text_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_out_t *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->len - o->used)
        o->overflow = 1;
    else
        o->used += (size_t)n;
}

/* sep name="value", with the quoted-pair escapes a quoted-string needs. */
static void put_quoted(text_out_t *o, const char *sep, const char *name, const char *value)
{
    put(o, "%s%s=\"", sep, name);
    for (const char *s = value; *s && !o->overflow; s++)
        put(o, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    put(o, "\"");
}

int ob_authorization(const ob_challenge_t *c, const char *username, const char *password, const char *method,
                     const char *uri, uint32_t nc, const char *cnonce, char *out, size_t len)
{
    if (!out || len == 0)
        return -1;
    char ha1[REG_DIGEST_HEX_MAX], response[REG_DIGEST_HEX_MAX], nc_text[9];
    snprintf(nc_text, sizeof nc_text, "%08x", (unsigned)nc);
    reg_digest_ha1(c->alg, username, c->realm, password, ha1);
    reg_digest_response(c->alg, ha1, c->nonce, nc_text, cnonce, c->qop_auth ? "auth" : NULL, method, uri,
                        response);
    text_out_t o = {.p = out, .len = len};
    put_quoted(&o, "Digest ", "username", username);
    put_quoted(&o, ", ", "realm", c->realm);
    put_quoted(&o, ", ", "nonce", c->nonce);
    put_quoted(&o, ", ", "uri", uri);
    put(&o, ", response=\"%s\", algorithm=%s", response, reg_digest_alg_name(c->alg));
    if (c->qop_auth) {
        put_quoted(&o, ", ", "cnonce", cnonce);
        put(&o, ", qop=auth, nc=%s", nc_text);
    }
    if (c->has_opaque)
        put_quoted(&o, ", ", "opaque", c->opaque);
    return o.overflow ? -1 : 0;
}
