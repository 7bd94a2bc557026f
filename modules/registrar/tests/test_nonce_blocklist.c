/* Nonces (RFC 7616 3.3): sealed to the client IP, stale after their
 * lifetime, foreign when forged or from before a restart, nonce-count
 * replay protection (the counts of thousands of nonces, swept and shrunk),
 * the seal's SipHash against its reference vectors; and the block lists
 * behind SS_AUTHENTICATION_MAX_RETRY and SS_ENDPOINT_REGISTER_RETRY, on a
 * fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "blocklist.h"
#include "nonce.h"
#include "nonce_counts.h"
#include "siphash.h"
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

/* SipHash-2-4 with 128-bit output, key 00 01 .. 0f and messages 00 01 ..
 * (n-1): the vectors of the reference implementation (vectors.h). */
static void test_siphash128_vectors(void **state)
{
    (void)state;
    unsigned char key[16], msg[64], tag[16];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    static const struct {
        size_t len;
        unsigned char tag[16];
    } vectors[] = {
        {0, {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93}},
        {1, {0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45}},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        reg_siphash128(key, msg, vectors[i].len, tag);
        assert_memory_equal(tag, vectors[i].tag, 16);
    }
    /* every byte and the length count: one bit anywhere changes the tag */
    unsigned char a[16], b[16];
    reg_siphash128(key, msg, 40, a);
    msg[39] ^= 0x80;
    reg_siphash128(key, msg, 40, b);
    assert_memory_not_equal(a, b, 16);
    msg[39] ^= 0x80;
    reg_siphash128(key, msg, 39, b);
    assert_memory_not_equal(a, b, 16);
    key[15] ^= 1;
    reg_siphash128(key, msg, 40, b);
    assert_memory_not_equal(a, b, 16);
}

/* Thousands of nonces in use at once: each count is kept apart, a sweep
 * forgets exactly the old ones (the others, moved within the table, are
 * still found), and the table grows and shrinks back. */
static void test_nonce_counts_at_scale(void **state)
{
    (void)state;
    enum { N = 6000 };
    reg_nonces_t *n = reg_nonces_new();
    static char nonces[N][REG_NONCE_TEXT];
    /* the first half issued at 0, the second at LIFE: different sweep fates */
    for (int i = 0; i < N; i++)
        reg_nonces_make(n, "192.0.2.7", i < N / 2 ? 0 : LIFE, nonces[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(reg_nonces_accept(n, nonces[i], "192.0.2.7", 1, LIFE, LIFE), REG_NONCE_FRESH);
    assert_int_equal(reg_nonces_tracked(n), N);
    for (int i = 0; i < N; i += 3)
        assert_int_equal(reg_nonces_accept(n, nonces[i], "192.0.2.7", 2, LIFE, LIFE), REG_NONCE_FRESH);
    for (int i = 0; i < N; i++) /* nc 1 again: replayed for all; nc 2 for one in three */
        assert_int_equal(reg_nonces_accept(n, nonces[i], "192.0.2.7", i % 3 ? 1 : 2, LIFE, LIFE),
                         REG_NONCE_REPLAYED);
    /* the first half expires */
    reg_nonces_sweep(n, LIFE + 1, LIFE);
    assert_int_equal(reg_nonces_tracked(n), N / 2);
    for (int i = N / 2; i < N; i++)
        assert_int_equal(reg_nonces_accept(n, nonces[i], "192.0.2.7", 1, LIFE + 1, LIFE), REG_NONCE_REPLAYED);
    /* all gone, then in use again */
    reg_nonces_sweep(n, 2 * LIFE + 1, LIFE);
    assert_int_equal(reg_nonces_tracked(n), 0);
    char again[REG_NONCE_TEXT];
    reg_nonces_make(n, "192.0.2.7", 3 * LIFE, again);
    assert_int_equal(reg_nonces_accept(n, again, "192.0.2.7", 1, 3 * LIFE, LIFE), REG_NONCE_FRESH);
    assert_int_equal(reg_nonces_accept(n, again, "192.0.2.7", 1, 3 * LIFE, LIFE), REG_NONCE_REPLAYED);
    assert_int_equal(reg_nonces_tracked(n), 1);
    reg_nonces_free(n);
}

/* The counts table on its own, with serials drawn at random so that runs
 * form and wrap around the array's end: every sweep must leave each
 * surviving serial findable with its count (a run closed up wrongly loses
 * entries behind the hole). */
static void test_nonce_counts_table(void **state)
{
    (void)state;
    enum { N = 20000 };
    static uint64_t serials[N];
    reg_nonce_counts_t *t = reg_nonce_counts_new();
    uint64_t x = 88172645463325252ULL; /* xorshift: repeatable */
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        serials[i] = x;
        reg_nonce_counts_set(t, x, (uint64_t)(i % 4) * 1000, (uint32_t)(i % 9) + 1);
    }
    assert_int_equal(reg_nonce_counts_size(t), N);
    reg_nonce_counts_set(t, serials[5], 1000, 77); /* an update is not an entry more */
    assert_int_equal(reg_nonce_counts_size(t), N);
    assert_int_equal(reg_nonce_counts_get(t, serials[5]), 77);
    assert_int_equal(reg_nonce_counts_get(t, 12345), 0);
    /* issued at 0, 1000, 2000, 3000: each sweep forgets one quarter */
    for (int round = 0; round < 4; round++) {
        reg_nonce_counts_sweep(t, (uint64_t)round * 1000 + 501, 500);
        assert_int_equal(reg_nonce_counts_size(t), (size_t)(N / 4) * (size_t)(3 - round));
        for (int i = 0; i < N; i++) {
            uint32_t want = i % 4 <= round ? 0 : i == 5 ? 77 : (uint32_t)(i % 9) + 1;
            assert_int_equal(reg_nonce_counts_get(t, serials[i]), want);
        }
    }
    reg_nonce_counts_set(t, 1, 0, 3);
    assert_int_equal(reg_nonce_counts_get(t, 1), 3);
    reg_nonce_counts_free(t);
}

static void test_block_after_max_failures(void **state)
{
    (void)state;
    reg_blocklist_t *b = reg_blocklist_new(100);
    reg_blocklist_configure(b, 3, 60000);
    assert_true(reg_blocklist_is_empty(b));
    assert_int_equal(reg_blocklist_failure(b, "192.0.2.1", 0), 0);
    assert_false(reg_blocklist_is_empty(b)); /* counting is not empty: callers must ask it */
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
    /* once every count is cleared and every block over, the list is empty again */
    reg_blocklist_success(b, "10.0.0.1");
    assert_false(reg_blocklist_is_empty(b)); /* 192.0.2.1 still blocked */
    reg_blocklist_clear(b, "192.0.2.1");
    assert_true(reg_blocklist_is_empty(b));
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
    /* the table's copy of a key stays put while the table grows */
    const char *stored = NULL;
    assert_null(reg_strmap_put_stored(m, "kept", &values[3], &stored));
    assert_string_equal(stored, "kept");
    for (int i = 5000; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        reg_strmap_put(m, key, &values[i % 5000]);
    }
    assert_string_equal(stored, "kept");
    const char *again = NULL;
    assert_ptr_equal(reg_strmap_put_stored(m, "kept", &values[4], &again), &values[3]);
    assert_ptr_equal(again, stored);
    reg_strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_fresh_stale_foreign),
        cmocka_unit_test(test_nonce_count_replay),
        cmocka_unit_test(test_siphash128_vectors),
        cmocka_unit_test(test_nonce_counts_at_scale),
        cmocka_unit_test(test_nonce_counts_table),
        cmocka_unit_test(test_block_after_max_failures),
        cmocka_unit_test(test_block_clear_sweep_and_cap),
        cmocka_unit_test(test_strmap_grows_and_removes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
