/* sw_fill_origin_addr writes a datagram's source as text by hand (it runs
 * for every message): the text must be exactly what inet_ntop and
 * "%s:%u" give, for IPv4 addresses and ports at every width, and IPv6
 * keeps its brackets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/transport.h"

static void expect_ipv4(uint32_t host_order, uint16_t port)
{
    struct sockaddr_in in4;
    memset(&in4, 0, sizeof in4);
    in4.sin_family = AF_INET;
    in4.sin_addr.s_addr = htonl(host_order);
    in4.sin_port = htons(port);
    char ip[INET_ADDRSTRLEN], text[64];
    inet_ntop(AF_INET, &in4.sin_addr, ip, sizeof ip);
    snprintf(text, sizeof text, "%s:%u", ip, (unsigned)port);

    sw_msg_origin_t o;
    memset(&o, 0x55, sizeof o); /* the terminators must be written, not found */
    sw_fill_origin_addr(&o, (const struct sockaddr *)&in4);
    assert_string_equal(o.src_ip, ip);
    assert_string_equal(o.src_text, text);
    assert_int_equal(o.src_port, port);
    assert_int_equal(o.src_len, sizeof in4);
}

static void test_ipv4_edges(void **state)
{
    (void)state;
    expect_ipv4(0x00000000u, 0);
    expect_ipv4(0xffffffffu, 65535);
    expect_ipv4(0x7f000001u, 5060);
    expect_ipv4(0x0a000a64u, 9);
    expect_ipv4(0xc0a80001u, 10000);
    expect_ipv4(0x01020304u, 99);
    expect_ipv4(0x646464c8u, 100);
}

static void test_ipv4_sweep(void **state)
{
    (void)state;
    /* every octet value in every position, ports of every width */
    static const uint16_t ports[] = {1, 10, 99, 100, 999, 1000, 9999, 10000, 65535};
    for (uint32_t v = 0; v < 256; v++)
        for (int shift = 0; shift < 32; shift += 8)
            expect_ipv4((v << shift) | (0x01010101u & ~(0xffu << shift)), ports[(v + (uint32_t)shift) % 9]);
}

static void test_ipv6_keeps_brackets(void **state)
{
    (void)state;
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    in6.sin6_port = htons(5070);
    sw_msg_origin_t o;
    sw_fill_origin_addr(&o, (const struct sockaddr *)&in6);
    assert_string_equal(o.src_ip, "2001:db8::1");
    assert_string_equal(o.src_text, "[2001:db8::1]:5070");
    assert_int_equal(o.src_port, 5070);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_edges),
        cmocka_unit_test(test_ipv4_sweep),
        cmocka_unit_test(test_ipv6_keeps_brackets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
