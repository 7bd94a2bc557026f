/*
 * privacy: the decision, in plain C (no API calls), of what identity a
 * gateway gets for one attempt: the From (anonymous or not, its display
 * name), the Privacy header, and P-Asserted-Identity / P-Preferred-Identity
 * (none, the caller's own copied, or built from the caller number).
 * PARAMETERS.md section 3 is the source; doc/modules/privacy.md explains it
 * with the headers a gateway receives.
 */
#ifndef PRIVACY_IDENTITY_H
#define PRIVACY_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

/* SS_SIP_USER_AGENT_PRIVACY (the cfg words, in this order). */
typedef enum { PRIVACY_UA_IGNORE = 0, PRIVACY_UA_ID, PRIVACY_UA_NONE } privacy_ua_mode_t;
/* SS_SIP_E164_DISPLAY_FROM. */
typedef enum { PRIVACY_DISPLAY_IGNORE = 0, PRIVACY_DISPLAY_E164, PRIVACY_DISPLAY_CALLER } privacy_display_mode_t;
/* A routing gateway's `privacy`. */
typedef enum { PRIVACY_GW_NONE = 0, PRIVACY_GW_PASSTHROUGH, PRIVACY_GW_ID } privacy_gw_mode_t;
/* A routing gateway's `pai` and `ppi`. */
typedef enum {
    PRIVACY_IDENTITY_NONE = 0,
    PRIVACY_IDENTITY_PASSTHROUGH,
    PRIVACY_IDENTITY_CALLER
} privacy_identity_mode_t;

/* Where the call came from, for the trust put in its Privacy header. */
typedef enum {
    PRIVACY_SOURCE_MAPPING_TRUSTED = 0, /* a [mapping] with support_privacy = On */
    PRIVACY_SOURCE_MAPPING_UNTRUSTED,   /* a [mapping] with support_privacy = Off */
    PRIVACY_SOURCE_USER                 /* a registered user (or any source not a [mapping]) */
} privacy_source_t;

/* The settings that apply to one gateway attempt. */
typedef struct privacy_rules {
    privacy_ua_mode_t user_agent_privacy;
    privacy_display_mode_t display_from;
    privacy_gw_mode_t privacy;
    privacy_identity_mode_t pai, ppi;
} privacy_rules_t;

/* The headers of the outbound INVITE the module writes. */
typedef enum { PRIVACY_HDR_PRIVACY = 0, PRIVACY_HDR_PAI, PRIVACY_HDR_PPI, PRIVACY_HDR_COUNT } privacy_header_t;

typedef enum {
    PRIVACY_SEND_NOTHING = 0, /* the header is removed */
    PRIVACY_SEND_CALLERS,     /* the caller's own value(s), unchanged */
    PRIVACY_SEND_BUILT        /* a value the switch makes (Privacy: id/none, an identity from the caller number) */
} privacy_send_t;

typedef enum {
    PRIVACY_FROM_KEEP = 0,    /* the core's From, with the caller's display name */
    PRIVACY_FROM_ANONYMOUS,   /* "Anonymous" <sip:anonymous@anonymous.invalid> */
    PRIVACY_FROM_DISPLAY_NUMBER /* display name := the caller number (E164: after caller_dial_plan) */
} privacy_from_t;

typedef struct privacy_decision {
    privacy_send_t send[PRIVACY_HDR_COUNT];
    const char *privacy_value;  /* PRIVACY_SEND_BUILT for Privacy: "id" or "none" (static) */
    privacy_from_t from;
    bool display_after_dial_plan; /* PRIVACY_FROM_DISPLAY_NUMBER: E164 (true) or Caller */
} privacy_decision_t;

/* Decides one attempt. caller_privacy is the caller's Privacy header value
 * (several headers joined by ';'), or NULL. */
void privacy_decide(const privacy_rules_t *rules, privacy_source_t source, const char *caller_privacy,
                    privacy_decision_t *out);

/* True when a Privacy value asks that the caller's identity be hidden: one
 * of its priv-values (RFC 3323, RFC 3325) is id, header or user. */
bool privacy_value_hides_identity(const char *value);

/* The Privacy value that goes out when the decision copies the caller's or
 * builds one: NULL when none. */
const char *privacy_outbound_value(const privacy_decision_t *d, const char *caller_privacy);

/* "<sip:NUMBER@HOST>" into out; false (out "") when it does not fit or the
 * number is empty. */
bool privacy_identity_uri(const char *number, const char *host, char *out, size_t outlen);

/* The host of "host:port", "[v6]:port" or "host" into out (brackets kept
 * for IPv6); false when it does not fit. */
bool privacy_host_of(const char *address, char *out, size_t outlen);

#define PRIVACY_ANONYMOUS_DISPLAY "Anonymous"
#define PRIVACY_ANONYMOUS_URI "sip:anonymous@anonymous.invalid"

#endif
