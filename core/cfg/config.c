/* The configuration file. inih splits lines into key/value pairs; this file
 * feeds it line by line through its reader callback so it always knows the
 * current line number and section header, which inih does not report. */
#include "config.h"

#include "cfg/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- error list ---------------------------------------------------------- */

void sw_errors_add(sw_errors_t *e, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[1400];
    if (file && line > 0)
        snprintf(full, sizeof full, "%s:%d: %s", file, line, msg);
    else if (file)
        snprintf(full, sizeof full, "%s: %s", file, msg);
    else
        snprintf(full, sizeof full, "%s", msg);
    e->items = realloc(e->items, (e->count + 1) * sizeof *e->items);
    if (!e->items || !(e->items[e->count] = strdup(full)))
        abort();
    e->count++;
}

void sw_errors_clear(sw_errors_t *e)
{
    for (size_t i = 0; i < e->count; i++)
        free(e->items[i]);
    free(e->items);
    e->items = NULL;
    e->count = 0;
}

/* ---- model --------------------------------------------------------------- */

typedef sw_cfg_line_t cfg_entry_t;

struct owner;

typedef struct stored_value {
    const struct owner *owner;
    sw_value_t v;
} stored_value_t;

typedef struct section {
    char *kind;                 /* "core", a module name, or an object kind */
    char *name;                 /* object name, NULL for global sections */
    unsigned scope;             /* SW_SCOPE_GLOBAL or the object's scope bit */
    int line;                   /* 0: implicit (not in the file) */
    bool resolved;
    cfg_entry_t *entries;
    size_t n_entries;
    stored_value_t *values;
    size_t n_values;
} section_t;

typedef struct owner {
    char *name;
    sw_param_t *params;         /* normalized copies */
    sw_value_t *defaults;       /* parsed defaults, one per param */
    size_t n_params;
    struct sw_config *view;     /* global view */
} owner_t;

struct sw_config {
    const sw_cfg_t *root;
    const owner_t *owner;
    const section_t *section;   /* NULL: only defaults */
    const struct sw_config *fallback;
};

struct sw_cfg {
    char *path;
    char *dir;
    section_t **sections;
    size_t n_sections;
    owner_t **owners;
    size_t n_owners;
    struct sw_config **object_views;
    size_t n_object_views;
};

static const struct {
    const char *kind;
    unsigned scope;
} object_kinds[] = {
    {"gateway", SW_SCOPE_GATEWAY},
    {"mapping", SW_SCOPE_MAPPING},
    {"account", SW_SCOPE_ACCOUNT},
    {"registration", SW_SCOPE_REGISTRATION},
    {"dialplan", SW_CFG_SCOPE_DIALPLAN},
};

const char *sw_scope_section_kind(unsigned scope)
{
    for (size_t i = 0; i < sizeof object_kinds / sizeof object_kinds[0]; i++)
        if (object_kinds[i].scope == scope)
            return object_kinds[i].kind;
    return NULL;
}

static unsigned object_scope(const char *kind)
{
    for (size_t i = 0; i < sizeof object_kinds / sizeof object_kinds[0]; i++)
        if (strcmp(object_kinds[i].kind, kind) == 0)
            return object_kinds[i].scope;
    return 0;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static section_t *add_section(sw_cfg_t *cfg, const char *kind, const char *name, unsigned scope, int line)
{
    section_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->kind = xstrdup(kind);
    s->name = name ? xstrdup(name) : NULL;
    s->scope = scope;
    s->line = line;
    cfg->sections = xrealloc(cfg->sections, (cfg->n_sections + 1) * sizeof *cfg->sections);
    cfg->sections[cfg->n_sections++] = s;
    return s;
}

static section_t *find_global_section(const sw_cfg_t *cfg, const char *kind)
{
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (cfg->sections[i]->scope == SW_SCOPE_GLOBAL && strcmp(cfg->sections[i]->kind, kind) == 0)
            return cfg->sections[i];
    return NULL;
}

static owner_t *find_owner(const sw_cfg_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_owners; i++)
        if (strcmp(cfg->owners[i]->name, name) == 0)
            return cfg->owners[i];
    return NULL;
}

/* ---- reading ------------------------------------------------------------- */

typedef struct reader {
    sw_cfg_t *cfg;
    sw_errors_t *errs;
    const char *text;           /* whole file */
    size_t pos, len;
    int line;                   /* line number of the line last handed to inih */
    section_t *current;         /* section of the line last handed to inih */
    cfg_entry_t *last_entry;    /* for continuation lines */
    bool continuation;          /* the line handed to inih continues last_entry */
    bool saw_key;
} reader_t;

static bool valid_object_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.' || *s == '+'))
            return false;
    return true;
}

/* Parses "[kind]" or "[kind NAME]" and records a section at this line. */
static void reader_section(reader_t *r, char *hdr)
{
    char *end = strchr(hdr, ']');
    if (!end) {
        sw_errors_add(r->errs, r->cfg->path, r->line, "section header without ']'");
        r->current = NULL;
        return;
    }
    for (char *p = end + 1; *p; p++)
        if (!isspace((unsigned char)*p) && *p != ';' && *p != '#') {
            sw_errors_add(r->errs, r->cfg->path, r->line, "text after the section header");
            break;
        } else if (*p == ';' || *p == '#') {
            break;
        }
    *end = '\0';
    char *kind = hdr + 1;
    while (isspace((unsigned char)*kind))
        kind++;
    char *name = kind;
    while (*name && !isspace((unsigned char)*name))
        name++;
    if (*name) {
        *name++ = '\0';
        while (isspace((unsigned char)*name))
            name++;
        size_t n = strlen(name);
        while (n && isspace((unsigned char)name[n - 1]))
            name[--n] = '\0';
    }
    if (!*kind) {
        sw_errors_add(r->errs, r->cfg->path, r->line, "empty section name");
        r->current = NULL;
        return;
    }
    unsigned scope = object_scope(kind);
    if (scope) {
        if (!*name) {
            sw_errors_add(r->errs, r->cfg->path, r->line, "[%s] needs a name: [%s NAME]", kind, kind);
            r->current = NULL;
            return;
        }
        if (!valid_object_name(name)) {
            sw_errors_add(r->errs, r->cfg->path, r->line,
                          "bad %s name '%s' (letters, digits, _ - . + only)", kind, name);
            r->current = NULL;
            return;
        }
        for (size_t i = 0; i < r->cfg->n_sections; i++) {
            section_t *s = r->cfg->sections[i];
            if (s->scope == scope && strcmp(s->name, name) == 0) {
                sw_errors_add(r->errs, r->cfg->path, r->line, "duplicate %s '%s' (first defined at line %d)",
                              kind, name, s->line);
                r->current = NULL;
                return;
            }
        }
        r->current = add_section(r->cfg, kind, name, scope, r->line);
        return;
    }
    if (*name) {
        sw_errors_add(r->errs, r->cfg->path, r->line,
                      "unknown section type '%s' (named sections are gateway, mapping, account, registration, "
                      "dialplan)",
                      kind);
        r->current = NULL;
        return;
    }
    section_t *prev = find_global_section(r->cfg, kind);
    if (prev) {
        sw_errors_add(r->errs, r->cfg->path, r->line, "duplicate section [%s] (first at line %d)", kind,
                      prev->line);
        r->current = NULL;
        return;
    }
    r->current = add_section(r->cfg, kind, NULL, SW_SCOPE_GLOBAL, r->line);
}

/* inih's reader callback: hands it one line at a time (so r->line is the
 * line of every handler call that follows) after looking at the line itself
 * for what inih does not report: section headers, syntax errors and lines
 * longer than its buffer. */
static char *reader_next_line(char *str, int num, void *stream)
{
    reader_t *r = stream;
    for (;;) {
        if (r->pos >= r->len)
            return NULL;
        const char *start = r->text + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        size_t n = nl ? (size_t)(nl - start) : r->len - r->pos;
        r->pos += n + (nl ? 1 : 0);
        r->line++;
        r->continuation = false;
        if (n && start[n - 1] == '\r')
            n--;
        if (memchr(start, '\0', n)) {
            sw_errors_add(r->errs, r->cfg->path, r->line, "NUL byte in line");
            continue;
        }
        if (n + 2 > (size_t)num) {
            sw_errors_add(r->errs, r->cfg->path, r->line,
                          "line too long (%zu characters; at most %d: continue a list on indented lines)", n,
                          num - 2);
            continue;
        }
        memcpy(str, start, n);
        str[n] = '\0';
        char *p = str;
        while (*p == ' ' || *p == '\t')
            p++;
        bool indented = p > str;
        if (*p == '\0' || *p == ';' || *p == '#' || (r->line == 1 && (unsigned char)*p == 0xEF))
            goto hand_over;
        if (*p == '[') {
            reader_section(r, p);
            r->last_entry = NULL;
            continue; /* inih need not see it: sections are tracked here */
        }
        char *eq = strpbrk(p, "=:");
        if (indented && r->last_entry && !eq) {
            /* an indented line without '=' continues the previous value */
            r->continuation = true;
        } else if (!eq) {
            sw_errors_add(r->errs, r->cfg->path, r->line, "expected 'key = value', got '%s'", p);
            continue;
        } else if (eq == p) {
            sw_errors_add(r->errs, r->cfg->path, r->line, "missing key before '%c'", *eq);
            continue;
        } else if (indented) {
            /* an indented key line is a key line, not a continuation (inih would
             * otherwise glue it to the previous key) */
            memmove(str, p, strlen(p) + 1);
        }
        if (!r->current && !r->continuation) {
            if (!r->cfg->n_sections && !r->saw_key)
                sw_errors_add(r->errs, r->cfg->path, r->line, "key outside of any section (start with [core])");
            r->saw_key = true;
            continue; /* keys of a rejected section were reported with the section */
        }
    hand_over:
        if (!r->continuation && *p && *p != ';' && *p != '#')
            r->last_entry = NULL;
        if (r->continuation) {
            /* give inih a key line it will pass through as a continuation */
        }
        return str;
    }
}

static int reader_handle_pair(void *user, const char *section, const char *key, const char *value)
{
    (void)section;
    reader_t *r = user;
    if (r->continuation && r->last_entry) {
        cfg_entry_t *e = r->last_entry;
        size_t n = strlen(e->value) + strlen(value) + 3;
        char *joined = xrealloc(e->value, n);
        /* "a," + "b" and "a" + "b" both become the list "a, b" */
        size_t jl = strlen(joined);
        const char *sep = (jl == 0 || joined[jl - 1] == ',') ? (jl ? " " : "") : ", ";
        snprintf(joined + jl, n - jl, "%s%s", sep, value);
        e->value = joined;
        return 1;
    }
    section_t *s = r->current;
    if (!s)
        return 1;
    for (size_t i = 0; i < s->n_entries && !(s->scope & SW_CFG_RAW_SCOPES); i++)
        if (strcasecmp(s->entries[i].key, key) == 0) {
            sw_errors_add(r->errs, r->cfg->path, r->line, "duplicate key '%s' (first at line %d)", key,
                          s->entries[i].line);
            return 1;
        }
    s->entries = xrealloc(s->entries, (s->n_entries + 1) * sizeof *s->entries);
    cfg_entry_t *e = &s->entries[s->n_entries++];
    e->key = xstrdup(key);
    e->value = xstrdup(value);
    e->line = r->line;
    r->last_entry = e;
    return 1;
}

static sw_cfg_t *cfg_new(const char *path)
{
    sw_cfg_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        abort();
    cfg->path = xstrdup(path);
    const char *slash = strrchr(path, '/');
    if (slash) {
        cfg->dir = strndup(path, (size_t)(slash - path) + (slash == path));
        if (!cfg->dir)
            abort();
    } else {
        cfg->dir = xstrdup(".");
    }
    return cfg;
}

sw_cfg_t *sw_cfg_read_string(const char *name, const char *text, sw_errors_t *errs)
{
    sw_cfg_t *cfg = cfg_new(name);
    reader_t r = {.cfg = cfg, .errs = errs, .text = text, .len = strlen(text)};
    int rc = ini_parse_stream(reader_next_line, &r, reader_handle_pair, &r);
    if (rc < 0)
        sw_errors_add(errs, cfg->path, 0, "cannot parse (out of memory)");
    return cfg;
}

sw_cfg_t *sw_cfg_read(const char *path, sw_errors_t *errs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sw_errors_add(errs, path, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            text = xrealloc(text, cap);
        }
        memcpy(text + len, buf, n);
        len += n;
        if (len > 16u << 20) {
            fclose(f);
            free(text);
            sw_errors_add(errs, path, 0, "file larger than 16 MiB");
            return NULL;
        }
    }
    fclose(f);
    if (!text)
        text = xstrdup("");
    text[len] = '\0';
    if (strlen(text) != len) {
        /* embedded NUL: let the line reader report the line */
        for (size_t i = 0; i < len; i++)
            if (!text[i])
                text[i] = '\x01';
    }
    sw_cfg_t *cfg = sw_cfg_read_string(path, text, errs);
    free(text);
    return cfg;
}

void sw_cfg_free(sw_cfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_sections; i++) {
        section_t *s = cfg->sections[i];
        for (size_t j = 0; j < s->n_entries; j++) {
            free(s->entries[j].key);
            free(s->entries[j].value);
        }
        for (size_t j = 0; j < s->n_values; j++)
            sw_value_clear(&s->values[j].v);
        free(s->entries);
        free(s->values);
        free(s->kind);
        free(s->name);
        free(s);
    }
    for (size_t i = 0; i < cfg->n_owners; i++) {
        owner_t *o = cfg->owners[i];
        for (size_t j = 0; j < o->n_params; j++)
            sw_value_clear(&o->defaults[j]);
        free(o->defaults);
        free(o->params);
        free(o->view);
        free(o->name);
        free(o);
    }
    for (size_t i = 0; i < cfg->n_object_views; i++)
        free(cfg->object_views[i]);
    free(cfg->object_views);
    free(cfg->owners);
    free(cfg->sections);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

/* ---- owners and resolution ----------------------------------------------- */

int sw_cfg_add_owner(sw_cfg_t *cfg, const char *name, const sw_param_t *params, sw_errors_t *errs)
{
    if (find_owner(cfg, name)) {
        sw_errors_add(errs, NULL, 0, "%s: declared twice", name);
        return -1;
    }
    owner_t *o = calloc(1, sizeof *o);
    if (!o)
        abort();
    o->name = xstrdup(name);
    o->n_params = sw_param_count(params);
    o->params = calloc(o->n_params + 1, sizeof *o->params);
    o->defaults = calloc(o->n_params + 1, sizeof *o->defaults);
    if (!o->params || !o->defaults)
        abort();
    int rc = 0;
    for (size_t i = 0; i < o->n_params; i++) {
        sw_param_at(params, i, &o->params[i]);
        sw_param_t *p = &o->params[i];
        char err[512];
        if (!p->name || !*p->name) {
            sw_errors_add(errs, NULL, 0, "%s: parameter #%zu has no name", name, i + 1);
            rc = -1;
            p->name = "?";
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(o->params[j].name, p->name) == 0) {
                sw_errors_add(errs, NULL, 0, "%s: parameter '%s' declared twice", name, p->name);
                rc = -1;
            }
        if (sw_param_parse(p, p->default_value ? p->default_value : "", &o->defaults[i], err, sizeof err) &&
            p->default_value) {
            sw_errors_add(errs, NULL, 0, "%s: parameter '%s': bad default '%s': %s", name, p->name,
                          p->default_value, err);
            rc = -1;
        }
        if (!p->default_value && p->type != SW_PARAM_STRING && p->type != SW_PARAM_STRING_LIST &&
            p->type != SW_PARAM_INT_LIST && p->type != SW_PARAM_DURATION_LIST) {
            /* no default: numeric value reads as 0 */
            sw_value_clear(&o->defaults[i]);
            o->defaults[i].def = p;
            o->defaults[i].text = xstrdup("");
        }
    }
    o->view = calloc(1, sizeof *o->view);
    if (!o->view)
        abort();
    o->view->root = cfg;
    o->view->owner = o;
    o->view->section = find_global_section(cfg, name);
    cfg->owners = xrealloc(cfg->owners, (cfg->n_owners + 1) * sizeof *cfg->owners);
    cfg->owners[cfg->n_owners++] = o;
    return rc;
}

static const sw_param_t *owner_param(const owner_t *o, const char *key, unsigned scope, size_t *idx)
{
    for (size_t i = 0; i < o->n_params; i++) {
        const sw_param_t *p = &o->params[i];
        if (!(p->scopes & scope))
            continue;
        if (strcasecmp(p->name, key) == 0 || (p->vos_alias && strcasecmp(p->vos_alias, key) == 0)) {
            if (idx)
                *idx = i;
            return p;
        }
    }
    return NULL;
}

static void store_value(section_t *s, const owner_t *o, sw_value_t *v)
{
    s->values = xrealloc(s->values, (s->n_values + 1) * sizeof *s->values);
    s->values[s->n_values].owner = o;
    s->values[s->n_values].v = *v;
    s->n_values++;
}

static const sw_value_t *section_value(const section_t *s, const owner_t *o, const sw_param_t *p)
{
    for (size_t i = 0; i < s->n_values; i++)
        if (s->values[i].owner == o && s->values[i].v.def == p)
            return &s->values[i].v;
    return NULL;
}

static bool section_has_value(const section_t *s, const owner_t *o, const sw_param_t *p)
{
    return section_value(s, o, p) != NULL;
}

/* Parses one entry for every owner that declares the key in this scope. */
static int resolve_entry(sw_cfg_t *cfg, section_t *s, const cfg_entry_t *e, owner_t **owners, size_t n,
                         sw_errors_t *errs)
{
    int matched = 0, rc = 0;
    for (size_t k = 0; k < n; k++) {
        const sw_param_t *p = owner_param(owners[k], e->key, s->scope, NULL);
        if (!p)
            continue;
        matched++;
        const sw_value_t *prev = section_value(s, owners[k], p);
        if (prev) {
            sw_errors_add(errs, cfg->path, e->line, "'%s' set twice in this section (also at line %d)", p->name,
                          prev->line);
            rc = -1;
            continue;
        }
        sw_value_t v = {0};
        char err[512];
        if (sw_param_parse(p, e->value, &v, err, sizeof err)) {
            sw_errors_add(errs, cfg->path, e->line, "%s: %s", e->key, err);
            sw_value_clear(&v);
            rc = -1;
            continue;
        }
        v.set = true;
        v.file = cfg->path;
        v.line = e->line;
        store_value(s, owners[k], &v);
    }
    if (!matched) {
        /* help the operator: is the key valid somewhere else? */
        const char *where = NULL;
        const sw_param_t *elsewhere = NULL;
        for (size_t k = 0; k < cfg->n_owners && !where; k++)
            if ((elsewhere = owner_param(cfg->owners[k], e->key, ~0u, NULL)) != NULL)
                where = cfg->owners[k]->name;
        if (where && s->scope == SW_SCOPE_GLOBAL && strcmp(where, s->kind) == 0) {
            /* the right module, the wrong kind of section */
            char kinds[128] = "";
            size_t off = 0;
            for (unsigned bit = SW_SCOPE_GATEWAY; bit <= SW_SCOPE_REGISTRATION; bit <<= 1)
                if ((elsewhere->scopes & bit) && sw_scope_section_kind(bit))
                    off += (size_t)snprintf(kinds + off, sizeof kinds - off, "%s[%s NAME]", off ? " or " : "",
                                            sw_scope_section_kind(bit));
            sw_errors_add(errs, cfg->path, e->line, "'%s' can only be set in %s sections", e->key, kinds);
        } else if (where)
            sw_errors_add(errs, cfg->path, e->line, "unknown key '%s' in [%s%s%s] (it belongs to [%s])", e->key,
                          s->kind, s->name ? " " : "", s->name ? s->name : "", where);
        else
            sw_errors_add(errs, cfg->path, e->line, "unknown key '%s' in [%s%s%s]", e->key, s->kind,
                          s->name ? " " : "", s->name ? s->name : "");
        rc = -1;
    }
    return rc;
}

static int check_required(sw_cfg_t *cfg, section_t *s, owner_t *o, sw_errors_t *errs)
{
    int rc = 0;
    for (size_t i = 0; i < o->n_params; i++) {
        const sw_param_t *p = &o->params[i];
        if (!(p->flags & SW_PARAM_REQUIRED))
            continue;
        bool applies = s->scope == SW_SCOPE_GLOBAL ? (p->scopes & SW_SCOPE_GLOBAL)
                                                   : ((p->scopes & s->scope) && !(p->scopes & SW_SCOPE_GLOBAL));
        if (applies && !section_has_value(s, o, p)) {
            sw_errors_add(errs, cfg->path, s->line, "[%s%s%s] needs '%s'", s->kind, s->name ? " " : "",
                          s->name ? s->name : "", p->name);
            rc = -1;
        }
    }
    return rc;
}

int sw_cfg_resolve_owner(sw_cfg_t *cfg, const char *name, sw_errors_t *errs)
{
    owner_t *o = find_owner(cfg, name);
    if (!o)
        return -1;
    section_t *s = find_global_section(cfg, name);
    if (!s)
        s = add_section(cfg, name, NULL, SW_SCOPE_GLOBAL, 0);
    o->view->section = s;
    if (s->resolved)
        return 0;
    s->resolved = true;
    int rc = 0;
    for (size_t i = 0; i < s->n_entries; i++)
        if (resolve_entry(cfg, s, &s->entries[i], &o, 1, errs))
            rc = -1;
    if (check_required(cfg, s, o, errs))
        rc = -1;
    return rc;
}

int sw_cfg_resolve_all(sw_cfg_t *cfg, sw_errors_t *errs)
{
    int rc = 0;
    for (size_t i = 0; i < cfg->n_owners; i++)
        if (sw_cfg_resolve_owner(cfg, cfg->owners[i]->name, errs))
            rc = -1;
    for (size_t i = 0; i < cfg->n_sections; i++) {
        section_t *s = cfg->sections[i];
        if (s->resolved)
            continue;
        s->resolved = true;
        if (s->scope & SW_CFG_RAW_SCOPES)
            continue; /* read by their own code (sw_cfg_raw_section) */
        if (s->scope == SW_SCOPE_GLOBAL) {
            sw_errors_add(errs, cfg->path, s->line,
                          "unknown section [%s]: no such module loaded (add it to 'load' in [core])", s->kind);
            rc = -1;
            continue;
        }
        for (size_t j = 0; j < s->n_entries; j++)
            if (resolve_entry(cfg, s, &s->entries[j], cfg->owners, cfg->n_owners, errs))
                rc = -1;
        for (size_t k = 0; k < cfg->n_owners; k++)
            if (check_required(cfg, s, cfg->owners[k], errs))
                rc = -1;
    }
    return rc;
}

/* ---- views and getters --------------------------------------------------- */

const sw_config_t *sw_cfg_view(const sw_cfg_t *cfg, const char *owner)
{
    const owner_t *o = find_owner(cfg, owner);
    return o ? o->view : NULL;
}

const char *sw_cfg_path(const sw_cfg_t *cfg)
{
    return cfg->path;
}

const char *sw_config_file(const sw_config_t *view)
{
    return view ? view->root->path : NULL;
}

char *sw_cfg_path_resolve(const sw_cfg_t *cfg, const char *path)
{
    if (!path || !*path || path[0] == '/')
        return xstrdup(path ? path : "");
    size_t n = strlen(cfg->dir) + strlen(path) + 2;
    char *full = malloc(n);
    if (!full)
        abort();
    snprintf(full, n, "%s/%s", cfg->dir, path);
    return full;
}

const sw_value_t *sw_config_value(const sw_config_t *view, const char *name)
{
    if (!view || !name)
        return NULL;
    const owner_t *o = view->owner;
    size_t idx;
    const sw_param_t *p = owner_param(o, name, ~0u, &idx);
    if (!p)
        return NULL;
    for (const sw_config_t *v = view; v; v = v->fallback)
        if (v->section)
            for (size_t i = 0; i < v->section->n_values; i++)
                if (v->section->values[i].owner == o && v->section->values[i].v.def == p)
                    return &v->section->values[i].v;
    return &o->defaults[idx];
}

int sw_cfg_line_of(const sw_config_t *view, const char *name)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v && v->set ? v->line : 0;
}

int64_t sw_config_int(const sw_config_t *view, const char *name)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v ? v->num : 0;
}

const char *sw_config_str(const sw_config_t *view, const char *name)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v ? v->text : NULL;
}

size_t sw_config_list_len(const sw_config_t *view, const char *name)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v ? v->count : 0;
}

int64_t sw_config_list_int(const sw_config_t *view, const char *name, size_t i)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v && v->nums && i < v->count ? v->nums[i] : 0;
}

const char *sw_config_list_str(const sw_config_t *view, const char *name, size_t i)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v && i < v->count ? v->strs[i] : NULL;
}

int sw_config_is_set(const sw_config_t *view, const char *name)
{
    const sw_value_t *v = sw_config_value(view, name);
    return v && v->set;
}

size_t sw_config_object_count(const sw_config_t *view, unsigned scope)
{
    size_t n = 0;
    for (size_t i = 0; view && i < view->root->n_sections; i++)
        if (view->root->sections[i]->scope == scope && scope != SW_SCOPE_GLOBAL)
            n++;
    return n;
}

const char *sw_config_object_name(const sw_config_t *view, unsigned scope, size_t idx)
{
    for (size_t i = 0; view && i < view->root->n_sections; i++)
        if (view->root->sections[i]->scope == scope && scope != SW_SCOPE_GLOBAL && idx-- == 0)
            return view->root->sections[i]->name;
    return NULL;
}

const sw_config_t *sw_config_object(const sw_config_t *view, unsigned scope, const char *name)
{
    if (!view || !name || scope == SW_SCOPE_GLOBAL)
        return NULL;
    sw_cfg_t *root = (sw_cfg_t *)view->root;
    const section_t *sec = NULL;
    for (size_t i = 0; i < root->n_sections && !sec; i++)
        if (root->sections[i]->scope == scope && strcmp(root->sections[i]->name, name) == 0)
            sec = root->sections[i];
    if (!sec)
        return NULL;
    for (size_t i = 0; i < root->n_object_views; i++)
        if (root->object_views[i]->section == sec && root->object_views[i]->owner == view->owner)
            return root->object_views[i];
    struct sw_config *ov = calloc(1, sizeof *ov);
    if (!ov)
        abort();
    ov->root = root;
    ov->owner = view->owner;
    ov->section = sec;
    ov->fallback = view->owner->view;
    root->object_views = xrealloc(root->object_views, (root->n_object_views + 1) * sizeof *root->object_views);
    root->object_views[root->n_object_views++] = ov;
    return ov;
}

size_t sw_cfg_raw_count(const sw_cfg_t *cfg, unsigned scope)
{
    size_t n = 0;
    for (size_t i = 0; cfg && (scope & SW_CFG_RAW_SCOPES) && i < cfg->n_sections; i++)
        if (cfg->sections[i]->scope == scope)
            n++;
    return n;
}

const char *sw_cfg_raw_section(const sw_cfg_t *cfg, unsigned scope, size_t idx, int *line,
                               const sw_cfg_line_t **lines, size_t *n_lines)
{
    for (size_t i = 0; cfg && (scope & SW_CFG_RAW_SCOPES) && i < cfg->n_sections; i++) {
        const section_t *s = cfg->sections[i];
        if (s->scope != scope || idx-- != 0)
            continue;
        if (line)
            *line = s->line;
        if (lines)
            *lines = s->entries;
        if (n_lines)
            *n_lines = s->n_entries;
        return s->name;
    }
    return NULL;
}

void sw_cfg_visit_params(const sw_cfg_t *cfg, sw_param_visit_fn fn, void *ud)
{
    for (size_t i = 0; i < cfg->n_owners; i++)
        for (size_t j = 0; j < cfg->owners[i]->n_params; j++)
            fn(cfg->owners[i]->name, &cfg->owners[i]->params[j], &cfg->owners[i]->defaults[j], ud);
}
