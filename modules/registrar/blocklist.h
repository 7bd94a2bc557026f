/* Failure counters that turn into blocks: SS_AUTHENTICATION_MAX_RETRY
 * failed authentications from one IP block it for
 * SS_AUTHENTICATION_FAILED_SUSPEND; SS_ENDPOINT_REGISTER_RETRY failed
 * registrations of one account from one source suspend that pair for
 * SS_ENDPOINT_REGISTER_SUSPEND. One list per rule, keyed by text (an IP, or
 * "account@ip").
 *
 * Failures are consecutive: a success clears the count, and a count whose
 * last failure is older than the block time is forgotten. The number of
 * keys is capped: past the cap, failures from new keys are not tracked
 * (counted in `untracked`), so a flood from spoofed addresses cannot grow
 * the table without bound.
 *
 * The lists count and remember; they enforce nothing by themselves. An IP
 * block is carried out by the core (authenticate.c hands it to
 * api->block_address, which drops the address's packets before parsing):
 * its entry here keeps the failures and the end of the block for the
 * metrics and the module's API. A suspension is enforced by register.c,
 * which asks reg_blocklist_blocked_for. */
#ifndef REGISTRAR_BLOCKLIST_H
#define REGISTRAR_BLOCKLIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_blocklist reg_blocklist_t;

/* max_failures 0 never blocks; block_ms how long a block lasts. */
reg_blocklist_t *reg_blocklist_new(size_t max_keys);
void reg_blocklist_free(reg_blocklist_t *b);
void reg_blocklist_configure(reg_blocklist_t *b, unsigned max_failures, uint64_t block_ms);

/* 1 when no key is blocked nor counting failures (callers may then skip
 * building a key). */
int reg_blocklist_is_empty(const reg_blocklist_t *b);
/* Milliseconds the key stays blocked, 0 when it is not blocked. */
uint64_t reg_blocklist_blocked_for(reg_blocklist_t *b, const char *key, uint64_t now_ms);
/* Records a failure; 1 when it blocked the key. */
int reg_blocklist_failure(reg_blocklist_t *b, const char *key, uint64_t now_ms);
void reg_blocklist_success(reg_blocklist_t *b, const char *key);
/* Lifts the block or forgets the count of one key; 1 when it had either. */
int reg_blocklist_clear(reg_blocklist_t *b, const char *key);
/* Lifts every block and count; how many keys were blocked. */
size_t reg_blocklist_clear_all(reg_blocklist_t *b);
/* Drops ended blocks and forgotten counts; the number still blocked. */
size_t reg_blocklist_sweep(reg_blocklist_t *b, uint64_t now_ms);

typedef struct reg_block_info {
    const char *key;
    unsigned failures;
    uint64_t blocked_for_ms; /* 0: only counting */
} reg_block_info_t;
/* Visits every blocked key (and, with counting_too, those only counting). */
void reg_blocklist_each(reg_blocklist_t *b, uint64_t now_ms, int counting_too,
                        void (*fn)(const reg_block_info_t *info, void *ud), void *ud);
uint64_t reg_blocklist_untracked(const reg_blocklist_t *b);

#endif
