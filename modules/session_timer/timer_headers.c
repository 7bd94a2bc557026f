/*
 * RFC 4028 header fields and the SDP origin line, parsed from their text
 * (timer_headers.h). The grammar followed is RFC 3261 25.1 and RFC 4028 4-5:
 *
 *   Session-Expires = ("Session-Expires" / "x") HCOLON delta-seconds *(SEMI se-params)
 *   se-params       = refresher-param / generic-param
 *   refresher-param = "refresher" EQUAL ("uas" / "uac")
 *   Min-SE          = "Min-SE" HCOLON delta-seconds *(SEMI generic-param)
 */
#include "timer_headers.h"

#include <string.h>
#include <strings.h>

static bool is_lws(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_lws(const char *p)
{
    while (is_lws(*p))
        p++;
    return p;
}

/* RFC 3261 25.1 token characters. */
static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* delta-seconds at p: at least one digit, the value clamped to
 * ST_MAX_INTERVAL_S (digits past that only keep it clamped, whatever their
 * number). Returns the character after the digits, NULL when there are none. */
static const char *parse_delta_seconds(const char *p, uint32_t *out)
{
    uint64_t v = 0;
    const char *start = p;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > ST_MAX_INTERVAL_S)
            v = ST_MAX_INTERVAL_S + 1; /* stays above the cap without overflowing */
    }
    if (p == start)
        return NULL;
    *out = v > ST_MAX_INTERVAL_S ? ST_MAX_INTERVAL_S : (uint32_t)v;
    return p;
}

/* One generic-param value: a token, a quoted string (backslash escapes) or
 * an IPv6 reference. Returns the character after it, NULL when malformed. */
static const char *parse_param_value(const char *p, const char **value, size_t *len)
{
    const char *start = p;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1])
                p++;
        if (*p != '"')
            return NULL;
        p++;
    } else if (*p == '[') {
        while (*p && *p != ']')
            p++;
        if (*p != ']')
            return NULL;
        p++;
    } else {
        while (is_token_char(*p))
            p++;
        if (p == start)
            return NULL;
    }
    *value = start;
    *len = (size_t)(p - start);
    return p;
}

/* Walks ";name[=value]" parameters from p to the end of the string. The
 * refresher parameter, if refresher is not NULL, is stored there. False on
 * anything malformed. */
static bool parse_params(const char *p, st_refresher_t *refresher)
{
    for (;;) {
        p = skip_lws(p);
        if (*p == '\0')
            return true;
        if (*p != ';')
            return false;
        p = skip_lws(p + 1);
        const char *name = p;
        while (is_token_char(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        if (name_len == 0)
            return false;
        p = skip_lws(p);
        const char *value = NULL;
        size_t value_len = 0;
        if (*p == '=') {
            p = parse_param_value(skip_lws(p + 1), &value, &value_len);
            if (!p)
                return false;
        }
        if (refresher && name_len == 9 && strncasecmp(name, "refresher", 9) == 0) {
            if (value_len == 3 && strncasecmp(value, "uac", 3) == 0)
                *refresher = ST_REFRESHER_UAC;
            else if (value_len == 3 && strncasecmp(value, "uas", 3) == 0)
                *refresher = ST_REFRESHER_UAS;
            else
                return false;
        }
    }
}

bool st_parse_session_expires(const char *value, st_session_expires_t *out)
{
    if (!value || !out)
        return false;
    st_session_expires_t se = {0};
    const char *p = parse_delta_seconds(skip_lws(value), &se.seconds);
    if (!p || se.seconds == 0 || !parse_params(p, &se.refresher))
        return false;
    *out = se;
    return true;
}

bool st_parse_min_se(const char *value, uint32_t *out)
{
    if (!value || !out)
        return false;
    uint32_t v = 0;
    const char *p = parse_delta_seconds(skip_lws(value), &v);
    if (!p || v == 0 || !parse_params(p, NULL))
        return false;
    *out = v;
    return true;
}

bool st_list_has(const char *list, const char *token)
{
    if (!list || !token)
        return false;
    size_t want = strlen(token);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        const char *item = p;
        size_t len = n;
        while (len && is_lws(*item))
            item++, len--;
        while (len && is_lws(item[len - 1]))
            len--;
        if (len == want && strncasecmp(item, token, want) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

bool st_sdp_origin(const char *body, size_t len, const char **line, size_t *line_len)
{
    if (!body)
        return false;
    /* every SDP line starts a line: at the body's start or after a LF */
    for (size_t i = 0; i + 1 < len; i++) {
        if ((i == 0 || body[i - 1] == '\n') && body[i] == 'o' && body[i + 1] == '=') {
            size_t end = i;
            while (end < len && body[end] != '\r' && body[end] != '\n')
                end++;
            *line = body + i;
            *line_len = end - i;
            return true;
        }
    }
    return false;
}

bool st_sdp_same_session(const char *a, size_t a_len, const char *b, size_t b_len)
{
    const char *oa, *ob;
    size_t la, lb;
    if (!st_sdp_origin(a, a_len, &oa, &la) || !st_sdp_origin(b, b_len, &ob, &lb))
        return false;
    /* trailing blanks are not part of the session's identity */
    while (la && is_lws(oa[la - 1]))
        la--;
    while (lb && is_lws(ob[lb - 1]))
        lb--;
    return la == lb && memcmp(oa, ob, la) == 0;
}

/* True when any instance of the header lists the token. */
static bool header_lists(const sw_api_t *api, const sw_msg_t *m, const char *name, const char *token)
{
    size_t n = api->msg_header_count(m, name);
    for (size_t i = 0; i < n; i++)
        if (st_list_has(api->msg_header(m, name, i), token))
            return true;
    return false;
}

void st_offer_read(const sw_api_t *api, const sw_msg_t *m, st_offer_t *out)
{
    memset(out, 0, sizeof *out);
    out->required = header_lists(api, m, "Require", "timer");
    out->supported = out->required || header_lists(api, m, "Supported", "timer");
    out->allows_update = header_lists(api, m, "Allow", "UPDATE");
    const char *se = api->msg_header(m, "Session-Expires", 0);
    if (se) {
        out->has_se = st_parse_session_expires(se, &out->se);
        out->se_malformed = !out->has_se;
    }
    uint32_t min_se = 0;
    if (st_parse_min_se(api->msg_header(m, "Min-SE", 0), &min_se))
        out->min_se_s = min_se;
}

bool st_to_has_tag(const sw_api_t *api, const sw_msg_t *m)
{
    const char *to = api->msg_header(m, "To", 0);
    if (!to)
        return false;
    /* the tag is a header parameter: after the closing '>' when there is one */
    const char *params = strrchr(to, '>');
    for (const char *p = params ? params : to; (p = strchr(p, ';')) != NULL;) {
        p = skip_lws(p + 1);
        if (strncasecmp(p, "tag", 3) == 0 && (skip_lws(p + 3)[0] == '='))
            return true;
    }
    return false;
}

bool st_msg_sdp(const sw_api_t *api, const sw_msg_t *m, const char **body, size_t *len)
{
    size_t n = 0;
    const char *b = api->msg_body(m, &n);
    const char *ct = api->msg_header(m, "Content-Type", 0);
    if (!b || n == 0 || !ct)
        return false;
    ct = skip_lws(ct);
    if (strncasecmp(ct, "application/sdp", 15) != 0)
        return false;
    char after = ct[15];
    if (after != '\0' && after != ';' && !is_lws(after))
        return false;
    *body = b;
    *len = n;
    return true;
}
