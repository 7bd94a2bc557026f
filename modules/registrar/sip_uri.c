#include "sip_uri.h"

#include <string.h>
#include <strings.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int reg_addr_uri(const char *v, size_t len, const char **uri, size_t *uri_len, const char **rest)
{
    size_t i = 0;
    while (i < len && is_space(v[i]))
        i++;
    /* a display name may be quoted and hold '<': find '<' outside quotes */
    size_t open = len;
    int in_quotes = 0;
    for (size_t k = i; k < len; k++) {
        if (in_quotes) {
            if (v[k] == '\\' && k + 1 < len)
                k++;
            else if (v[k] == '"')
                in_quotes = 0;
        } else if (v[k] == '"') {
            in_quotes = 1;
        } else if (v[k] == '<') {
            open = k;
            break;
        } else if (v[k] == ';' || v[k] == ',') {
            break; /* a bare addr-spec's parameters begin: no <...> follows */
        }
    }
    if (in_quotes)
        return -1;
    if (open < len) {
        const char *close = memchr(v + open + 1, '>', len - open - 1);
        if (!close)
            return -1;
        *uri = v + open + 1;
        *uri_len = (size_t)(close - (v + open + 1));
        if (rest)
            *rest = close + 1;
    } else {
        size_t end = i;
        while (end < len && v[end] != ';' && !is_space(v[end]) && v[end] != ',')
            end++;
        *uri = v + i;
        *uri_len = end - i;
        if (rest)
            *rest = v + end;
    }
    return *uri_len ? 0 : -1;
}

int reg_uri_parse(const char *u, size_t len, reg_uri_t *out)
{
    memset(out, 0, sizeof *out);
    const char *colon = memchr(u, ':', len);
    if (!colon)
        return -1;
    size_t sl = (size_t)(colon - u);
    /* "sip" or "sips" in any case (| 0x20 folds the letters, and only them, onto s, i, p) */
    if ((sl != 3 && sl != 4) || (u[0] | 0x20) != 's' || (u[1] | 0x20) != 'i' || (u[2] | 0x20) != 'p' ||
        (sl == 4 && (u[3] | 0x20) != 's'))
        return -1;
    out->scheme = u;
    out->scheme_len = sl;
    size_t i = sl + 1;
    size_t end = len; /* URI headers (?...) are not part of a binding */
    const char *q = memchr(u + i, '?', len - i);
    if (q)
        end = (size_t)(q - u);
    const char *at = memchr(u + i, '@', end - i);
    if (at) {
        size_t ul = (size_t)(at - (u + i));
        if (ul == 0)
            return -1; /* "sip:@host" */
        const char *pw = memchr(u + i, ':', ul); /* user:password (deprecated): the user only */
        out->user = u + i;
        out->user_len = pw ? (size_t)(pw - (u + i)) : ul;
        i = (size_t)(at - u) + 1;
    }
    if (i < end && u[i] == '[') {
        const char *close = memchr(u + i, ']', end - i);
        if (!close)
            return -1;
        out->host = u + i + 1;
        out->host_len = (size_t)(close - (u + i + 1));
        i = (size_t)(close - u) + 1;
    } else {
        size_t h = i;
        while (i < end && u[i] != ':' && u[i] != ';')
            i++;
        out->host = u + h;
        out->host_len = i - h;
    }
    if (out->host_len == 0)
        return -1;
    for (size_t k = 0; k < out->host_len; k++) {
        unsigned char c = (unsigned char)out->host[k];
        if (c <= ' ' || c == '<' || c == '>' || c == '"') /* spaces and control characters included */
            return -1;
    }
    if (i < end && u[i] == ':') {
        unsigned port = 0;
        size_t digits = 0;
        for (i++; i < end && u[i] >= '0' && u[i] <= '9'; i++, digits++) {
            port = port * 10 + (unsigned)(u[i] - '0');
            if (port > 65535)
                return -1;
        }
        if (digits == 0 || port == 0)
            return -1;
        out->port = port;
    }
    if (i < end && u[i] != ';')
        return -1;
    out->params = u + i;
    out->params_len = end - i;
    return 0;
}

int reg_param_find(const char *p, size_t len, const char *name, const char **value, size_t *value_len)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        while (i < len && (p[i] == ';' || is_space(p[i])))
            i++;
        size_t start = i;
        while (i < len && p[i] != ';' && p[i] != '=' && !is_space(p[i]))
            i++;
        size_t klen = i - start;
        while (i < len && is_space(p[i]))
            i++;
        const char *v = NULL;
        size_t vl = 0;
        if (i < len && p[i] == '=') {
            i++;
            while (i < len && is_space(p[i]))
                i++;
            if (i < len && p[i] == '"') {
                /* a quoted value (e.g. +sip.instance="<urn:...>") */
                size_t vs = ++i;
                while (i < len && p[i] != '"')
                    i += (p[i] == '\\' && i + 1 < len) ? 2 : 1;
                v = p + vs;
                vl = (i < len ? i : len) - vs;
                if (i < len)
                    i++;
            } else {
                size_t vs = i;
                while (i < len && p[i] != ';' && !is_space(p[i]))
                    i++;
                v = p + vs;
                vl = i - vs;
            }
        }
        while (i < len && p[i] != ';')
            i++; /* junk after a value: skipped to the next parameter */
        if (klen == nl && strncasecmp(p + start, name, nl) == 0) {
            if (value)
                *value = v ? v : p + start + klen;
            if (value_len)
                *value_len = vl;
            return 1;
        }
    }
    return 0;
}

/* Parameters that make two URIs different when either has them. */
static int params_agree(const reg_uri_t *a, const reg_uri_t *b)
{
    static const char *const significant[] = {"transport", "user", "maddr", "ttl", "method"};
    for (size_t k = 0; k < sizeof significant / sizeof significant[0]; k++) {
        const char *va = NULL, *vb = NULL;
        size_t la = 0, lb = 0;
        int ha = reg_param_find(a->params, a->params_len, significant[k], &va, &la);
        int hb = reg_param_find(b->params, b->params_len, significant[k], &vb, &lb);
        if (ha != hb || (ha && (la != lb || strncasecmp(va, vb, la) != 0)))
            return 0;
    }
    return 1;
}

int reg_uri_same(const char *a, size_t alen, const char *b, size_t blen)
{
    reg_uri_t ua, ub;
    if (reg_uri_parse(a, alen, &ua) || reg_uri_parse(b, blen, &ub))
        return alen == blen && memcmp(a, b, alen) == 0; /* not SIP URIs: only identical text matches */
    return ua.scheme_len == ub.scheme_len && strncasecmp(ua.scheme, ub.scheme, ua.scheme_len) == 0 &&
           ua.user_len == ub.user_len && memcmp(ua.user, ub.user, ua.user_len) == 0 &&
           ua.host_len == ub.host_len && strncasecmp(ua.host, ub.host, ua.host_len) == 0 && ua.port == ub.port &&
           params_agree(&ua, &ub);
}
