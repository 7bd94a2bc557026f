#include "outbound_values.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ob_parse_expire(const char *text, uint32_t *out)
{
    if (!text)
        return -1;
    if (strcasecmp(text, "Auto") == 0) {
        *out = 0;
        return 0;
    }
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 5 || (text[digits] && strcmp(text + digits, "s") != 0))
        return -1;
    unsigned long v = strtoul(text, NULL, 10);
    if (v < OB_EXPIRE_MIN || v > OB_EXPIRE_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int ob_split_hostport(const char *text, char *host, size_t hostlen, unsigned *port)
{
    if (!text || !*text)
        return -1;
    const char *h = text, *after;
    size_t hlen;
    if (*text == '[') {
        const char *close = strchr(text, ']');
        if (!close || close == text + 1)
            return -1;
        h = text + 1;
        hlen = (size_t)(close - h);
        if (strspn(h, "0123456789abcdefABCDEF:.") < hlen)
            return -1;
        after = close + 1;
    } else {
        hlen = strcspn(text, ":");
        for (size_t i = 0; i < hlen; i++)
            if (!name_char(text[i]))
                return -1;
        after = text + hlen;
    }
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    *port = 0;
    if (*after) {
        if (*after != ':' || !after[1] || strspn(after + 1, "0123456789") != strlen(after + 1) ||
            strlen(after + 1) > 5)
            return -1; /* an IPv6 address without brackets lands here too */
        unsigned long p = strtoul(after + 1, NULL, 10);
        if (p < 1 || p > 65535)
            return -1;
        *port = (unsigned)p;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    return 0;
}

int ob_user_valid(const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)text[i]) && !strchr("-_.!~*'()&=+$,", text[i]))
            return 0;
    return 1;
}
