#include "accounts.h"

#include "strmap.h"
#include "xalloc.h"

struct reg_accounts {
    reg_strmap_t *by_name;
    reg_hasher_t *hasher; /* HA1s of a 200,000-line accounts file in one calculator */
};

reg_accounts_t *reg_accounts_new(void)
{
    reg_accounts_t *a = reg_xcalloc(1, sizeof *a);
    a->by_name = reg_strmap_new();
    a->hasher = reg_hasher_new();
    return a;
}

static int free_account(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    reg_account_t *acc = value;
    free(acc->name);
    free(acc->allowed);
    free(acc->caller_number);
    free(acc);
    return 0;
}

void reg_accounts_free(reg_accounts_t *a)
{
    if (!a)
        return;
    reg_strmap_each(a->by_name, free_account, NULL);
    reg_strmap_free(a->by_name);
    reg_hasher_free(a->hasher);
    free(a);
}

reg_account_t *reg_accounts_add(reg_accounts_t *a, const char *name, const char *password, const char *realm,
                                const char *caller_number)
{
    if (!name || !*name || reg_strmap_get(a->by_name, name))
        return NULL;
    reg_account_t *acc = reg_xcalloc(1, sizeof *acc);
    acc->name = reg_xstrdup(name);
    for (int alg = 0; alg < REG_ALG_COUNT; alg++)
        reg_hasher_ha1(a->hasher, (reg_digest_alg_t)alg, name, realm, password ? password : "", acc->ha1[alg]);
    if (caller_number && *caller_number)
        acc->caller_number = reg_xstrdup(caller_number);
    reg_strmap_put(a->by_name, name, acc);
    return acc;
}

int reg_account_allow(reg_account_t *acc, const char *cidr)
{
    reg_cidr_t c;
    if (reg_cidr_parse(cidr, &c) != 0)
        return -1;
    acc->allowed = reg_xrealloc(acc->allowed, (acc->n_allowed + 1) * sizeof *acc->allowed);
    acc->allowed[acc->n_allowed++] = c;
    return 0;
}

int reg_account_allows(const reg_account_t *acc, const char *ip)
{
    if (acc->n_allowed == 0)
        return 1;
    for (size_t i = 0; i < acc->n_allowed; i++)
        if (reg_cidr_contains(&acc->allowed[i], ip))
            return 1;
    return 0;
}

const reg_account_t *reg_accounts_find(const reg_accounts_t *a, const char *name)
{
    return a ? reg_strmap_get(a->by_name, name) : NULL;
}

size_t reg_accounts_count(const reg_accounts_t *a)
{
    return a ? reg_strmap_count(a->by_name) : 0;
}
