#include "contact_list.h"

#include "sip_uri.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "0", "0.5", "1", "1.000" (RFC 3261 qvalue) as thousandths; -1 if bad. */
static int parse_q(const char *v, size_t len)
{
    if (len == 0 || (v[0] != '0' && v[0] != '1'))
        return -1;
    int q = (v[0] - '0') * 1000, scale = 100;
    if (len == 1)
        return q;
    if (v[1] != '.' || len > 5)
        return -1;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        q += (v[i] - '0') * scale;
    }
    return q <= 1000 ? q : -1;
}

/* delta-seconds; values past 2^32-1 are taken as 2^32-1 (RFC 3261 10.2.1.1 says
 * they are valid: the registrar's cap applies anyway). -1 if not digits. */
static int64_t parse_expires(const char *v, size_t len)
{
    if (len == 0)
        return -1;
    int64_t e = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (e < 4294967295LL)
            e = e * 10 + (v[i] - '0');
    }
    return e > 4294967295LL ? 4294967295LL : e;
}

static int parse_one(const char *v, size_t len, reg_contact_t *c)
{
    const char *rest = NULL;
    if (reg_addr_uri(v, len, &c->uri, &c->uri_len, &rest) != 0)
        return -1;
    size_t rest_len = len - (size_t)(rest - v);
    const char *pv;
    size_t pl;
    c->expires = -1;
    c->q = -1;
    if (reg_param_find(rest, rest_len, "expires", &pv, &pl) && (c->expires = parse_expires(pv, pl)) < 0)
        return -1;
    if (reg_param_find(rest, rest_len, "q", &pv, &pl) && (c->q = parse_q(pv, pl)) < 0)
        return -1;
    return 0;
}

int reg_contact_parse(const char *v, size_t len, reg_contact_t *out, size_t max, size_t *n, int *star)
{
    size_t b = 0, e = len;
    while (b < e && is_space(v[b]))
        b++;
    while (e > b && is_space(v[e - 1]))
        e--;
    if (e - b == 1 && v[b] == '*') {
        *star = 1;
        return 0;
    }
    size_t start = b;
    int in_quotes = 0, in_angle = 0;
    for (size_t i = b; i <= e; i++) {
        if (i < e) {
            char ch = v[i];
            if (in_quotes) {
                if (ch == '\\' && i + 1 < e)
                    i++;
                else if (ch == '"')
                    in_quotes = 0;
                continue;
            }
            if (in_angle) {
                if (ch == '>')
                    in_angle = 0;
                continue;
            }
            if (ch == '"')
                in_quotes = 1;
            else if (ch == '<')
                in_angle = 1;
            if (ch != ',')
                continue;
        } else if (in_quotes || in_angle) {
            return -1;
        }
        if (*n >= max)
            return -1;
        if (parse_one(v + start, i - start, &out[*n]) != 0)
            return -1;
        (*n)++;
        start = i + 1;
    }
    return 0;
}
