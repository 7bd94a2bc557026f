/* Nonces (RFC 7616 3.3): sealed to the client IP, stale after their
 * lifetime, foreign when forged or from before a restart, nonce-count
 * replay protection; and the block lists behind SS_AUTHENTICATION_MAX_RETRY
 * and SS_ENDPOINT_REGISTER_RETRY, on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "blocklist.h"
#include "nonce.h"
#include "strmap.h"

#define LIFE 30000

static void test_nonce_fresh_stale_foreign(void **state)
{
    (void)state;
    reg_nonces_t *n = reg_nonces_new();
    char a[REG_NONCE_TEXT], b[REG_NONCE_TEXT];
    reg_nonces_make(n, "192.0.2.1", 1000, a);
    reg_nonces_make(n, "192.0.2.1", 1000, b);
    assert_int_equal(strlen(a), REG_NONCE_TEXT - 1);
    assert_string_not_equal(a, b); /* never the same twice */
    assert_int_equal(reg_nonces_accept(n, a, "192.0.2.1", 1, 1000 + LIFE, LIFE), REG_NONCE_FRESH);
    /* past its lifetime: stale (the device retries without asking its user) */
    assert_int_equal(reg_nonces_accept(n, b, "192.0.2.1", 1, 1001 + LIFE, LIFE), REG_NONCE_STALE);
    /* from another IP, altered, or minted by another process: foreign */
    char c[REG_NONCE_TEXT];
    reg_nonces_make(n, "192.0.2.1", 2000, c);
    assert_int_equal(reg_nonces_accept(n, c, "192.0.2.2", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    char altered[REG_NONCE_TEXT];
    memcpy(altered, c, sizeof altered);
    altered[5] = altered[5] == '0' ? '1' : '0';
    assert_int_equal(reg_nonces_accept(n, altered, "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    reg_nonces_t *other = reg_nonces_new();
    assert_int_equal(reg_nonces_accept(other, c, "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    reg_nonces_free(other);
    assert_int_equal(reg_nonces_accept(n, "xyz", "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    assert_int_equal(reg_nonces_accept(n, "", "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    assert_int_equal(reg_nonces_accept(n, NULL, "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    char upper[REG_NONCE_TEXT]; /* hex digits in any case still decode to the same bytes, but zz does not */
    memcpy(upper, c, sizeof upper);
    upper[0] = 'z';
    assert_int_equal(reg_nonces_accept(n, upper, "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FOREIGN);
    assert_int_equal(reg_nonces_accept(n, c, "192.0.2.1", 1, 2000, LIFE), REG_NONCE_FRESH);
    reg_nonces_free(n);
}

static void test_nonce_count_replay(void **state)
{
    (void)state;
    reg_nonces_t *n = reg_nonces_new();
    char a[REG_NONCE_TEXT];
    reg_nonces_make(n, "192.0.2.1", 0, a);
    assert_int_equal(reg_nonces_accept(n, a, "192.0.2.1", 1, 10, LIFE), REG_NONCE_FRESH);
    assert_int_equal(reg_nonces_accept(n, a, "192.0.2.1", 1, 20, LIFE), REG_NONCE_REPLAYED);
    assert_int_equal(reg_nonces_accept(n, a, "192.0.2.1", 3, 30, LIFE), REG_NONCE_FRESH); /* gaps are fine */
    assert_int_equal(reg_nonces_accept(n, a, "192.0.2.1", 2, 40, LIFE), REG_NONCE_REPLAYED);
    assert_int_equal(reg_nonces_tracked(n), 1);
    /* without qop (nc 0) a nonce serves once */
    char b[REG_NONCE_TEXT];
    reg_nonces_make(n, "192.0.2.1", 0, b);
    assert_int_equal(reg_nonces_accept(n, b, "192.0.2.1", 0, 10, LIFE), REG_NONCE_FRESH);
    assert_int_equal(reg_nonces_accept(n, b, "192.0.2.1", 0, 20, LIFE), REG_NONCE_REPLAYED);
    /* the counts are forgotten with the nonce */
    assert_int_equal(reg_nonces_tracked(n), 2);
    reg_nonces_sweep(n, LIFE, LIFE);
    assert_int_equal(reg_nonces_tracked(n), 2);
    reg_nonces_sweep(n, LIFE + 1, LIFE);
    assert_int_equal(reg_nonces_tracked(n), 0);
    uint32_t nc;
    assert_int_equal(reg_nonce_count_parse("0000000a", &nc), 0);
    assert_int_equal(nc, 10);
    assert_int_equal(reg_nonce_count_parse("FFFFFFFF", &nc), 0);
    assert_int_equal(nc, 0xffffffffu);
    assert_int_equal(reg_nonce_count_parse("1", &nc), -1);
    assert_int_equal(reg_nonce_count_parse("0000000g", &nc), -1);
    assert_int_equal(reg_nonce_count_parse("000000001", &nc), -1);
    reg_nonces_free(n);
}

static void test_block_after_max_failures(void **state)
{
    (void)state;
    reg_blocklist_t *b = reg_blocklist_new(100);
    reg_blocklist_configure(b, 3, 60000);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 0), 0);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 10), 0);
    assert_int_equal(reg_blocklist_blocked_for(b, "192.0.2.1", 10), 0);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 20), 1); /* the third blocks */
    assert_int_equal(reg_blocklist_blocked_for(b, "192.0.2.1", 20), 60000);
    assert_int_equal(reg_blocklist_blocked_for(b, "192.0.2.1", 60019), 1);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 30), 0); /* not extended while blocked */
    assert_int_equal(reg_blocklist_blocked_for(b, "192.0.2.1", 60020), 0); /* over */
    assert_int_equal(reg_blocklist_blocked_for(b, "192.0.2.2", 20), 0);
    /* it starts counting from zero again */
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 60030), 0);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 60040), 0);
    /* a success clears the count */
    reg_blocklist_success(b, "192.0.2.1");
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 60050), 0);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 60060), 0);
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 60070), 1);
    /* failures further apart than the block time do not add up */
    assert_int_equal(reg_blocklist_failure(b, "10.0.0.1", 0), 0);
    assert_int_equal(reg_blocklist_failure(b, "10.0.0.1", 60000), 0);
    assert_int_equal(reg_blocklist_failure(b, "10.0.0.1", 120000), 0);
    assert_int_equal(reg_blocklist_blocked_for(b, "10.0.0.1", 120000), 0);
    reg_blocklist_free(b);
}

static void count_blocked(const reg_block_info_t *info, void *ud)
{
    size_t *n = ud;
    (*n)++;
    assert_non_null(info->key);
}

static void test_block_clear_sweep_and_cap(void **state)
{
    (void)state;
    reg_blocklist_t *b = reg_blocklist_new(4);
    reg_blocklist_configure(b, 1, 1000);
    assert_int_equal(reg_blocklist_failure(b, "a", 0), 1);
    assert_int_equal(reg_blocklist_failure(b, "b", 0), 1);
    reg_blocklist_configure(b, 2, 1000);
    assert_int_equal(reg_blocklist_failure(b, "c", 0), 0); /* counting only */
    size_t n = 0;
    reg_blocklist_each(b, 10, 0, count_blocked, &n);
    assert_int_equal(n, 2);
    n = 0;
    reg_blocklist_each(b, 10, 1, count_blocked, &n);
    assert_int_equal(n, 3);
    assert_int_equal(reg_blocklist_clear(b, "a"), 1);
    assert_int_equal(reg_blocklist_clear(b, "a"), 0);
    assert_int_equal(reg_blocklist_blocked_for(b, "a", 10), 0);
    assert_int_equal(reg_blocklist_sweep(b, 10), 1);
    /* the cap: full of live entries, a new key is not tracked (and counted) */
    assert_int_equal(reg_blocklist_failure(b, "d", 10), 0);
    assert_int_equal(reg_blocklist_failure(b, "e", 10), 0);
    assert_int_equal(reg_blocklist_failure(b, "f", 10), 0);
    assert_int_equal(reg_blocklist_untracked(b), 1);
    /* once the old ones are spent, room is made */
    assert_int_equal(reg_blocklist_failure(b, "f", 2000), 0);
    assert_int_equal(reg_blocklist_untracked(b), 1);
    assert_int_equal(reg_blocklist_clear_all(b), 0);
    reg_blocklist_configure(b, 0, 1000); /* 0: never blocks */
    for (int i = 0; i < 10; i++)
        assert_int_equal(reg_blocklist_failure(b, "g", (uint64_t)i), 0);
    assert_int_equal(reg_blocklist_blocked_for(b, "g", 10), 0);
    reg_blocklist_free(b);
}

static int count_entry(const char *key, void *value, void *ud)
{
    (void)key, (void)value;
    (*(size_t *)ud)++;
    return 0;
}

static void test_strmap_grows_and_removes(void **state)
{
    (void)state;
    reg_strmap_t *m = reg_strmap_new();
    char key[32];
    static int values[5000];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_null(reg_strmap_put(m, key, &values[i]));
    }
    assert_int_equal(reg_strmap_count(m), 5000);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof key, "k%d", i);
        assert_ptr_equal(reg_strmap_remove(m, key), &values[i]);
    }
    size_t n = 0;
    reg_strmap_each(m, count_entry, &n);
    assert_int_equal(n, 2500);
    assert_null(reg_strmap_get(m, "k0"));
    assert_ptr_equal(reg_strmap_get(m, "k1"), &values[1]);
    assert_ptr_equal(reg_strmap_put(m, "k1", &values[2]), &values[1]);
    assert_null(reg_strmap_remove(m, "absent"));
    reg_strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_fresh_stale_foreign),
        cmocka_unit_test(test_nonce_count_replay),
        cmocka_unit_test(test_block_after_max_failures),
        cmocka_unit_test(test_block_clear_sweep_and_cap),
        cmocka_unit_test(test_strmap_grows_and_removes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
