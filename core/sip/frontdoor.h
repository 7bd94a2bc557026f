/* The SIP front door: every message the transports receive comes here to be
 * parsed, sanity-checked, counted, offered to the modules' on_request hooks
 * and answered or dropped. */
#ifndef SW_SIP_FRONTDOOR_H
#define SW_SIP_FRONTDOOR_H

#include <stddef.h>

#include "sip/message.h"

struct sw_modules;

typedef struct sw_frontdoor_settings {
    size_t max_message_size;
    bool force_rport;           /* UDP: answer to the source port, not the Via port */
} sw_frontdoor_settings_t;

void sw_frontdoor_configure(const sw_frontdoor_settings_t *s, struct sw_modules *modules);

/* One UDP datagram (may carry junk after the message: ignored). */
void sw_frontdoor_datagram(const char *buf, size_t len, const sw_msg_origin_t *origin);
/* One message already framed by a stream transport. */
void sw_frontdoor_message(const char *buf, size_t len, const sw_msg_origin_t *origin);
/* The same, framed as buf[fr->skipped .. fr->total): the checks on its raw
 * headers (header count, scanner User-Agents) come first. */
struct sw_frame;
void sw_frontdoor_stream_message(const char *buf, const struct sw_frame *fr, const sw_msg_origin_t *origin);
/* A stream framing error: answers 400 from the raw bytes when possible. */
void sw_frontdoor_framing_error(const char *buf, size_t len, const sw_msg_origin_t *origin, const char *reason);

/* Answers a request (stateless for now). Returns 0 when sent. */
int sw_frontdoor_reply(sw_msg_t *req, int code, const char *reason, const char *extra_headers);

#endif
