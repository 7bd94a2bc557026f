/* Requests outside calls (core/call/uac.c): the destination syntax the
 * module API takes, and the refusals that need no network. */
#include "config.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "call/uac.h"

static void test_numeric_destinations(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    assert_int_equal(sw_uac_parse_dest("127.0.0.1:5060", &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5060);
    assert_int_equal(sw_uac_parse_dest("[::1]:65535", &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 65535);
}

static void test_refused_destinations(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const char *bad[] = {NULL, "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:50x",
                         "carrier.example:5060", "::1:5060", "[::1]5060", "[::1:5060", "1.2.3.4:5060:1",
                         "[0123456789012345678901234567890123456789012345678901234567890123]:5060"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sw_uac_parse_dest(bad[i], &ss, &len), -1);
}

/* Calls and their ACK/CANCEL are the call engine's; a bad destination or
 * transport is refused before anything is built. */
static void test_request_send_refusals(void **state)
{
    (void)state;
    const char *hdrs = "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n";
    assert_int_equal(sw_uac_request_send(NULL, "INVITE", "sip:a@127.0.0.1", hdrs, NULL, NULL, 0,
                                         SW_TRANSPORT_UDP, "127.0.0.1:5060", 0, NULL, NULL), -1);
    assert_int_equal(sw_uac_request_send(NULL, "ACK", "sip:a@127.0.0.1", hdrs, NULL, NULL, 0, SW_TRANSPORT_UDP,
                                         "127.0.0.1:5060", 0, NULL, NULL), -1);
    assert_int_equal(sw_uac_request_send(NULL, "OPTIONS", "sip:a@127.0.0.1", hdrs, NULL, NULL, 0,
                                         SW_TRANSPORT_TLS, "127.0.0.1:5060", 0, NULL, NULL), -1);
    assert_int_equal(sw_uac_request_send(NULL, "OPTIONS", "sip:a@127.0.0.1", hdrs, NULL, NULL, 0,
                                         SW_TRANSPORT_UDP, "nowhere:5060", 0, NULL, NULL), -1);
    /* no listening socket configured in a unit test: nothing to send from */
    assert_int_equal(sw_uac_request_send(NULL, "OPTIONS", "sip:a@127.0.0.1", hdrs, NULL, NULL, 0,
                                         SW_TRANSPORT_UDP, "127.0.0.1:5060", 0, NULL, NULL), -1);
    char buf[64];
    assert_int_equal(sw_uac_local_address(SW_TRANSPORT_UDP, buf, sizeof buf), -1);
    /* raw bytes: a numeric destination, something to send, UDP or TCP */
    assert_int_equal(sw_uac_send_raw(SW_TRANSPORT_UDP, 0, "host:5060", "HELLO", 5), -1);
    assert_int_equal(sw_uac_send_raw(SW_TRANSPORT_UDP, 0, "127.0.0.1:5060", "", 0), -1);
    assert_int_equal(sw_uac_send_raw(SW_TRANSPORT_TLS, 0, "127.0.0.1:5060", "HELLO", 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_destinations),
        cmocka_unit_test(test_refused_destinations),
        cmocka_unit_test(test_request_send_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
