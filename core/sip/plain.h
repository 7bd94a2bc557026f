/* Plain messages: received messages in a shape that libosip2 is sure to
 * accept, recognised without running it (message.c then makes libosip2's
 * view only if something asks for it). See plain.c for the shapes. */
#ifndef SW_SIP_PLAIN_H
#define SW_SIP_PLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/message.h"

/* True when m (parsed: start line and header list filled, not yet given to
 * libosip2) is plain. Then m->plain_to_tag, m->plain_branch and
 * m->plain_cseq_method hold what sw_msg_to_tag(), sw_msg_top_via_branch()
 * and sw_msg_cseq_method() would read from libosip2's view (NULL when it
 * would give NULL), copied into m->plain_ids. False says nothing about the
 * message: libosip2 decides as before. */
bool sw_msg_plain_check(sw_msg_t *m);

/* True when the n bytes at s are a URI libosip2's URI parser surely accepts
 * (a sip:, sips: or tel: URI of the plain shapes in plain.c); false says
 * nothing. Lets a built Request-URI skip libosip2's check. */
bool sw_uri_plain(const char *s, size_t n);

#endif
