/* Typed parameter parsing and validation. Every error message names what was
 * expected and what was found, because the operator reads it at file:line. */
#include "config.h"

#include "cfg/params.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sw_param_normalize(const sw_param_t *in, sw_param_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n = in->size < sizeof *out ? in->size : sizeof *out;
    memcpy(out, in, n);
    out->size = sizeof *out;
    if (!out->scopes)
        out->scopes = SW_SCOPE_GLOBAL;
    if (!out->unit)
        out->unit = "s";
}

size_t sw_param_count(const sw_param_t *params)
{
    size_t n = 0;
    for (const sw_param_t *p = params; p && p->size; p = SW_SIZED_NEXT(p))
        n++;
    return n;
}

void sw_param_at(const sw_param_t *params, size_t i, sw_param_t *out)
{
    const sw_param_t *p = params;
    while (i--)
        p = SW_SIZED_NEXT(p);
    sw_param_normalize(p, out);
}

bool sw_param_has_range(const sw_param_t *p)
{
    return p->min != 0 || p->max != 0;
}

const char *sw_param_type_name(sw_param_type_t t)
{
    switch (t) {
    case SW_PARAM_BOOL: return "bool";
    case SW_PARAM_INT: return "int";
    case SW_PARAM_STRING: return "string";
    case SW_PARAM_ENUM: return "enum";
    case SW_PARAM_DURATION: return "duration";
    case SW_PARAM_DURATION_LIST: return "duration list";
    case SW_PARAM_INT_LIST: return "int list";
    case SW_PARAM_STRING_LIST: return "string list";
    case SW_PARAM_ADDRESS: return "address";
    }
    return "?";
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int sw_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1", "enable", "enabled"};
    static const char *const no[] = {"off", "no", "false", "0", "disable", "disabled"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

int sw_parse_int64(const char *s, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

int sw_parse_duration_ms(const char *s, const char *default_unit, int64_t *out_ms)
{
    char *end;
    errno = 0;
    if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
        return -1;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    const char *unit = *end ? end : (default_unit ? default_unit : "s");
    double scale;
    if (strcasecmp(unit, "ms") == 0) scale = 1;
    else if (strcasecmp(unit, "s") == 0) scale = 1000;
    else if (strcasecmp(unit, "m") == 0 || strcasecmp(unit, "min") == 0) scale = 60000;
    else if (strcasecmp(unit, "h") == 0) scale = 3600000;
    else return -1;
    double ms = v * scale;
    if (ms > 9.0e15)
        return -1;
    *out_ms = (int64_t)llround(ms);
    return 0;
}

void sw_param_format_duration(const sw_param_t *p, int64_t ms, char *buf, size_t n)
{
    if (p->unit && strcmp(p->unit, "ms") == 0)
        snprintf(buf, n, "%" PRId64 " ms", ms);
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%" PRId64 " s", ms / 1000);
    else
        snprintf(buf, n, "%g s", (double)ms / 1000.0);
}

void sw_param_describe_range(const sw_param_t *p, char *buf, size_t n)
{
    buf[0] = '\0';
    switch (p->type) {
    case SW_PARAM_BOOL:
        snprintf(buf, n, "On/Off");
        break;
    case SW_PARAM_ENUM: {
        size_t off = 0;
        for (const char *const *c = p->choices; c && *c && off < n; c++)
            off += (size_t)snprintf(buf + off, n - off, "%s%s", c == p->choices ? "" : "/", *c);
        break;
    }
    case SW_PARAM_INT:
    case SW_PARAM_INT_LIST:
        if (sw_param_has_range(p))
            snprintf(buf, n, "%" PRId64 "–%" PRId64, p->min, p->max);
        break;
    case SW_PARAM_DURATION:
    case SW_PARAM_DURATION_LIST:
        if (sw_param_has_range(p)) {
            char lo[32], hi[32];
            sw_param_format_duration(p, p->min, lo, sizeof lo);
            sw_param_format_duration(p, p->max, hi, sizeof hi);
            snprintf(buf, n, "%s – %s", lo, hi);
        }
        break;
    case SW_PARAM_ADDRESS:
        snprintf(buf, n, "host:port");
        break;
    default:
        break;
    }
}

/* host:port with host an IPv4 address, [IPv6] or a DNS name. */
static int parse_address(const char *s, char *err, size_t errlen)
{
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "expected [ipv6]:port, got '%s'", s);
            return -1;
        }
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s) {
            snprintf(err, errlen, "expected host:port, got '%s'", s);
            return -1;
        }
        for (const char *c = s; c < colon; c++)
            if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_')) {
                snprintf(err, errlen, "bad character '%c' in host of '%s'", *c, s);
                return -1;
            }
    }
    int64_t port;
    if (sw_parse_int64(colon + 1, &port) || port < 1 || port > 65535) {
        snprintf(err, errlen, "bad port in '%s' (expected 1–65535)", s);
        return -1;
    }
    return 0;
}

static int check_int_range(const sw_param_t *p, int64_t v, char *err, size_t errlen)
{
    if (sw_param_has_range(p) && (v < p->min || v > p->max)) {
        snprintf(err, errlen, "%" PRId64 " is out of range (%" PRId64 "–%" PRId64 ")", v, p->min, p->max);
        return -1;
    }
    return 0;
}

static int check_duration(const sw_param_t *p, const char *item, int64_t *ms, char *err, size_t errlen)
{
    if (sw_parse_duration_ms(item, p->unit, ms)) {
        snprintf(err, errlen, "expected a duration (e.g. 10, 10s, 500ms), got '%s'", item);
        return -1;
    }
    if (sw_param_has_range(p) && (*ms < p->min || *ms > p->max)) {
        char range[96];
        sw_param_describe_range(p, range, sizeof range);
        snprintf(err, errlen, "'%s' is out of range (%s)", item, range);
        return -1;
    }
    return 0;
}

/* Splits a comma list into trimmed items; empty items are errors except for
 * an empty list as a whole. */
static int split_list(const char *text, sw_value_t *out, char *err, size_t errlen)
{
    char *copy = strdup(text);
    if (!copy)
        abort();
    char *t = trim(copy);
    if (*t) {
        char *save = NULL;
        size_t len = strlen(t);
        /* strtok_r would silently skip empty items: find them first */
        bool empty_item = t[0] == ',';
        for (const char *c = t; *c && !empty_item; c++)
            if (*c == ',') {
                const char *n = c + 1;
                while (isspace((unsigned char)*n))
                    n++;
                empty_item = *n == ',';
            }
        if (empty_item) {
            snprintf(err, errlen, "empty item in the list '%s'", text);
            free(copy);
            return -1;
        }
        if (t[len - 1] == ',') {
            snprintf(err, errlen, "empty item at the end of the list '%s'", text);
            free(copy);
            return -1;
        }
        for (char *tok = t;; tok = NULL) {
            char *item = strtok_r(tok, ",", &save);
            if (!item)
                break;
            item = trim(item);
            if (!*item) {
                snprintf(err, errlen, "empty item in the list '%s'", text);
                free(copy);
                return -1;
            }
            out->strs = realloc(out->strs, (out->count + 1) * sizeof *out->strs);
            if (!out->strs || !(out->strs[out->count] = strdup(item)))
                abort();
            out->count++;
        }
    }
    free(copy);
    return 0;
}

int sw_param_parse(const sw_param_t *p, const char *text, sw_value_t *out, char *err, size_t errlen)
{
    out->def = p;
    char *copy = strdup(text ? text : "");
    if (!copy)
        abort();
    char *s = trim(copy);
    out->text = strdup(s);
    if (!out->text)
        abort();
    int rc = 0;
    bool b;
    switch (p->type) {
    case SW_PARAM_BOOL:
        if (sw_parse_bool(s, &b)) {
            snprintf(err, errlen, "expected On or Off, got '%s'", s);
            rc = -1;
        } else {
            out->num = b;
        }
        break;
    case SW_PARAM_INT:
        if (sw_parse_int64(s, &out->num)) {
            snprintf(err, errlen, "expected an integer, got '%s'", s);
            rc = -1;
        } else {
            rc = check_int_range(p, out->num, err, errlen);
        }
        break;
    case SW_PARAM_STRING:
        break;
    case SW_PARAM_ENUM: {
        rc = -1;
        int i = 0;
        for (const char *const *c = p->choices; c && *c; c++, i++)
            if (strcasecmp(s, *c) == 0) {
                out->num = i;
                rc = 0;
                break;
            }
        if (rc) {
            char range[256];
            sw_param_describe_range(p, range, sizeof range);
            snprintf(err, errlen, "expected one of %s, got '%s'", range, s);
        }
        break;
    }
    case SW_PARAM_DURATION:
        rc = check_duration(p, s, &out->num, err, errlen);
        break;
    case SW_PARAM_ADDRESS:
        rc = parse_address(s, err, errlen);
        break;
    case SW_PARAM_DURATION_LIST:
    case SW_PARAM_INT_LIST:
    case SW_PARAM_STRING_LIST:
        rc = split_list(s, out, err, errlen);
        if (rc == 0 && p->type != SW_PARAM_STRING_LIST && out->count) {
            out->nums = calloc(out->count, sizeof *out->nums);
            if (!out->nums)
                abort();
            for (size_t i = 0; i < out->count && rc == 0; i++) {
                if (p->type == SW_PARAM_DURATION_LIST) {
                    rc = check_duration(p, out->strs[i], &out->nums[i], err, errlen);
                } else if (sw_parse_int64(out->strs[i], &out->nums[i])) {
                    snprintf(err, errlen, "expected integers, got '%s'", out->strs[i]);
                    rc = -1;
                } else {
                    rc = check_int_range(p, out->nums[i], err, errlen);
                }
            }
        }
        break;
    default:
        snprintf(err, errlen, "parameter has an unknown type %d", (int)p->type);
        rc = -1;
    }
    free(copy);
    return rc;
}

void sw_value_clear(sw_value_t *v)
{
    free(v->text);
    free(v->nums);
    for (size_t i = 0; i < v->count; i++)
        free(v->strs[i]);
    free(v->strs);
    memset(v, 0, sizeof *v);
}
