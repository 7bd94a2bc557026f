#include "binding_record.h"

#include <string.h>

#define LAYOUT 1
/* layout, cseq, q, transport, behind_nat, socket_id, registered, updated */
#define FIXED_BYTES (1 + 4 + 4 + 1 + 1 + 8 + 8 + 8)

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

size_t reg_record_size(const reg_persist_row_t *r)
{
    return FIXED_BYTES + strlen(or_empty(r->aor)) + strlen(or_empty(r->call_id)) + strlen(or_empty(r->source)) +
           strlen(or_empty(r->user_agent)) + 4;
}

/* (byte by byte, written out: compilers make one store of each) */
static unsigned char *put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
    return p + 4;
}

static unsigned char *put_le64(unsigned char *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
    return p + 8;
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static unsigned char *put_text(unsigned char *p, const char *s)
{
    size_t n = strlen(or_empty(s)) + 1;
    memcpy(p, or_empty(s), n);
    return p + n;
}

void reg_record_write(const reg_persist_row_t *r, unsigned char *out)
{
    unsigned char *p = out;
    *p++ = LAYOUT;
    p = put_le32(p, r->cseq);
    p = put_le32(p, (uint32_t)r->q);
    *p++ = (unsigned char)r->transport;
    *p++ = (unsigned char)(r->behind_nat != 0);
    p = put_le64(p, r->socket_id);
    p = put_le64(p, (uint64_t)r->registered_wall_ms);
    p = put_le64(p, (uint64_t)r->updated_wall_ms);
    p = put_text(p, r->aor);
    p = put_text(p, r->call_id);
    p = put_text(p, r->source);
    put_text(p, r->user_agent);
}

/* The NUL-terminated text at *at, which must end before end. */
static const char *take_text(const unsigned char **at, const unsigned char *end)
{
    const unsigned char *nul = memchr(*at, '\0', (size_t)(end - *at));
    if (!nul)
        return NULL;
    const char *s = (const char *)*at;
    *at = nul + 1;
    return s;
}

int reg_record_read(const unsigned char *rec, size_t len, reg_persist_row_t *r)
{
    if (!rec || len < FIXED_BYTES || rec[0] != LAYOUT)
        return -1;
    const unsigned char *p = rec + 1, *end = rec + len;
    uint32_t cseq = (uint32_t)get_le(p, 4);
    int32_t q = (int32_t)(uint32_t)get_le(p + 4, 4);
    int transport = p[8], behind_nat = p[9];
    uint64_t socket_id = get_le(p + 10, 8);
    int64_t registered = (int64_t)get_le(p + 18, 8), updated = (int64_t)get_le(p + 26, 8);
    p = rec + FIXED_BYTES;
    const char *aor = take_text(&p, end), *call_id = aor ? take_text(&p, end) : NULL;
    const char *source = call_id ? take_text(&p, end) : NULL, *agent = source ? take_text(&p, end) : NULL;
    if (!agent || p != end || behind_nat > 1)
        return -1;
    r->cseq = cseq;
    r->q = q;
    r->transport = transport;
    r->behind_nat = behind_nat;
    r->socket_id = socket_id;
    r->registered_wall_ms = registered;
    r->updated_wall_ms = updated;
    r->aor = aor;
    r->call_id = call_id;
    r->source = source;
    r->user_agent = agent;
    return 0;
}
