/* Blocks set from outside the rate limit (net/ratelimit.h
 * sw_ratelimit_block: what a module's block_address ends in): they apply
 * whatever the rate settings, carry who set them and why, never touch a
 * trusted address, and are the last entries the fixed-size table gives up.
 * Time is given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/ratelimit.h"

#define SA(ss) ((const struct sockaddr *)&(ss))

static sw_ratelimit_t *table(uint32_t rate, uint32_t burst, size_t cap)
{
    sw_ratelimit_t *rl = sw_ratelimit_new(cap);
    assert_non_null(rl);
    sw_ratelimit_settings_t s = {.rate = rate, .burst = burst, .block_ms = 60000};
    sw_ratelimit_configure(rl, &s);
    return rl;
}

static sw_rl_verdict_t packet(sw_ratelimit_t *rl, const char *ip, uint64_t now)
{
    struct sockaddr_storage a = sw_test_ipv4(ip, 5060);
    return sw_ratelimit_check(rl, SA(a), now, NULL, NULL, NULL);
}

static sw_rl_block_result_t block(sw_ratelimit_t *rl, const char *ip, uint64_t now, uint64_t ms)
{
    return sw_ratelimit_block(rl, ip, now, ms, "registrar", "auth_failures", NULL, NULL);
}

/* With no rate limit at all, a block from outside still drops everything
 * until its end, is listed with its origin, and then simply ends. */
static void test_block_applies_without_limit(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(0, 1, 64);
    assert_int_equal(packet(rl, "192.0.2.5", 1000), SW_RL_PASS);
    assert_int_equal(block(rl, "192.0.2.5", 1000, 5000), SW_RL_BLOCK_SET);
    assert_int_equal(packet(rl, "192.0.2.5", 1001), SW_RL_BLOCKED_EXTERNAL);
    assert_int_equal(packet(rl, "192.0.2.5", 5999), SW_RL_BLOCKED_EXTERNAL);
    assert_int_equal(packet(rl, "192.0.2.6", 2000), SW_RL_PASS); /* its neighbour is not */
    sw_rl_blocked_t list[2];
    assert_int_equal(sw_ratelimit_list_blocked(rl, 3000, list, 2), 1);
    assert_string_equal(list[0].ip, "192.0.2.5");
    assert_string_equal(list[0].by, "registrar");
    assert_string_equal(list[0].reason, "auth_failures");
    assert_int_equal(list[0].remaining_ms, 3000);
    assert_int_equal(list[0].dropped, 2);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 3000), 1);
    /* a block not yet seen by any packet also counts */
    assert_int_equal(block(rl, "192.0.2.7", 3000, 1000), SW_RL_BLOCK_SET);
    struct sockaddr_storage seven = sw_test_ipv4("192.0.2.7", 1);
    assert_true(sw_ratelimit_is_blocked(rl, SA(seven), 3999));
    assert_false(sw_ratelimit_is_blocked(rl, SA(seven), 4000));
    assert_int_equal(packet(rl, "192.0.2.5", 6000), SW_RL_PASS);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 6000), 0);
    sw_ratelimit_free(rl);
}

/* The rate limit's own blocks are listed as such, and the limit goes on
 * counting tokens for an address that was blocked from outside. */
static void test_both_kinds_listed(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(1, 2, 64);
    for (int i = 0; i < 3; i++)
        packet(rl, "198.51.100.1", 1000);
    assert_int_equal(packet(rl, "198.51.100.1", 1000), SW_RL_BLOCKED);
    assert_int_equal(block(rl, "198.51.100.2", 1000, 120000), SW_RL_BLOCK_SET);
    sw_rl_blocked_t list[4];
    assert_int_equal(sw_ratelimit_list_blocked(rl, 1000, list, 4), 2);
    for (int i = 0; i < 2; i++) {
        if (strcmp(list[i].ip, "198.51.100.1") == 0) {
            assert_null(list[i].by);
            assert_string_equal(list[i].reason, "rate_limit");
        } else {
            assert_string_equal(list[i].reason, "auth_failures");
        }
    }
    /* blocking a rate-limited address makes the block the module's, with
     * the later end */
    assert_int_equal(sw_ratelimit_block(rl, "198.51.100.1", 2000, 1000, "fraud", "score", NULL, NULL),
                     SW_RL_BLOCK_SET);
    assert_int_equal(packet(rl, "198.51.100.1", 2001), SW_RL_BLOCKED_EXTERNAL);
    assert_int_equal(sw_ratelimit_list_blocked(rl, 2000, list, 4), 2);
    for (int i = 0; i < 2; i++)
        if (strcmp(list[i].ip, "198.51.100.1") == 0) {
            assert_string_equal(list[i].by, "fraud");
            assert_int_equal(list[i].remaining_ms, 59000); /* the rate limit's end was later */
        }
    /* a shorter block from outside never shortens one */
    assert_int_equal(block(rl, "198.51.100.2", 2000, 10), SW_RL_BLOCK_SET);
    assert_int_equal(packet(rl, "198.51.100.2", 100000), SW_RL_BLOCKED_EXTERNAL);
    assert_int_equal(packet(rl, "198.51.100.2", 121000), SW_RL_PASS);
    sw_ratelimit_free(rl);
}

static bool trust_all(const struct sockaddr *sa, void *ud)
{
    (void)sa, (void)ud;
    return true;
}

static bool trust_192_0_2(const struct sockaddr *sa, void *ud)
{
    int *asked = ud;
    (*asked)++;
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 8) == 0xC00002; /* 192.0.2.0/24 */
}

/* A trusted address is never blocked from outside, even with the limit on
 * for trusted sources; the caller hears it first once (to log it). A reload
 * that makes a blocked address trusted lifts its block. */
static void test_trusted_never_blocked(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(1, 1, 64);
    sw_ratelimit_settings_t s = {.rate = 1, .burst = 1, .block_ms = 60000, .limit_trusted = true};
    sw_ratelimit_configure(rl, &s);
    int asked = 0;
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.10", 1000, 60000, "registrar", "auth_failures", trust_192_0_2,
                                        &asked),
                     SW_RL_BLOCK_TRUSTED_FIRST);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.10", 1000, 60000, "registrar", "auth_failures", trust_192_0_2,
                                        &asked),
                     SW_RL_BLOCK_TRUSTED);
    assert_int_equal(asked, 1); /* cached */
    struct sockaddr_storage gw = sw_test_ipv4("192.0.2.10", 5060);
    assert_int_equal(sw_ratelimit_check(rl, SA(gw), 1000, trust_192_0_2, &asked, NULL), SW_RL_PASS);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 1000), 0);

    /* 10.0.0.1 is blocked, then a reload trusts everything: the block goes */
    assert_int_equal(sw_ratelimit_block(rl, "10.0.0.1", 1000, 60000, "registrar", "auth_failures", trust_192_0_2,
                                        &asked),
                     SW_RL_BLOCK_SET);
    sw_ratelimit_forget_trust(rl);
    struct sockaddr_storage ten = sw_test_ipv4("10.0.0.1", 5060);
    bool trusted = false;
    assert_int_equal(sw_ratelimit_check(rl, SA(ten), 2000, trust_all, NULL, &trusted), SW_RL_PASS);
    assert_true(trusted);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 2000), 0);
    sw_ratelimit_free(rl);
}

/* One set of 8 entries: blocks from outside outlast everything else. */
static void test_full_set_keeps_blocks(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(1, 1, 8);
    assert_int_equal(sw_ratelimit_capacity(rl), 8);
    /* one rate-limit block, seven blocks from outside */
    packet(rl, "203.0.113.100", 1000);
    assert_int_equal(packet(rl, "203.0.113.100", 1000), SW_RL_NEWLY_BLOCKED);
    char ip[32];
    for (int i = 0; i < 7; i++) {
        snprintf(ip, sizeof ip, "203.0.113.%d", i);
        assert_int_equal(block(rl, ip, 1000, 100000 + (uint64_t)i * 1000), SW_RL_BLOCK_SET);
    }
    /* a new address's packet takes the rate-limit block's entry, not one
     * of the module's */
    sw_rl_counters_t c;
    assert_int_equal(packet(rl, "198.51.100.50", 2000), SW_RL_PASS);
    sw_ratelimit_counters(rl, &c);
    assert_int_equal(c.untracked, 0);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 2000), 7);
    assert_int_equal(packet(rl, "203.0.113.100", 2000), SW_RL_PASS); /* forgotten: a new bucket */
    assert_int_equal(packet(rl, "198.51.100.50", 2000), SW_RL_PASS); /* (it took that one's place back) */
    /* fill the set with blocks from outside */
    assert_int_equal(block(rl, "198.51.100.50", 2000, 200000), SW_RL_BLOCK_SET);
    assert_int_equal(packet(rl, "198.51.100.51", 2000), SW_RL_PASS);
    assert_int_equal(packet(rl, "198.51.100.51", 2000), SW_RL_PASS); /* unlimited: not tracked */
    sw_ratelimit_counters(rl, &c);
    assert_int_equal(c.untracked, 2);
    assert_int_equal(c.evicted_blocks, 0);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 2000), 8);
    /* a ninth block from outside: the one that ends first (203.0.113.0) goes */
    assert_int_equal(block(rl, "198.51.100.52", 2000, 300000), SW_RL_BLOCK_SET);
    sw_ratelimit_counters(rl, &c);
    assert_int_equal(c.evicted_blocks, 1);
    assert_int_equal(packet(rl, "203.0.113.0", 2000), SW_RL_PASS); /* untracked again */
    assert_int_equal(packet(rl, "203.0.113.1", 2000), SW_RL_BLOCKED_EXTERNAL);
    assert_int_equal(packet(rl, "198.51.100.52", 2000), SW_RL_BLOCKED_EXTERNAL);
    sw_ratelimit_free(rl);
}

/* Unblocking: by anyone (the API) or only by the module that blocked. */
static void test_unblock_by_owner(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(0, 1, 64);
    assert_int_equal(block(rl, "192.0.2.20", 1000, 60000), SW_RL_BLOCK_SET);
    assert_false(sw_ratelimit_unblock(rl, "192.0.2.20", 1000, "fraud", NULL));
    sw_rl_blocked_t was;
    assert_true(sw_ratelimit_unblock(rl, "192.0.2.20", 1000, "registrar", &was));
    assert_string_equal(was.reason, "auth_failures");
    assert_int_equal(was.remaining_ms, 60000);
    assert_false(sw_ratelimit_unblock(rl, "192.0.2.20", 1000, NULL, NULL));
    assert_int_equal(packet(rl, "192.0.2.20", 1000), SW_RL_PASS);
    /* a module cannot lift the rate limit's own block */
    sw_ratelimit_settings_t s = {.rate = 1, .burst = 1, .block_ms = 60000};
    sw_ratelimit_configure(rl, &s);
    packet(rl, "192.0.2.21", 2000);
    assert_int_equal(packet(rl, "192.0.2.21", 2000), SW_RL_NEWLY_BLOCKED);
    assert_false(sw_ratelimit_unblock(rl, "192.0.2.21", 2000, "registrar", NULL));
    assert_true(sw_ratelimit_unblock(rl, "192.0.2.21", 2000, NULL, NULL));
    sw_ratelimit_free(rl);
}

/* An IPv6 address is blocked by its /64, as the limit keys it. */
static void test_ipv6_by_prefix(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(0, 1, 64);
    assert_int_equal(block(rl, "2001:db8:7:8::1", 1000, 60000), SW_RL_BLOCK_SET);
    struct sockaddr_storage other;
    memset(&other, 0, sizeof other);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&other;
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8:7:8:ffff::9", &in6->sin6_addr), 1);
    assert_int_equal(sw_ratelimit_check(rl, SA(other), 1000, NULL, NULL, NULL), SW_RL_BLOCKED_EXTERNAL);
    sw_rl_blocked_t list[1];
    assert_int_equal(sw_ratelimit_list_blocked(rl, 1000, list, 1), 1);
    assert_string_equal(list[0].ip, "2001:db8:7:8::/64");
    assert_true(sw_ratelimit_unblock(rl, list[0].ip, 1000, "registrar", NULL));
    /* an IPv4-mapped address is the IPv4 one */
    assert_int_equal(block(rl, "::ffff:192.0.2.30", 1000, 60000), SW_RL_BLOCK_SET);
    assert_int_equal(packet(rl, "192.0.2.30", 1000), SW_RL_BLOCKED_EXTERNAL);
    sw_ratelimit_free(rl);
}

/* What a module may pass is checked; the origins are few and bounded. */
static void test_bad_input_and_origin_cap(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(0, 1, 64);
    assert_int_equal(block(rl, "not an address", 1000, 1000), SW_RL_BLOCK_INVALID);
    assert_int_equal(block(rl, "2001:db8::/64", 1000, 1000), SW_RL_BLOCK_INVALID); /* an address, not a prefix */
    assert_int_equal(block(rl, "192.0.2.1", 1000, 0), SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_block(rl, NULL, 1000, 1000, "m", "r", NULL, NULL), SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.1", 1000, 1000, "m", "two words", NULL, NULL),
                     SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.1", 1000, 1000, "m", "\"quoted\"", NULL, NULL),
                     SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.1", 1000, 1000, "m", "", NULL, NULL), SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.1", 1000, 1000, "m", "r23456789012345678901234567890123",
                                        NULL, NULL),
                     SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.1", 1000, 1000, NULL, "r", NULL, NULL), SW_RL_BLOCK_INVALID);
    assert_int_equal(sw_ratelimit_blocked_count(rl, 1000), 0);
    /* a block to the end of time does not wrap */
    assert_int_equal(block(rl, "192.0.2.2", 1000, UINT64_MAX), SW_RL_BLOCK_SET);
    assert_int_equal(packet(rl, "192.0.2.2", UINT64_MAX - 1), SW_RL_BLOCKED_EXTERNAL);
    char reason[16];
    for (int i = 1; i < SW_RL_MAX_ORIGINS; i++) { /* auth_failures took one */
        snprintf(reason, sizeof reason, "r%d", i);
        assert_int_equal(sw_ratelimit_block(rl, "192.0.2.3", 1000, 1000, "m", reason, NULL, NULL), SW_RL_BLOCK_SET);
    }
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.3", 1000, 1000, "m", "one_too_many", NULL, NULL),
                     SW_RL_BLOCK_TOO_MANY_ORIGINS);
    assert_int_equal(sw_ratelimit_block(rl, "192.0.2.3", 1000, 1000, "m", "r1", NULL, NULL), SW_RL_BLOCK_SET);
    sw_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_applies_without_limit),
        cmocka_unit_test(test_both_kinds_listed),
        cmocka_unit_test(test_trusted_never_blocked),
        cmocka_unit_test(test_full_set_keeps_blocks),
        cmocka_unit_test(test_unblock_by_owner),
        cmocka_unit_test(test_ipv6_by_prefix),
        cmocka_unit_test(test_bad_input_and_origin_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
