/* The SIP text the registrar reads itself: addresses and URIs (RFC 3261
 * 20.10, 19.1.4), Contact lists with expires and q (10.2.1), the Via
 * sent-by and the NAT decision (RFC 3581), IP blocks and source texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "contact_list.h"
#include "ip_match.h"
#include "nat_detect.h"
#include "sip_uri.h"

static void assert_uri_of(const char *value, const char *want, const char *want_rest)
{
    const char *uri, *rest;
    size_t len;
    assert_int_equal(reg_addr_uri(value, strlen(value), &uri, &len, &rest), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(uri, want, len);
    assert_string_equal(rest, want_rest);
}

static void test_addresses(void **state)
{
    (void)state;
    assert_uri_of("<sip:1001@example.com>;tag=abc", "sip:1001@example.com", ";tag=abc");
    assert_uri_of("\"Alice <home>, \\\"x\\\"\" <sip:alice@h;transport=tcp>;expires=60", "sip:alice@h;transport=tcp",
                  ";expires=60");
    assert_uri_of("Bob <sips:bob@[2001:db8::1]:5061>", "sips:bob@[2001:db8::1]:5061", "");
    /* bare addr-spec: its parameters are the header's */
    assert_uri_of("sip:1001@example.com;tag=xyz", "sip:1001@example.com", ";tag=xyz");
    assert_uri_of("  sip:1001@h  ", "sip:1001@h", "  ");
    const char *uri, *rest;
    size_t len;
    assert_int_equal(reg_addr_uri("<sip:a@b", 8, &uri, &len, &rest), -1);
    assert_int_equal(reg_addr_uri("\"open <sip:a@b>", 15, &uri, &len, &rest), -1);
    assert_int_equal(reg_addr_uri("<>", 2, &uri, &len, &rest), -1);
    assert_int_equal(reg_addr_uri("", 0, &uri, &len, &rest), -1);
}

static void test_uri_parts(void **state)
{
    (void)state;
    reg_uri_t u;
    const char *t = "sip:1001:pw@Example.COM:5070;transport=tcp;lr?subject=x";
    assert_int_equal(reg_uri_parse(t, strlen(t), &u), 0);
    assert_int_equal(u.user_len, 4);
    assert_memory_equal(u.user, "1001", 4);
    assert_int_equal(u.host_len, 11);
    assert_memory_equal(u.host, "Example.COM", 11);
    assert_int_equal(u.port, 5070);
    assert_int_equal(u.params_len, strlen(";transport=tcp;lr"));
    const char *v;
    size_t vl;
    assert_true(reg_param_find(u.params, u.params_len, "TRANSPORT", &v, &vl));
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "tcp", 3);
    assert_true(reg_param_find(u.params, u.params_len, "lr", &v, &vl));
    assert_int_equal(vl, 0);
    assert_false(reg_param_find(u.params, u.params_len, "l", &v, &vl));
    t = "sip:[2001:db8::1]";
    assert_int_equal(reg_uri_parse(t, strlen(t), &u), 0);
    assert_int_equal(u.user_len, 0);
    assert_int_equal(u.host_len, 11);
    assert_int_equal(u.port, 0);
    static const char *const bad[] = {"tel:+4420", "sip:", "sip:@host", "sip:a@", "sip:a@h:0", "sip:a@h:99999",
                                      "sip:a@h:x", "sip:a@[::1", "http://x", "sip:a@h o"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (reg_uri_parse(bad[i], strlen(bad[i]), &u) == 0)
            fail_msg("'%s' was accepted", bad[i]);
}

static int same(const char *a, const char *b)
{
    return reg_uri_same(a, strlen(a), b, strlen(b));
}

static void test_uri_comparison(void **state)
{
    (void)state;
    assert_true(same("sip:1001@192.0.2.1:5060", "SIP:1001@192.0.2.1:5060"));
    assert_true(same("sip:1001@Host.example", "sip:1001@host.EXAMPLE"));
    assert_true(same("sip:1001@h;ob;lr", "sip:1001@h")); /* parameters that do not count */
    assert_true(same("sip:1001@h;transport=TCP", "sip:1001@h;transport=tcp"));
    assert_false(same("sip:1001@h", "sip:1001@h:5060")); /* absent port is not 5060 (19.1.4) */
    assert_false(same("sip:1001@h", "sip:1002@h"));
    assert_false(same("sip:ALICE@h", "sip:alice@h")); /* users are case-sensitive */
    assert_false(same("sip:1001@h;transport=tcp", "sip:1001@h"));
    assert_false(same("sip:1001@h", "sips:1001@h"));
    assert_true(same("urn:x", "urn:x")); /* not SIP: identical text only */
    assert_false(same("urn:x", "urn:y"));
}

static void test_contact_lists(void **state)
{
    (void)state;
    reg_contact_t c[4];
    size_t n = 0;
    int star = 0;
    const char *v = "\"A, B\" <sip:a@192.0.2.1:5060>;expires=120;q=0.5, sip:b@192.0.2.2;q=1, <sip:c@h;lr>;q=0";
    assert_int_equal(reg_contact_parse(v, strlen(v), c, 4, &n, &star), 0);
    assert_int_equal(n, 3);
    assert_false(star);
    assert_int_equal(c[0].uri_len, strlen("sip:a@192.0.2.1:5060"));
    assert_int_equal(c[0].expires, 120);
    assert_int_equal(c[0].q, 500);
    assert_int_equal(c[1].uri_len, strlen("sip:b@192.0.2.2"));
    assert_int_equal(c[1].expires, -1);
    assert_int_equal(c[1].q, 1000);
    assert_int_equal(c[2].q, 0);
    /* a second header appends */
    v = "<sip:d@h>;expires=99999999999";
    assert_int_equal(reg_contact_parse(v, strlen(v), c, 4, &n, &star), 0);
    assert_int_equal(n, 4);
    assert_int_equal(c[3].expires, 4294967295LL); /* capped, not wrapped */
    /* more than fit */
    assert_int_equal(reg_contact_parse("<sip:e@h>", 9, c, 4, &n, &star), -1);
    n = 0;
    assert_int_equal(reg_contact_parse(" * ", 3, c, 4, &n, &star), 0);
    assert_true(star);
    assert_int_equal(n, 0);
    static const char *const bad[] = {"<sip:a@h>;q=1.5", "<sip:a@h>;q=0.1234", "<sip:a@h>;q=x", "<sip:a@h>;q=",
                                      "<sip:a@h>;expires=-1", "<sip:a@h>;expires=12a", "<sip:a@h", "\"x <sip:a@h>",
                                      "<sip:a@h>,", ",<sip:a@h>", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 0;
        star = 0;
        if (reg_contact_parse(bad[i], strlen(bad[i]), c, 4, &n, &star) == 0 && !star)
            fail_msg("'%s' was accepted", bad[i]);
    }
}

static void test_via_and_nat(void **state)
{
    (void)state;
    const char *host;
    size_t hl;
    unsigned port;
    assert_int_equal(reg_via_sent_by("SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK1;rport", &host, &hl, &port), 0);
    assert_int_equal(hl, 12);
    assert_memory_equal(host, "192.168.1.20", 12);
    assert_int_equal(port, 5062);
    assert_int_equal(reg_via_sent_by("SIP / 2.0 / TCP [2001:db8::9];branch=x", &host, &hl, &port), 0);
    assert_memory_equal(host, "2001:db8::9", hl);
    assert_int_equal(port, 0);
    assert_int_equal(reg_via_sent_by("SIP/2.0/UDP", &host, &hl, &port), -1);
    assert_int_equal(reg_via_sent_by("SIP/2.0 192.0.2.1", &host, &hl, &port), -1);
    assert_int_equal(reg_via_sent_by("SIP/2.0/UDP h:0", &host, &hl, &port), -1);
    assert_int_equal(reg_via_sent_by(NULL, &host, &hl, &port), -1);

    const char *contact = "sip:1001@192.0.2.1:5060";
    size_t cl = strlen(contact);
    /* the same address everywhere: not behind NAT */
    assert_false(reg_behind_nat("SIP/2.0/UDP 192.0.2.1:5060;rport", contact, cl, "192.0.2.1", 5060, 1));
    assert_false(reg_behind_nat("SIP/2.0/UDP 192.0.2.1;rport", contact, cl, "192.0.2.1", 5060, 1)); /* 5060 implied */
    /* a private Via address, or another port (RFC 3581's case) */
    assert_true(reg_behind_nat("SIP/2.0/UDP 10.0.0.5:5060", contact, cl, "192.0.2.1", 5060, 1));
    assert_true(reg_behind_nat("SIP/2.0/UDP 192.0.2.1:5060", contact, cl, "192.0.2.1", 40112, 1));
    /* over TCP the source port is the connection's: ports do not count */
    assert_false(reg_behind_nat("SIP/2.0/TCP 192.0.2.1:5060", contact, cl, "192.0.2.1", 40112, 0));
    /* the contact's IP differs from the source (the Via was rewritten by an ALG) */
    const char *private_contact = "sip:1001@10.0.0.5:5060";
    assert_true(reg_behind_nat("SIP/2.0/UDP 192.0.2.1:5060", private_contact, strlen(private_contact), "192.0.2.1",
                               5060, 1));
    /* a host name in the contact is not judged; in the Via it counts as different */
    const char *named = "sip:1001@phone.example.com";
    assert_false(reg_behind_nat("SIP/2.0/UDP 192.0.2.1:5060", named, strlen(named), "192.0.2.1", 5060, 1));
    assert_true(reg_behind_nat("SIP/2.0/UDP phone.example.com", contact, cl, "192.0.2.1", 5060, 1));
    /* IPv6 written two ways is one address */
    assert_false(reg_behind_nat("SIP/2.0/UDP [2001:db8:0::1]:5060", NULL, 0, "2001:db8::1", 5060, 1));
    assert_true(reg_behind_nat("garbage", NULL, 0, "192.0.2.1", 5060, 1));
}

static void test_ip_blocks_and_sources(void **state)
{
    (void)state;
    reg_cidr_t c;
    assert_int_equal(reg_cidr_parse("192.0.2.77/24", &c), 0); /* host bits cleared */
    assert_true(reg_cidr_contains(&c, "192.0.2.1"));
    assert_false(reg_cidr_contains(&c, "192.0.3.1"));
    assert_false(reg_cidr_contains(&c, "::ffff:192.0.2.1")); /* another family */
    assert_int_equal(reg_cidr_parse("0.0.0.0/0", &c), 0);
    assert_true(reg_cidr_contains(&c, "203.0.113.1"));
    assert_int_equal(reg_cidr_parse("2001:db8::/33", &c), 0);
    assert_true(reg_cidr_contains(&c, "2001:db8:7fff::1"));
    assert_false(reg_cidr_contains(&c, "2001:db8:8000::1"));
    static const char *const bad[] = {"", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "::1/129", "host",
                                      "1.2.3.4/2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (reg_cidr_parse(bad[i], &c) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    char ip[64];
    unsigned port;
    assert_int_equal(reg_source_split("127.0.0.1:5062", ip, sizeof ip, &port), 0);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(port, 5062);
    assert_int_equal(reg_source_split("[2001:db8::1]:5060", ip, sizeof ip, &port), 0);
    assert_string_equal(ip, "2001:db8::1");
    assert_int_equal(reg_source_split("127.0.0.1", ip, sizeof ip, &port), -1);
    assert_int_equal(reg_source_split("[::1]5060", ip, sizeof ip, &port), -1);
    assert_int_equal(reg_source_split("127.0.0.1:", ip, sizeof ip, &port), -1);
    assert_int_equal(reg_source_split("127.0.0.1:70000", ip, sizeof ip, &port), -1);
    assert_int_equal(reg_source_split("127.0.0.1:1", ip, 4, &port), -1); /* does not fit */
    assert_true(reg_ip_equal("::1", 3, "0:0::1", 6));
    assert_false(reg_ip_equal("127.0.0.1", 9, "127.0.0.2", 9));
    assert_false(reg_ip_equal("host", 4, "host", 4)); /* names are not addresses */
    /* against an address known to be one: the same text, or the same
     * address written otherwise; a name or another address never */
    assert_true(reg_ip_names("192.0.2.1", 9, "192.0.2.1", 9));
    assert_true(reg_ip_names("0:0::1", 6, "::1", 3));
    assert_true(reg_ip_names("2001:DB8::1", 11, "2001:db8::1", 11));
    assert_false(reg_ip_names("192.0.2.10", 10, "192.0.2.1", 9));
    assert_false(reg_ip_names("192.0.2.1", 8, "192.0.2.1", 9)); /* only len bytes are the text */
    assert_false(reg_ip_names("example.com", 11, "192.0.2.1", 9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_uri_parts),
        cmocka_unit_test(test_uri_comparison),
        cmocka_unit_test(test_contact_lists),
        cmocka_unit_test(test_via_and_nat),
        cmocka_unit_test(test_ip_blocks_and_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
