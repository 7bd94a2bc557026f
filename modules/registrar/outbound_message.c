#include "outbound_message.h"

#include <stdio.h>
#include <string.h>

#include "contact_list.h"
#include "sip_uri.h"

/* Contacts read from one Contact value of a 2xx: a response may list
 * other devices of the same address of record; past this many in one
 * value the Expires header decides. */
#define OB_RESPONSE_CONTACTS 32

static int fits(int n, size_t len)
{
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int ob_register_uri(const char *domain, char *out, size_t len)
{
    return fits(snprintf(out, len, "sip:%s", domain), len);
}

int ob_contact_uri(const ob_register_msg_t *m, char *out, size_t len)
{
    return fits(snprintf(out, len, "sip:%s@%s%s", m->contact_user, m->local, m->tcp ? ";transport=tcp" : ""), len);
}

int ob_register_headers(const ob_register_msg_t *m, char *out, size_t len)
{
    char contact[512];
    if (ob_contact_uri(m, contact, sizeof contact) != 0)
        return -1;
    size_t used = 0;
    int n = snprintf(out, len,
                     "From: <sip:%s@%s>;tag=%s\r\n"
                     "To: <sip:%s@%s>\r\n"
                     "Call-ID: %s\r\n"
                     "CSeq: %u REGISTER\r\n"
                     "Contact: <%s>;expires=%u\r\n"
                     "Expires: %u\r\n",
                     m->user, m->domain, m->from_tag, m->user, m->domain, m->call_id, (unsigned)m->cseq, contact,
                     (unsigned)m->expires, (unsigned)m->expires);
    if (fits(n, len) != 0)
        return -1;
    used = (size_t)n;
    const char *names[] = {m->auth_header, "Privacy", "User-Agent"};
    const char *values[] = {m->auth_value, m->privacy, m->user_agent};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!names[i] || !values[i])
            continue;
        n = snprintf(out + used, len - used, "%s: %s\r\n", names[i], values[i]);
        if (fits(n, len - used) != 0)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

int64_t ob_delta_seconds(const char *text)
{
    if (!text)
        return -1;
    text += strspn(text, " \t");
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || text[digits + strspn(text + digits, " \t")] != '\0')
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < digits && v <= UINT32_MAX; i++)
        v = v * 10 + (text[i] - '0');
    return v > UINT32_MAX ? UINT32_MAX : v;
}

int64_t ob_granted_expires(const char *const *contact_values, size_t n, const char *expires_header,
                           const char *our_contact)
{
    size_t our_len = our_contact ? strlen(our_contact) : 0;
    for (size_t i = 0; i < n && our_len; i++) {
        reg_contact_t contacts[OB_RESPONSE_CONTACTS];
        size_t found = 0;
        int star = 0;
        if (!contact_values[i] ||
            reg_contact_parse(contact_values[i], strlen(contact_values[i]), contacts, OB_RESPONSE_CONTACTS, &found,
                              &star) != 0)
            continue;
        for (size_t k = 0; k < found; k++)
            if (contacts[k].expires >= 0 && reg_uri_same(contacts[k].uri, contacts[k].uri_len, our_contact, our_len))
                return contacts[k].expires;
    }
    return ob_delta_seconds(expires_header);
}
