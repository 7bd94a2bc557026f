/* ACK and BYE for an answer that came too late: see late_answer.h. */
#include "config.h"

#include "sip/late_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The URI of the 2xx's Contact (the dialog's remote target), malloc'd. */
static char *contact_uri(const sw_msg_t *resp)
{
    const char *v = sw_msg_header(resp, "Contact", 0);
    if (!v)
        return NULL;
    const char *lt = strchr(v, '<');
    if (lt) {
        const char *gt = strchr(lt, '>');
        return gt ? strndup(lt + 1, (size_t)(gt - lt - 1)) : NULL;
    }
    while (*v == ' ')
        v++;
    return strndup(v, strcspn(v, "; \t"));
}

/* One request of the late dialog: R-URI the Contact, Route the reversed
 * Record-Route, our Via with a new branch, From/To/Call-ID of the 2xx. */
static sw_msg_t *late_request(const sw_msg_t *resp, const char *method, uint32_t cseq, char *branch, size_t blen)
{
    char *target = contact_uri(resp);
    const char *via = sw_msg_header(resp, "Via", 0);
    const char *from = sw_msg_header(resp, "From", 0), *to = sw_msg_header(resp, "To", 0);
    const char *call_id = sw_msg_call_id(resp);
    sw_msg_t *m = target && via && from && to && call_id ? sw_msg_new_request(method, target) : NULL;
    free(target);
    if (!m)
        return NULL;
    sw_tx_new_branch(branch, blen);
    char line[512];
    /* our own Via came back on top: keep its sent-by, give it a new branch */
    snprintf(line, sizeof line, "%.*s;branch=%s;rport", (int)strcspn(via, ";"), via, branch);
    sw_msg_header_add(m, "Via", line);
    sw_msg_header_add(m, "Max-Forwards", "70");
    sw_msg_header_add(m, "From", from);
    sw_msg_header_add(m, "To", to);
    sw_msg_header_add(m, "Call-ID", call_id);
    snprintf(line, sizeof line, "%u %s", cseq, method);
    sw_msg_header_add(m, "CSeq", line);
    for (size_t n = sw_msg_header_count(resp, "Record-Route"); n-- > 0;)
        sw_msg_header_add(m, "Route", sw_msg_header(resp, "Record-Route", n));
    return m;
}

void sw_sip_end_late_answer(const sw_msg_t *resp, const sw_tx_destination_t *dest, bool bye)
{
    const char *cseq_text = sw_msg_header(resp, "CSeq", 0);
    uint32_t cseq = cseq_text ? (uint32_t)strtoul(cseq_text, NULL, 10) : 0;
    char branch[64];
    sw_msg_t *ack = late_request(resp, "ACK", cseq, branch, sizeof branch);
    if (!ack) {
        sw_logf(SW_LOG_WARN, NULL, sw_msg_call_id(resp), "a late 2xx without Contact/Via/From/To: not ACKed");
        return;
    }
    size_t len = 0;
    char *bytes = sw_msg_serialize(ack, &len);
    sw_msg_free(ack);
    if (bytes)
        sw_tx_send_ack(bytes, len, dest);
    free(bytes);
    if (!bye)
        return;
    sw_logf(SW_LOG_INFO, NULL, sw_msg_call_id(resp), "a gateway answered after its attempt was given up: ACK and BYE");
    sw_msg_t *m = late_request(resp, "BYE", cseq + 1, branch, sizeof branch);
    bytes = m ? sw_msg_serialize(m, &len) : NULL;
    sw_msg_free(m);
    if (bytes)
        sw_tx_client_send("BYE", branch, bytes, len, dest, NULL, NULL, NULL);
    free(bytes);
}
