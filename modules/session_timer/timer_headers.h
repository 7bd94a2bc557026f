/*
 * The header fields of RFC 4028 and the few others a session timer reads,
 * parsed from their text: Session-Expires (compact form `x`) with its
 * refresher parameter, Min-SE, option tags (Supported `k`, Require), the
 * methods of Allow, and the origin line of an SDP body, which tells a
 * refresh (same session version) from a media change.
 *
 * The parsers are pure (no API, no allocation) and never read past the
 * string they are given; anything malformed is reported as such, never
 * guessed. st_offer_read() gathers what one message says, through the
 * module API (which already maps the compact names).
 */
#ifndef SESSION_TIMER_HEADERS_H
#define SESSION_TIMER_HEADERS_H

#include <sipswitch/module.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest interval accepted from the network or cfg: one day, the top
 * of SS_SIP_SESSION_TTL's range. A larger Session-Expires or Min-SE is
 * clamped to it (a peer asking for a week gets a day: RFC 4028 lets the
 * answerer reduce the interval). */
#define ST_MAX_INTERVAL_S 86400u

/* Who refreshes, as the refresher parameter says it: relative to the
 * transaction that carries it (uac = the side that sent the request). */
typedef enum {
    ST_REFRESHER_NONE = 0, /* parameter absent: the answerer chooses */
    ST_REFRESHER_UAC,
    ST_REFRESHER_UAS
} st_refresher_t;

typedef struct st_session_expires {
    uint32_t seconds;          /* 1..ST_MAX_INTERVAL_S */
    st_refresher_t refresher;
} st_session_expires_t;

/* "1800", "1800;refresher=uac", " 90 ; foo=bar ;refresher = UAS": false when
 * the value is not delta-seconds (1 or more digits, not 0) followed by
 * well-formed ;name[=value] parameters, or when refresher has a value other
 * than uac/uas. Unknown parameters are ignored (RFC 4028 4: generic-param). */
bool st_parse_session_expires(const char *value, st_session_expires_t *out);

/* "90" or "90;param": the delta-seconds of a Min-SE (1..ST_MAX_INTERVAL_S after
 * clamping); false when malformed. */
bool st_parse_min_se(const char *value, uint32_t *out);

/* True when the comma-separated list names `token` (any case, spaces and
 * tabs around items ignored), e.g. "100rel, timer" and "timer". */
bool st_list_has(const char *list, const char *token);

/* The origin line of an SDP body ("o=..." without the line end), and its
 * length; false when there is none in body[0..len). */
bool st_sdp_origin(const char *body, size_t len, const char **line, size_t *line_len);

/* True when both bodies carry the same origin line: the same session, same
 * version (RFC 3264 8: an offer that changes nothing keeps the version), so
 * a re-INVITE or UPDATE carrying it is a refresh, not a media change. False
 * when either has no origin line. */
bool st_sdp_same_session(const char *a, size_t a_len, const char *b, size_t b_len);

/* What one request (or a 2xx) says about session timers. */
typedef struct st_offer {
    bool supported;            /* Supported or Require lists "timer" */
    bool required;             /* Require lists "timer" */
    bool has_se;               /* a well-formed Session-Expires */
    bool se_malformed;         /* a Session-Expires that could not be read (ignored) */
    st_session_expires_t se;
    uint32_t min_se_s;         /* its Min-SE, 0 when absent or malformed */
    bool allows_update;        /* Allow lists UPDATE */
} st_offer_t;

/* Reads those fields from a message through the module API (compact forms
 * x and k included); every header instance is looked at. */
void st_offer_read(const sw_api_t *api, const sw_msg_t *m, st_offer_t *out);

/* True when the message's To header has a tag: a request inside a dialog,
 * as opposed to the INVITE that opens one. */
bool st_to_has_tag(const sw_api_t *api, const sw_msg_t *m);

/* True when the message's body is SDP (Content-Type application/sdp) and
 * not empty; sets *body / *len. */
bool st_msg_sdp(const sw_api_t *api, const sw_msg_t *m, const char **body, size_t *len);

#endif
