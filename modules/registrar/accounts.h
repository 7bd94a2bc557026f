/* The accounts devices register with ([account NAME] sections): what the
 * registrar needs of each on every request, precomputed. The password
 * itself is not kept: only HA1 for each algorithm under the configured realm
 * (RFC 7616 section 3.4.2), which is all a digest check needs and spares two
 * hash passes per request. */
#ifndef REGISTRAR_ACCOUNTS_H
#define REGISTRAR_ACCOUNTS_H

#include <stddef.h>

#include "digest.h"
#include "ip_match.h"

typedef struct reg_account {
    char *name;
    char ha1[REG_ALG_COUNT][REG_DIGEST_HEX_MAX];
    reg_cidr_t *allowed;  /* allowed_ips; none: any address */
    size_t n_allowed;
    char *caller_number;  /* NULL when not set */
} reg_account_t;

typedef struct reg_accounts reg_accounts_t;

reg_accounts_t *reg_accounts_new(void);
void reg_accounts_free(reg_accounts_t *a);

/* Adds an account; NULL when the name is taken. caller_number may be NULL or "". */
reg_account_t *reg_accounts_add(reg_accounts_t *a, const char *name, const char *password, const char *realm,
                                const char *caller_number);
/* Adds one allowed_ips entry ("192.0.2.0/24"). 0, or -1 when it is not an address or block. */
int reg_account_allow(reg_account_t *acc, const char *cidr);
/* 1 when the account may be used from this IP. */
int reg_account_allows(const reg_account_t *acc, const char *ip);

const reg_account_t *reg_accounts_find(const reg_accounts_t *a, const char *name);
size_t reg_accounts_count(const reg_accounts_t *a);

#endif
