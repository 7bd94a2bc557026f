/*
 * privacy: the identity decision (see identity.h).
 */
#include "identity.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* What the caller asked for, as far as the switch honours it: the header of
 * a trusted mapping, nothing from an untrusted one, and for a registered
 * user its own header or else SS_SIP_USER_AGENT_PRIVACY. */
static privacy_send_t requested(const privacy_rules_t *r, privacy_source_t source, const char *caller_privacy,
                                const char **built)
{
    *built = NULL;
    bool has = caller_privacy && *caller_privacy;
    switch (source) {
    case PRIVACY_SOURCE_MAPPING_TRUSTED:
        return has ? PRIVACY_SEND_CALLERS : PRIVACY_SEND_NOTHING;
    case PRIVACY_SOURCE_MAPPING_UNTRUSTED:
        return PRIVACY_SEND_NOTHING;
    case PRIVACY_SOURCE_USER:
        break;
    }
    if (has)
        return PRIVACY_SEND_CALLERS;
    if (r->user_agent_privacy == PRIVACY_UA_ID)
        *built = "id";
    else if (r->user_agent_privacy == PRIVACY_UA_NONE)
        *built = "none";
    return *built ? PRIVACY_SEND_BUILT : PRIVACY_SEND_NOTHING;
}

static privacy_send_t identity_send(privacy_identity_mode_t mode)
{
    switch (mode) {
    case PRIVACY_IDENTITY_PASSTHROUGH:
        return PRIVACY_SEND_CALLERS;
    case PRIVACY_IDENTITY_CALLER:
        return PRIVACY_SEND_BUILT;
    case PRIVACY_IDENTITY_NONE:
        break;
    }
    return PRIVACY_SEND_NOTHING;
}

void privacy_decide(const privacy_rules_t *r, privacy_source_t source, const char *caller_privacy,
                    privacy_decision_t *out)
{
    memset(out, 0, sizeof *out);
    switch (r->privacy) {
    case PRIVACY_GW_NONE:
        out->send[PRIVACY_HDR_PRIVACY] = PRIVACY_SEND_NOTHING;
        break;
    case PRIVACY_GW_PASSTHROUGH:
        out->send[PRIVACY_HDR_PRIVACY] = requested(r, source, caller_privacy, &out->privacy_value);
        break;
    case PRIVACY_GW_ID:
        out->send[PRIVACY_HDR_PRIVACY] = PRIVACY_SEND_BUILT;
        out->privacy_value = "id";
        break;
    }
    out->send[PRIVACY_HDR_PAI] = identity_send(r->pai);
    out->send[PRIVACY_HDR_PPI] = identity_send(r->ppi);
    if (privacy_value_hides_identity(privacy_outbound_value(out, caller_privacy)))
        out->from = PRIVACY_FROM_ANONYMOUS; /* RFC 3323 4.1.1: the real identity travels only in PAI */
    else if (r->display_from != PRIVACY_DISPLAY_IGNORE) {
        out->from = PRIVACY_FROM_DISPLAY_NUMBER;
        out->display_after_dial_plan = r->display_from == PRIVACY_DISPLAY_E164;
    }
}

const char *privacy_outbound_value(const privacy_decision_t *d, const char *caller_privacy)
{
    switch (d->send[PRIVACY_HDR_PRIVACY]) {
    case PRIVACY_SEND_CALLERS:
        return caller_privacy && *caller_privacy ? caller_privacy : NULL;
    case PRIVACY_SEND_BUILT:
        return d->privacy_value;
    case PRIVACY_SEND_NOTHING:
        break;
    }
    return NULL;
}

bool privacy_value_hides_identity(const char *value)
{
    static const char *const hiding[] = {"id", "header", "user"};
    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t;,");
        size_t n = strcspn(p, " \t;,");
        for (size_t i = 0; n && i < sizeof hiding / sizeof hiding[0]; i++)
            if (n == strlen(hiding[i]) && strncasecmp(p, hiding[i], n) == 0)
                return true;
        p += n;
    }
    return false;
}

bool privacy_identity_uri(const char *number, const char *host, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!number || !*number || !host || !*host)
        return false;
    int n = snprintf(out, outlen, "<sip:%s@%s>", number, host);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen)
            out[0] = '\0';
        return false;
    }
    return true;
}

bool privacy_host_of(const char *address, char *out, size_t outlen)
{
    if (!outlen)
        return false;
    out[0] = '\0';
    if (!address)
        return false;
    size_t n;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close)
            return false;
        n = (size_t)(close - address) + 1;
    } else {
        n = strcspn(address, ":");
    }
    if (!n || n >= outlen)
        return false;
    memcpy(out, address, n);
    out[n] = '\0';
    return true;
}
