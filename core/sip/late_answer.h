/* A 2xx that arrives for an INVITE nobody waits for any more (the call
 * engine CANCELled and let go of it: a ringing timeout, the call ended):
 * RFC 3261 15 says the UAC still ACKs it and then ends the dialog with BYE.
 * Otherwise the gateway keeps a call up (and bills it) until its own timer
 * gives up. The transaction layer calls this for a detached client INVITE. */
#ifndef SW_SIP_LATE_ANSWER_H
#define SW_SIP_LATE_ANSWER_H

#include <stdbool.h>

#include "sip/message.h"
#include "sip/transaction.h"

/* ACKs the 2xx `resp` toward `dest`, and with `bye` also sends a BYE in the
 * dialog it established (once per dialog: the caller tracks it). */
void sw_sip_end_late_answer(const sw_msg_t *resp, const sw_tx_destination_t *dest, bool bye);

#endif
