#include "digest_header.h"

#include <string.h>
#include <strings.h>

static inline int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3261 token characters: alphanumerics and -.!%*_+`'~ (a switch the
 * compiler turns into a table: this runs on every byte of the header). */
static inline int is_token_char(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '-': case '.': case '!': case '%': case '*': case '_': case '+': case '`': case '\'': case '~':
        return 1;
    default:
        return 0;
    }
}

static size_t skip_space(const char *t, size_t len, size_t i)
{
    while (i < len && is_space(t[i]))
        i++;
    return i;
}

/* n bytes of s equal `lower`, a lower-case word, ignoring ASCII case: the
 * 0x20 bit folds exactly the letters onto lower case, and only a letter
 * can then equal a letter of `lower` (strncasecmp, with its locale, costs
 * several times more, on every parameter of every response). */
static int word_is(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((char)(s[i] | 0x20) != lower[i])
            return 0;
    return 1;
}

/* The slot a parameter name fills, or NULL for one we do not use: the
 * length and first letter leave one candidate to compare. */
static reg_digest_span_t *slot_of(reg_digest_creds_t *c, const char *name, size_t n)
{
    const char *word = NULL;
    reg_digest_span_t *slot = NULL;
    char first = (char)(name[0] | 0x20);
#define CANDIDATE(field) (word = #field, slot = &c->field)
    switch (n) {
    case 2:
        CANDIDATE(nc);
        break;
    case 3:
        first == 'u' ? CANDIDATE(uri) : CANDIDATE(qop);
        break;
    case 5:
        first == 'r' ? CANDIDATE(realm) : CANDIDATE(nonce);
        break;
    case 6:
        first == 'c' ? CANDIDATE(cnonce) : CANDIDATE(opaque);
        break;
    case 8:
        if (first == 'r')
            CANDIDATE(response);
        else
            (name[4] | 0x20) == 'n' ? CANDIDATE(username) : CANDIDATE(userhash);
        break;
    case 9:
        CANDIDATE(algorithm);
        break;
    default:
        return NULL;
    }
#undef CANDIDATE
    return word_is(name, word, n) ? slot : NULL;
}

reg_digest_parse_result_t reg_digest_parse(const char *t, size_t len, reg_digest_creds_t *out)
{
    memset(out, 0, sizeof *out);
    if (!t || memchr(t, '\0', len))
        return REG_DIGEST_MALFORMED;
    size_t i = skip_space(t, len, 0);
    size_t scheme = i;
    while (i < len && is_token_char(t[i]))
        i++;
    if (i == scheme)
        return REG_DIGEST_MALFORMED;
    if (i - scheme != 6 || !word_is(t + scheme, "digest", 6))
        return REG_DIGEST_NOT_DIGEST;
    if (i == len || !is_space(t[i]))
        return REG_DIGEST_MALFORMED; /* "Digest" must be followed by LWS and parameters */
    int seen_any = 0;
    for (;;) {
        i = skip_space(t, len, i);
        if (i == len)
            break;
        if (seen_any) {
            if (t[i] != ',')
                return REG_DIGEST_MALFORMED;
            i = skip_space(t, len, i + 1);
        }
        size_t name = i;
        while (i < len && is_token_char(t[i]))
            i++;
        size_t name_len = i - name;
        if (name_len == 0)
            return REG_DIGEST_MALFORMED;
        i = skip_space(t, len, i);
        if (i == len || t[i] != '=')
            return REG_DIGEST_MALFORMED;
        i = skip_space(t, len, i + 1);
        reg_digest_span_t v = {0};
        if (i < len && t[i] == '"') {
            size_t start = ++i;
            /* to the closing quote, a quoted-pair's quote aside: memchr
             * does the long stretches (nonces, responses) */
            for (;;) {
                const char *q = memchr(t + i, '"', len - i);
                if (!q)
                    return REG_DIGEST_MALFORMED; /* unterminated quoted string */
                size_t at = (size_t)(q - t), backslashes = 0;
                while (at - backslashes > start && t[at - backslashes - 1] == '\\')
                    backslashes++;
                i = at;
                if (backslashes % 2 == 0)
                    break; /* not escaped */
                i++;
            }
            v = (reg_digest_span_t){.p = t + start, .len = i - start, .quoted = 1};
            i++;
        } else {
            /* a token; some devices leave a uri unquoted, so anything up to
             * the next separator is taken, quotes excepted */
            size_t start = i;
            while (i < len && !is_space(t[i]) && t[i] != ',' && t[i] != '"')
                i++;
            if (i == start)
                return REG_DIGEST_MALFORMED;
            v = (reg_digest_span_t){.p = t + start, .len = i - start, .quoted = 0};
        }
        reg_digest_span_t *slot = slot_of(out, t + name, name_len);
        if (slot) {
            if (slot->p)
                return REG_DIGEST_MALFORMED; /* twice: which one would the other side have hashed? */
            *slot = v;
        }
        seen_any = 1;
    }
    return seen_any ? REG_DIGEST_OK : REG_DIGEST_MALFORMED;
}

int reg_digest_copy(const reg_digest_span_t *s, char *out, size_t outlen)
{
    if (!s || !s->p || !out || outlen == 0)
        return -1;
    if (!s->quoted || !memchr(s->p, '\\', s->len)) { /* nothing to undo: the usual case */
        if (s->len >= outlen)
            return -1;
        memcpy(out, s->p, s->len);
        out[s->len] = '\0';
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->p[i];
        if (s->quoted && c == '\\' && i + 1 < s->len)
            c = s->p[++i];
        if (n + 1 >= outlen)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

int reg_digest_span_is(const reg_digest_span_t *s, const char *word)
{
    char buf[64];
    return s && s->p && reg_digest_copy(s, buf, sizeof buf) == 0 && strcasecmp(buf, word) == 0;
}
