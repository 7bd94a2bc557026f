/* The per-source rate limit table (net/ratelimit.h) and the per-IP TCP
 * connection counts (net/peer_count.h): token bucket, block time, trust,
 * bounded memory with eviction, the management view. Time is given. */
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

#include "net/peer_count.h"
#include "net/ratelimit.h"


static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
    in->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &in->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static sw_ratelimit_t *table(uint32_t rate, uint32_t burst, uint64_t block_ms, size_t cap)
{
    sw_ratelimit_t *rl = sw_ratelimit_new(cap);
    assert_non_null(rl);
    sw_ratelimit_settings_t s = {.rate = rate, .burst = burst, .block_ms = block_ms};
    sw_ratelimit_configure(rl, &s);
    return rl;
}

/* how many of n packets sent at `now` pass */
static int passes(sw_ratelimit_t *rl, const struct sockaddr *sa, uint64_t now, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += sw_ratelimit_check(rl, sa, now, NULL, NULL, NULL) == SW_RL_PASS;
    return ok;
}

static void test_burst_then_block_then_release(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(10, 20, 5000, 64);
    struct sockaddr_storage a = sw_test_ipv4("192.0.2.1", 5060);
    assert_int_equal(passes(rl, SA(a), 1000, 20), 20); /* the burst */
    assert_int_equal(sw_ratelimit_check(rl, SA(a), 1000, NULL, NULL, NULL), SW_RL_NEWLY_BLOCKED);
    assert_int_equal(sw_ratelimit_check(rl, SA(a), 1001, NULL, NULL, NULL), SW_RL_BLOCKED);
    /* blocked for the whole block time, whatever the rate meanwhile */
    assert_int_equal(passes(rl, SA(a), 5999, 5), 0);
    assert_true(sw_ratelimit_is_blocked(rl, SA(a), 5999));
    /* the port does not matter: the address is blocked */
    struct sockaddr_storage a2 = sw_test_ipv4("192.0.2.1", 40000);
    assert_int_equal(sw_ratelimit_check(rl, SA(a2), 2000, NULL, NULL, NULL), SW_RL_BLOCKED);
    /* another address is not */
    struct sockaddr_storage b = sw_test_ipv4("192.0.2.2", 5060);
    assert_int_equal(passes(rl, SA(b), 2000, 5), 5);
    /* after the block: a full bucket again */
    assert_false(sw_ratelimit_is_blocked(rl, SA(a), 6000));
    assert_int_equal(passes(rl, SA(a), 6000, 20), 20);
    sw_ratelimit_free(rl);
}

static void test_sustained_rate_passes(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(100, 10, 60000, 64);
    struct sockaddr_storage a = sw_test_ipv4("198.51.100.7", 5060);
    /* 100/s for 10 s, one every 10 ms: never blocked */
    int ok = 0;
    for (uint64_t t = 0; t < 10000; t += 10)
        ok += sw_ratelimit_check(rl, SA(a), t, NULL, NULL, NULL) == SW_RL_PASS;
    assert_int_equal(ok, 1000);
    /* 200/s: the bucket empties within a few ms past its 10 tokens */
    sw_rl_verdict_t v = SW_RL_PASS;
    uint64_t t = 20000;
    for (int i = 0; i < 100 && v == SW_RL_PASS; i++, t += 5)
        v = sw_ratelimit_check(rl, SA(a), t, NULL, NULL, NULL);
    assert_int_equal(v, SW_RL_NEWLY_BLOCKED);
    sw_ratelimit_free(rl);
}

static bool trust_192(const struct sockaddr *sa, void *ud)
{
    int *asked = ud;
    (*asked)++;
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 192;
}

static void test_trusted_exempt_and_cached(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(1, 1, 60000, 64);
    struct sockaddr_storage gw = sw_test_ipv4("192.0.2.9", 5060), other = sw_test_ipv4("203.0.113.1", 5060);
    int asked = 0;
    bool trusted = false;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sw_ratelimit_check(rl, SA(gw), 1000, trust_192, &asked, &trusted), SW_RL_PASS);
    assert_true(trusted);
    assert_int_equal(asked, 1); /* asked once, then cached */
    assert_int_equal(sw_ratelimit_check(rl, SA(other), 1000, trust_192, &asked, &trusted), SW_RL_PASS);
    assert_false(trusted);
    assert_int_equal(sw_ratelimit_check(rl, SA(other), 1000, trust_192, &asked, &trusted), SW_RL_NEWLY_BLOCKED);
    /* a reload: trust is asked again */
    sw_ratelimit_forget_trust(rl);
    sw_ratelimit_check(rl, SA(gw), 1000, trust_192, &asked, NULL);
    assert_int_equal(asked, 3);
    /* rate_limit_trusted: trusted addresses are limited too */
    sw_ratelimit_settings_t s = {.rate = 1, .burst = 1, .block_ms = 60000, .limit_trusted = true};
    sw_ratelimit_configure(rl, &s);
    assert_int_equal(sw_ratelimit_check(rl, SA(gw), 1000, trust_192, &asked, &trusted), SW_RL_PASS);
    assert_true(trusted);
    assert_int_equal(sw_ratelimit_check(rl, SA(gw), 1000, trust_192, &asked, &trusted), SW_RL_NEWLY_BLOCKED);
    /* rate 0: no limit, trust still told */
    s.rate = 0;
    sw_ratelimit_configure(rl, &s);
    assert_int_equal(sw_ratelimit_check(rl, SA(other), 1000, trust_192, &asked, &trusted), SW_RL_PASS);
    assert_false(trusted);
    sw_ratelimit_free(rl);
}

/* A million addresses through a table of 64 entries: memory is what was
 * allocated at the start, and blocked addresses are the last forgotten. */
static void test_bounded_with_eviction(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(1, 1, 60000, 64);
    assert_int_equal(sw_ratelimit_capacity(rl), 64);
    struct sockaddr_storage bad = sw_test_ipv4("203.0.113.66", 1);
    sw_ratelimit_check(rl, SA(bad), 0, NULL, NULL, NULL);
    assert_int_equal(sw_ratelimit_check(rl, SA(bad), 0, NULL, NULL, NULL), SW_RL_NEWLY_BLOCKED);
    char ip[32];
    for (uint32_t i = 0; i < 1000000; i++) {
        snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        struct sockaddr_storage a = sw_test_ipv4(ip, 5060);
        assert_int_equal(sw_ratelimit_check(rl, SA(a), 10 + i / 1000, NULL, NULL, NULL), SW_RL_PASS);
    }
    assert_true(sw_ratelimit_is_blocked(rl, SA(bad), 1000));
    /* the table fills with blocked addresses: at most its capacity listed */
    for (uint32_t i = 0; i < 500; i++) {
        snprintf(ip, sizeof ip, "172.16.%u.%u", i >> 8, i & 255);
        struct sockaddr_storage a = sw_test_ipv4(ip, 5060);
        sw_ratelimit_check(rl, SA(a), 2000, NULL, NULL, NULL);
        sw_ratelimit_check(rl, SA(a), 2000, NULL, NULL, NULL);
    }
    size_t blocked = sw_ratelimit_blocked_count(rl, 2000);
    assert_true(blocked > 0 && blocked <= 64);
    sw_ratelimit_free(rl);
}

static void test_list_and_unblock(void **state)
{
    (void)state;
    sw_ratelimit_t *rl = table(1, 2, 30000, 64);
    struct sockaddr_storage a = sw_test_ipv4("192.0.2.44", 5060);
    struct sockaddr_storage b = v6("2001:db8:1:2:aaaa::1");
    struct sockaddr_storage b2 = v6("2001:db8:1:2:bbbb::2"); /* the same /64 */
    for (int i = 0; i < 5; i++) {
        sw_ratelimit_check(rl, SA(a), 1000, NULL, NULL, NULL);
        sw_ratelimit_check(rl, SA(b), 1000, NULL, NULL, NULL);
    }
    assert_true(sw_ratelimit_is_blocked(rl, SA(b2), 1000));
    sw_rl_blocked_t list[4];
    assert_int_equal(sw_ratelimit_list_blocked(rl, 11000, list, 4), 2);
    bool saw_a = false, saw_b = false;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(list[i].remaining_ms, 20000);
        assert_int_equal(list[i].dropped, 3);
        saw_a |= strcmp(list[i].ip, "192.0.2.44") == 0;
        saw_b |= strcmp(list[i].ip, "2001:db8:1:2::/64") == 0;
    }
    assert_true(saw_a && saw_b);
    assert_false(sw_ratelimit_unblock(rl, "192.0.2.45", 11000, NULL, NULL));
    assert_false(sw_ratelimit_unblock(rl, "not an address", 11000, NULL, NULL));
    assert_true(sw_ratelimit_unblock(rl, "192.0.2.44", 11000, NULL, NULL));
    assert_false(sw_ratelimit_is_blocked(rl, SA(a), 11000));
    assert_int_equal(passes(rl, SA(a), 11000, 2), 2); /* a full bucket */
    assert_true(sw_ratelimit_unblock(rl, "2001:db8:1:2::/64", 11000, NULL, NULL));
    assert_int_equal(sw_ratelimit_blocked_count(rl, 11000), 0);
    sw_ratelimit_free(rl);
}

static void test_peer_counts(void **state)
{
    (void)state;
    struct sockaddr_storage a = sw_test_ipv4("192.0.2.1", 1000), a2 = sw_test_ipv4("192.0.2.1", 2000), b = sw_test_ipv4("192.0.2.2", 1000);
    for (int i = 0; i < 3; i++)
        assert_true(sw_peer_count_add(SA(a), 3));
    assert_false(sw_peer_count_add(SA(a2), 3)); /* any port of that IP */
    assert_true(sw_peer_count_add(SA(b), 3));
    assert_int_equal(sw_peer_count_get(SA(a)), 3);
    sw_peer_count_remove(SA(a2));
    assert_true(sw_peer_count_add(SA(a), 3));
    assert_true(sw_peer_count_add(SA(a), 0)); /* 0: no limit */
    assert_int_equal(sw_peer_count_get(SA(a)), 4);
    /* many addresses: the table grows and counts stay right */
    char ip[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.0.%d.%d", i >> 8, i & 255);
        struct sockaddr_storage x = sw_test_ipv4(ip, 1);
        assert_true(sw_peer_count_add(SA(x), 1));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.0.%d.%d", i >> 8, i & 255);
        struct sockaddr_storage x = sw_test_ipv4(ip, 1);
        assert_int_equal(sw_peer_count_get(SA(x)), 1);
        sw_peer_count_remove(SA(x));
        assert_int_equal(sw_peer_count_get(SA(x)), 0);
    }
    sw_peer_count_clear();
    assert_int_equal(sw_peer_count_get(SA(a)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_block_then_release),
        cmocka_unit_test(test_sustained_rate_passes),
        cmocka_unit_test(test_trusted_exempt_and_cached),
        cmocka_unit_test(test_bounded_with_eviction),
        cmocka_unit_test(test_list_and_unblock),
        cmocka_unit_test(test_peer_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
