/* Mapping (customer) source addresses: see sources.h for the why. */
#include "config.h"

#include "call/sources.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/params.h"

typedef struct slot {
    sw_source_entry_t key;
    const char *mapping;        /* points into names[] */
    bool used;
} slot_t;

struct sw_sources {
    slot_t *slots;              /* open addressing, linear probing */
    size_t cap, count;
    char **names;               /* mapping names, owned */
    size_t n_names;
    /* which prefix lengths occur, per family, longest first: the lookup
     * only probes those */
    uint8_t lens4[33], lens6[129];
    size_t n_lens4, n_lens6;
};

static void mask_address(uint8_t *addr, int family, unsigned prefix_len)
{
    unsigned bytes = family == AF_INET ? 4 : 16;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bit = i * 8;
        if (bit >= prefix_len)
            addr[i] = 0;
        else if (prefix_len - bit < 8)
            addr[i] &= (uint8_t)(0xFF << (8 - (prefix_len - bit)));
    }
}

int sw_source_parse(const char *text, sw_source_entry_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char buf[128];
    if (strlen(text) >= sizeof buf) {
        snprintf(err, errlen, "'%s' is too long", text);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", text);
    char *host = buf, *port = NULL, *slash;
    if (*host == '[') { /* [v6]:port or [v6/len]:port */
        char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':')) {
            snprintf(err, errlen, "'%s': expected [ipv6]:port", text);
            return -1;
        }
        *close = '\0';
        host++;
        if (close[1] == ':')
            port = close + 2;
    } else if (strchr(host, '.') && strchr(host, ':')) { /* v4:port */
        port = strchr(host, ':');
        *port++ = '\0';
    }
    slash = strchr(host, '/');
    if (slash)
        *slash++ = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix_len = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->prefix_len = 128;
    } else {
        snprintf(err, errlen, "'%s' is not an IP address or CIDR block (host names are not allowed here)", text);
        return -1;
    }
    if (slash) {
        int64_t len;
        if (sw_parse_int64(slash, &len) || len < 0 || len > out->prefix_len) {
            snprintf(err, errlen, "'%s': prefix length must be 0–%u", text, out->prefix_len);
            return -1;
        }
        uint8_t check[16];
        memcpy(check, out->addr, sizeof check);
        mask_address(check, out->family, (unsigned)len);
        if (memcmp(check, out->addr, sizeof check) != 0) {
            snprintf(err, errlen, "'%s': host bits set below the /%lld mask", text, (long long)len);
            return -1;
        }
        out->prefix_len = (uint8_t)len;
    }
    if (port) {
        int64_t p;
        if (sw_parse_int64(port, &p) || p < 1 || p > 65535) {
            snprintf(err, errlen, "'%s': port must be 1–65535", text);
            return -1;
        }
        out->port = (uint16_t)p;
    }
    return 0;
}

static uint64_t entry_hash(const sw_source_entry_t *e)
{
    uint64_t h = 1469598103934665603ULL;
    const uint8_t *p = (const uint8_t *)e;
    for (size_t i = 0; i < sizeof *e; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static slot_t *find_slot(const sw_sources_t *t, const sw_source_entry_t *key)
{
    size_t i = (size_t)entry_hash(key) & (t->cap - 1);
    for (;;) {
        slot_t *s = &t->slots[i];
        if (!s->used || memcmp(&s->key, key, sizeof *key) == 0)
            return s;
        i = (i + 1) & (t->cap - 1);
    }
}

static void add_length(uint8_t *lens, size_t *n, uint8_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (lens[i] == len)
            return;
    size_t i = (*n)++;
    while (i > 0 && lens[i - 1] < len) { /* keep longest first */
        lens[i] = lens[i - 1];
        i--;
    }
    lens[i] = len;
}

sw_sources_t *sw_sources_build(const sw_config_t *core, sw_errors_t *errs)
{
    size_t before = errs->count;
    size_t n_mappings = sw_config_object_count(core, SW_SCOPE_MAPPING);
    size_t n_entries = 0;
    for (size_t i = 0; i < n_mappings; i++) {
        const sw_config_t *m = sw_config_object(core, SW_SCOPE_MAPPING, sw_config_object_name(core, SW_SCOPE_MAPPING, i));
        n_entries += sw_config_list_len(m, "source");
    }
    sw_sources_t *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->cap = 16;
    while (t->cap < n_entries * 2 + 1)
        t->cap *= 2;
    t->slots = calloc(t->cap, sizeof *t->slots);
    t->names = calloc(n_mappings + 1, sizeof *t->names);
    if (!t->slots || !t->names)
        abort();
    for (size_t i = 0; i < n_mappings; i++) {
        const char *name = sw_config_object_name(core, SW_SCOPE_MAPPING, i);
        const sw_config_t *m = sw_config_object(core, SW_SCOPE_MAPPING, name);
        t->names[t->n_names] = strdup(name);
        const char *owned = t->names[t->n_names++];
        int line = sw_cfg_line_of(m, "source");
        for (size_t k = 0; k < sw_config_list_len(m, "source"); k++) {
            const char *text = sw_config_list_str(m, "source", k);
            sw_source_entry_t e;
            char err[256];
            if (sw_source_parse(text, &e, err, sizeof err)) {
                sw_errors_add(errs, sw_config_file(core), line, "[mapping %s] source: %s", name, err);
                continue;
            }
            slot_t *s = find_slot(t, &e);
            if (s->used) {
                if (strcmp(s->mapping, owned) != 0)
                    sw_errors_add(errs, sw_config_file(core), line, "[mapping %s] source '%s' is already in [mapping %s]",
                                  name, text, s->mapping);
                continue;
            }
            s->key = e;
            s->mapping = owned;
            s->used = true;
            t->count++;
            if (e.family == AF_INET)
                add_length(t->lens4, &t->n_lens4, e.prefix_len);
            else
                add_length(t->lens6, &t->n_lens6, e.prefix_len);
        }
    }
    if (errs->count > before) {
        sw_sources_free(t);
        return NULL;
    }
    return t;
}

void sw_sources_free(sw_sources_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_names; i++)
        free(t->names[i]);
    free(t->names);
    free(t->slots);
    free(t);
}

size_t sw_sources_count(const sw_sources_t *t)
{
    return t ? t->count : 0;
}

const char *sw_sources_match(const sw_sources_t *t, const struct sockaddr *sa)
{
    if (!t || !t->count || !sa)
        return NULL;
    sw_source_entry_t key;
    memset(&key, 0, sizeof key);
    uint16_t port;
    const uint8_t *lens;
    size_t n_lens;
    uint8_t addr[16] = {0};
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(addr, &in->sin_addr, 4);
        port = ntohs(in->sin_port);
        lens = t->lens4;
        n_lens = t->n_lens4;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(addr, &in6->sin6_addr, 16);
        port = ntohs(in6->sin6_port);
        lens = t->lens6;
        n_lens = t->n_lens6;
    } else {
        return NULL;
    }
    key.family = sa->sa_family;
    /* the longest prefix wins; at one length, an entry with the port wins */
    for (size_t i = 0; i < n_lens; i++) {
        memcpy(key.addr, addr, sizeof key.addr);
        mask_address(key.addr, key.family, lens[i]);
        key.prefix_len = lens[i];
        key.port = port;
        slot_t *s = find_slot(t, &key);
        if (s->used)
            return s->mapping;
        key.port = 0;
        s = find_slot(t, &key);
        if (s->used)
            return s->mapping;
    }
    return NULL;
}
