/* Dial plans: see dialplan.h. Compiling is where the work and the errors
 * are; applying walks the compiled rules between two stack buffers. */
#include "config.h"

#include "call/dialplan.h"

#include <lauxlib.h>
#include <lua.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { COND_NONE, COND_PREFIX, COND_REGEX } cond_kind_t;
typedef enum { ACT_STRIP_COUNT, ACT_STRIP_PREFIX, ACT_ADD, ACT_REPLACE, ACT_KEEP } action_kind_t;

typedef struct rule {
    cond_kind_t cond;
    char *cond_text;            /* COND_PREFIX */
    size_t cond_len;
    regex_t cond_re;            /* COND_REGEX */
    action_kind_t action;
    size_t count;               /* ACT_STRIP_COUNT */
    char *text;                 /* the prefix stripped or added, or the replacement */
    size_t text_len;
    regex_t re;                 /* ACT_REPLACE */
    bool re_compiled;
    bool stop;                  /* end the plan once this rule applied */
} rule_t;

struct sw_dialplan {
    char *name;
    rule_t *rules;
    size_t n_rules;
};

struct sw_dialplans {
    sw_dialplan_t *plans;       /* sorted by name */
    size_t count;
};

static const sw_dialplans_t *active;

/* ---- compiling ----------------------------------------------------------- */

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* What a number may hold (the characters a SIP user part of a phone number
 * uses, and what call:set_caller accepts): text a rule adds must keep the
 * result writable in a URI and a header. */
static bool number_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '*' ||
           c == '#' || c == '.' || c == '_' || c == '-';
}

#define MAX_WORDS 8

typedef struct words {
    const char *w[MAX_WORDS];
    size_t len[MAX_WORDS];
    size_t n;
} words_t;

/* Splits a rule into words: runs of non-blanks, or "..." (no escapes; "" is
 * the empty word). Returns NULL or the reason it cannot. */
static const char *split_words(const char *s, words_t *out)
{
    out->n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return NULL;
        if (out->n == MAX_WORDS)
            return "too many words";
        const char *start = s;
        if (*s == '"') {
            const char *close = strchr(s + 1, '"');
            if (!close)
                return "a quote is not closed";
            start = s + 1;
            s = close + 1;
            out->len[out->n] = (size_t)(close - start);
            if (*s && *s != ' ' && *s != '\t')
                return "text right after a closing quote";
        } else {
            while (*s && *s != ' ' && *s != '\t')
                s++;
            out->len[out->n] = (size_t)(s - start);
        }
        out->w[out->n++] = start;
    }
}

static bool word_is(const words_t *w, size_t i, const char *kw)
{
    return i < w->n && w->len[i] == strlen(kw) && strncasecmp(w->w[i], kw, w->len[i]) == 0;
}

/* Checks the text of a prefix or an added prefix. */
static bool number_text(const char *s, size_t n, char *err, size_t errlen)
{
    if (n == 0 || n > SW_DIALPLAN_MAX_NUMBER) {
        snprintf(err, errlen, "'%.*s' must have 1 to %d characters", (int)(n > 40 ? 40 : n), s,
                 SW_DIALPLAN_MAX_NUMBER);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!number_char(s[i])) {
            snprintf(err, errlen, "'%.*s' may hold only digits, letters and + * # . _ -", (int)(n > 40 ? 40 : n),
                     s);
            return false;
        }
    return true;
}

static bool compile_regex(regex_t *re, const char *s, size_t n, char *err, size_t errlen)
{
    if (n == 0 || n > SW_DIALPLAN_MAX_REGEX) {
        snprintf(err, errlen, "a regex must have 1 to %d characters", SW_DIALPLAN_MAX_REGEX);
        return false;
    }
    char pattern[SW_DIALPLAN_MAX_REGEX + 1];
    memcpy(pattern, s, n);
    pattern[n] = '\0';
    int rc = regcomp(re, pattern, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, re, why, sizeof why);
        snprintf(err, errlen, "bad regex '%.60s%s': %s", pattern, n > 60 ? "..." : "", why);
        return false;
    }
    return true;
}

/* A replacement: literal number characters and \0..\9 (the whole match,
 * a group); the groups must exist in the regex. */
static bool check_replacement(const char *s, size_t n, size_t groups, char *err, size_t errlen)
{
    if (n > SW_DIALPLAN_MAX_NUMBER) {
        snprintf(err, errlen, "the replacement is longer than %d characters", SW_DIALPLAN_MAX_NUMBER);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            char next = i + 1 < n ? s[i + 1] : '\0';
            if (next < '0' || next > '9') {
                snprintf(err, errlen, "in the replacement, '\\' must be followed by a digit: \\1..\\9 (a group) "
                                      "or \\0 (the whole match)");
                return false;
            }
            if ((size_t)(next - '0') > groups) {
                snprintf(err, errlen, "the replacement uses \\%c but the regex has %zu group%s", next, groups,
                         groups == 1 ? "" : "s");
                return false;
            }
            i++;
        } else if (!number_char(s[i])) {
            snprintf(err, errlen, "the replacement may hold only digits, letters, + * # . _ - and \\1..\\9 "
                                  "(got '%c')",
                     s[i]);
            return false;
        }
    }
    return true;
}

static void rule_free(rule_t *r)
{
    if (r->cond == COND_REGEX)
        regfree(&r->cond_re);
    if (r->re_compiled)
        regfree(&r->re);
    free(r->cond_text);
    free(r->text);
    memset(r, 0, sizeof *r);
}

static void set_text(rule_t *r, const words_t *w, size_t k)
{
    r->text = xstrndup(w->w[k], w->len[k]);
    r->text_len = w->len[k];
}

/* Word k as the rule's prefix or added text; `missing` when there is none. */
static bool take_number_text(rule_t *r, const words_t *w, size_t k, const char *missing, char *err, size_t errlen)
{
    if (k >= w->n) {
        snprintf(err, errlen, "%s", missing);
        return false;
    }
    if (!number_text(w->w[k], w->len[k], err, errlen))
        return false;
    set_text(r, w, k);
    return true;
}

#define RULE_SYNTAX                                                                                   \
    "[if prefix TEXT | if regex ERE] strip N | strip prefix TEXT | add TEXT | replace ERE TEXT [stop], " \
    "or [if ...] stop"

/* Compiles one rule; false (with the reason in err, r left empty) if bad. */
static bool rule_compile(const char *text, rule_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    words_t w;
    const char *why = split_words(text, &w);
    if (why) {
        snprintf(err, errlen, "%s", why);
        return false;
    }
    if (w.n == 0) {
        snprintf(err, errlen, "empty rule (%s)", RULE_SYNTAX);
        return false;
    }
    size_t i = 0;
    if (word_is(&w, 0, "if")) {
        if (w.n < 3 || !(word_is(&w, 1, "prefix") || word_is(&w, 1, "regex"))) {
            snprintf(err, errlen, "'if' needs 'prefix TEXT' or 'regex ERE'");
            return false;
        }
        if (word_is(&w, 1, "prefix")) {
            if (!number_text(w.w[2], w.len[2], err, errlen))
                return false;
            r->cond = COND_PREFIX;
            r->cond_text = xstrndup(w.w[2], w.len[2]);
            r->cond_len = w.len[2];
        } else {
            if (!compile_regex(&r->cond_re, w.w[2], w.len[2], err, errlen))
                return false;
            r->cond = COND_REGEX;
        }
        i = 3;
        if (i == w.n) {
            snprintf(err, errlen, "a condition without an action (strip, add or replace)");
            rule_free(r);
            return false;
        }
    }
    size_t used; /* words the action takes, its name included */
    if (word_is(&w, i, "stop") && i + 1 == w.n) {
        /* "if prefix + stop": the number as it is, and no further rule */
        r->action = ACT_KEEP;
        r->stop = true;
        return true;
    }
    if (word_is(&w, i, "strip") && word_is(&w, i + 1, "prefix")) {
        used = 3;
        r->action = ACT_STRIP_PREFIX;
        if (!take_number_text(r, &w, i + 2, "strip prefix: which prefix?", err, errlen))
            goto bad;
    } else if (word_is(&w, i, "strip")) {
        used = 2;
        size_t n = 0;
        bool digits = i + 1 < w.n && w.len[i + 1] > 0 && w.len[i + 1] <= 3;
        for (size_t k = 0; digits && k < w.len[i + 1]; k++) {
            digits = w.w[i + 1][k] >= '0' && w.w[i + 1][k] <= '9';
            n = n * 10 + (size_t)(w.w[i + 1][k] - '0');
        }
        if (!digits || n < 1 || n > SW_DIALPLAN_MAX_NUMBER) {
            snprintf(err, errlen, "strip: expected a count of 1 to %d characters, or 'prefix TEXT'",
                     SW_DIALPLAN_MAX_NUMBER);
            goto bad;
        }
        r->action = ACT_STRIP_COUNT;
        r->count = n;
    } else if (word_is(&w, i, "add")) {
        used = 2;
        r->action = ACT_ADD;
        if (!take_number_text(r, &w, i + 1, "add: what?", err, errlen))
            goto bad;
    } else if (word_is(&w, i, "replace")) {
        used = 3;
        if (i + 2 >= w.n) {
            snprintf(err, errlen, "replace needs a regex and a replacement (\"\" for none)");
            goto bad;
        }
        if (!compile_regex(&r->re, w.w[i + 1], w.len[i + 1], err, errlen))
            goto bad;
        r->re_compiled = true;
        if (!check_replacement(w.w[i + 2], w.len[i + 2], r->re.re_nsub, err, errlen))
            goto bad;
        r->action = ACT_REPLACE;
        set_text(r, &w, i + 2);
    } else {
        snprintf(err, errlen, "unknown action '%.*s' (%s)", (int)(w.len[i] > 40 ? 40 : w.len[i]), w.w[i],
                 RULE_SYNTAX);
        goto bad;
    }
    i += used;
    if (word_is(&w, i, "stop")) {
        r->stop = true;
        i++;
    }
    if (i < w.n) {
        snprintf(err, errlen, "unexpected '%.*s' after the action (only 'stop' may follow it)",
                 (int)(w.len[i] > 40 ? 40 : w.len[i]), w.w[i]);
        goto bad;
    }
    return true;
bad:
    rule_free(r);
    return false;
}

static int compare_plans(const void *a, const void *b)
{
    return strcmp(((const sw_dialplan_t *)a)->name, ((const sw_dialplan_t *)b)->name);
}

sw_dialplans_t *sw_dialplans_build(const sw_cfg_t *cfg, sw_errors_t *errs)
{
    sw_dialplans_t *set = calloc(1, sizeof *set);
    if (!set)
        abort();
    size_t n = sw_cfg_raw_count(cfg, SW_CFG_SCOPE_DIALPLAN);
    set->plans = calloc(n + 1, sizeof *set->plans);
    if (!set->plans)
        abort();
    const char *file = cfg ? sw_cfg_path(cfg) : NULL;
    for (size_t i = 0; i < n; i++) {
        int header_line = 0;
        const sw_cfg_line_t *lines = NULL;
        size_t n_lines = 0;
        const char *name = sw_cfg_raw_section(cfg, SW_CFG_SCOPE_DIALPLAN, i, &header_line, &lines, &n_lines);
        sw_dialplan_t *plan = &set->plans[set->count++];
        plan->name = xstrndup(name, strlen(name));
        plan->rules = calloc(n_lines + 1, sizeof *plan->rules);
        if (!plan->rules)
            abort();
        bool bad = false;
        for (size_t k = 0; k < n_lines; k++) {
            const sw_cfg_line_t *l = &lines[k];
            if (strcasecmp(l->key, "rule") != 0) {
                sw_errors_add(errs, file, l->line, "unknown key '%s' in [dialplan %s] (a dial plan has only "
                              "'rule = ...' lines)", l->key, name);
                bad = true;
                continue;
            }
            if (plan->n_rules == SW_DIALPLAN_MAX_RULES) {
                sw_errors_add(errs, file, l->line, "[dialplan %s] has more than %d rules", name,
                              SW_DIALPLAN_MAX_RULES);
                bad = true;
                break;
            }
            char err[400];
            if (!rule_compile(l->value, &plan->rules[plan->n_rules], err, sizeof err)) {
                sw_errors_add(errs, file, l->line, "[dialplan %s] rule: %s", name, err);
                bad = true;
                continue;
            }
            plan->n_rules++;
        }
        if (!plan->n_rules && !bad)
            sw_errors_add(errs, file, header_line, "[dialplan %s] has no rule (add 'rule = ...' lines)", name);
    }
    qsort(set->plans, set->count, sizeof *set->plans, compare_plans);
    return set;
}

void sw_dialplans_free(sw_dialplans_t *set)
{
    if (!set)
        return;
    if (active == set)
        active = NULL;
    for (size_t i = 0; i < set->count; i++) {
        for (size_t k = 0; k < set->plans[i].n_rules; k++)
            rule_free(&set->plans[i].rules[k]);
        free(set->plans[i].rules);
        free(set->plans[i].name);
    }
    free(set->plans);
    free(set);
}

size_t sw_dialplans_count(const sw_dialplans_t *set)
{
    return set ? set->count : 0;
}

const sw_dialplan_t *sw_dialplans_find(const sw_dialplans_t *set, const char *name)
{
    if (!set || !name || !set->count)
        return NULL;
    sw_dialplan_t key = {.name = (char *)name};
    return bsearch(&key, set->plans, set->count, sizeof *set->plans, compare_plans);
}

/* ---- applying ------------------------------------------------------------ */

/* A number being rewritten: text and length, within SW_DIALPLAN_MAX_NUMBER. */
typedef struct number {
    char s[SW_DIALPLAN_MAX_NUMBER + 1];
    size_t len;
} number_t;

static bool put(number_t *n, const char *s, size_t len)
{
    if (n->len + len > SW_DIALPLAN_MAX_NUMBER)
        return false;
    memcpy(n->s + n->len, s, len);
    n->len += len;
    n->s[n->len] = '\0';
    return true;
}

/* The replacement of `r` for the match m of `in`, written into out. */
static bool expand(const rule_t *r, const number_t *in, const regmatch_t *m, number_t *out)
{
    for (size_t i = 0; i < r->text_len; i++) {
        if (r->text[i] != '\\') {
            if (!put(out, &r->text[i], 1))
                return false;
            continue;
        }
        const regmatch_t *g = &m[r->text[++i] - '0'];
        if (g->rm_so >= 0 && g->rm_eo >= g->rm_so && !put(out, in->s + g->rm_so, (size_t)(g->rm_eo - g->rm_so)))
            return false;
    }
    return true;
}

typedef enum { STEP_SKIPPED, STEP_APPLIED, STEP_TOO_LONG } step_t;

/* One rule on `in`, its result in `out` when it applied. */
static step_t apply_rule(const rule_t *r, const number_t *in, number_t *out)
{
    if (r->cond == COND_PREFIX && (in->len < r->cond_len || memcmp(in->s, r->cond_text, r->cond_len) != 0))
        return STEP_SKIPPED;
    if (r->cond == COND_REGEX && regexec(&r->cond_re, in->s, 0, NULL, 0) != 0)
        return STEP_SKIPPED;
    out->len = 0;
    out->s[0] = '\0';
    switch (r->action) {
    case ACT_STRIP_COUNT: {
        size_t n = r->count < in->len ? r->count : in->len;
        put(out, in->s + n, in->len - n);
        return STEP_APPLIED;
    }
    case ACT_STRIP_PREFIX:
        if (in->len < r->text_len || memcmp(in->s, r->text, r->text_len) != 0)
            return STEP_SKIPPED;
        put(out, in->s + r->text_len, in->len - r->text_len);
        return STEP_APPLIED;
    case ACT_ADD:
        return put(out, r->text, r->text_len) && put(out, in->s, in->len) ? STEP_APPLIED : STEP_TOO_LONG;
    case ACT_KEEP:
        put(out, in->s, in->len);
        return STEP_APPLIED;
    case ACT_REPLACE: {
        regmatch_t m[10];
        if (regexec(&r->re, in->s, 10, m, 0) != 0)
            return STEP_SKIPPED;
        bool fits = put(out, in->s, (size_t)m[0].rm_so) && expand(r, in, m, out) &&
                    put(out, in->s + m[0].rm_eo, in->len - (size_t)m[0].rm_eo);
        return fits ? STEP_APPLIED : STEP_TOO_LONG;
    }
    }
    return STEP_SKIPPED;
}

sw_dialplan_result_t sw_dialplan_apply(const sw_dialplan_t *plan, const char *number, char *out, size_t outlen)
{
    if (out && outlen)
        out[0] = '\0';
    if (!plan)
        return SW_DIALPLAN_UNKNOWN;
    number_t a = {.len = 0}, b;
    if (!number)
        number = "";
    if (!put(&a, number, strlen(number)))
        return SW_DIALPLAN_TOO_LONG;
    number_t *cur = &a, *next = &b;
    for (size_t i = 0; i < plan->n_rules; i++) {
        step_t st = apply_rule(&plan->rules[i], cur, next);
        if (st == STEP_TOO_LONG)
            return SW_DIALPLAN_TOO_LONG;
        if (st == STEP_SKIPPED)
            continue;
        number_t *t = cur;
        cur = next;
        next = t;
        if (plan->rules[i].stop)
            break;
    }
    if (!out || cur->len >= outlen)
        return SW_DIALPLAN_TOO_LONG;
    memcpy(out, cur->s, cur->len + 1);
    return SW_DIALPLAN_OK;
}

/* ---- the set in force ---------------------------------------------------- */

void sw_dialplans_activate(const sw_dialplans_t *set)
{
    active = set;
}

int sw_dialplan_api_apply(const char *name, const char *number, char *out, size_t outlen)
{
    if (number && out && outlen)
        out[0] = '\0';
    const sw_dialplan_t *plan = sw_dialplans_find(active, name);
    if (!plan)
        return -1;
    if (!number)
        return 0;
    return sw_dialplan_apply(plan, number, out, outlen) == SW_DIALPLAN_OK ? 0 : -1;
}

/* ---- sw.dialplan --------------------------------------------------------- */

/* sw.dialplan.apply(name, number): the rewritten number. Strings only: a
 * Lua number would lose a leading 0 or +. */
static int lua_dialplan_apply(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TSTRING);
    luaL_checktype(L, 2, LUA_TSTRING);
    const char *name = lua_tostring(L, 1);
    size_t len;
    const char *number = lua_tolstring(L, 2, &len);
    const sw_dialplan_t *plan = sw_dialplans_find(active, name);
    if (!plan)
        return luaL_error(L, "sw.dialplan.apply: no dial plan '%s' (define [dialplan %s] in cfg)", name, name);
    char out[SW_DIALPLAN_MAX_NUMBER + 1];
    if (len != strlen(number) || sw_dialplan_apply(plan, number, out, sizeof out) != SW_DIALPLAN_OK)
        return luaL_error(L, "sw.dialplan.apply: dial plan '%s': the number or its rewrite is not a number of at "
                             "most %d characters",
                          name, SW_DIALPLAN_MAX_NUMBER);
    lua_pushstring(L, out);
    return 1;
}

int sw_dialplan_lua_open(lua_State *L)
{
    static const luaL_Reg functions[] = {{"apply", lua_dialplan_apply}, {NULL, NULL}};
    luaL_newlib(L, functions);
    return 1;
}
