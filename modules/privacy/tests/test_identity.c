/* privacy's decision (identity.c) for every setting of PARAMETERS.md
 * section 3: the gateway's privacy, pai and ppi; the mapping's
 * support_privacy; SS_SIP_USER_AGENT_PRIVACY for users; the anonymous From
 * and SS_SIP_E164_DISPLAY_FROM; and the small text helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "identity.h"

static privacy_rules_t rules(privacy_gw_mode_t privacy, privacy_identity_mode_t pai, privacy_identity_mode_t ppi)
{
    privacy_rules_t r = {.user_agent_privacy = PRIVACY_UA_IGNORE, .display_from = PRIVACY_DISPLAY_IGNORE,
                         .privacy = privacy, .pai = pai, .ppi = ppi};
    return r;
}

/* The Privacy value the gateway receives, "" for none. */
static const char *sent_privacy(const privacy_rules_t *r, privacy_source_t src, const char *caller)
{
    privacy_decision_t d;
    privacy_decide(r, src, caller, &d);
    const char *v = privacy_outbound_value(&d, caller);
    return v ? v : "";
}

static void test_defaults_send_nothing(void **state)
{
    (void)state;
    privacy_rules_t r = rules(PRIVACY_GW_NONE, PRIVACY_IDENTITY_NONE, PRIVACY_IDENTITY_NONE);
    for (int src = PRIVACY_SOURCE_MAPPING_TRUSTED; src <= PRIVACY_SOURCE_USER; src++) {
        privacy_decision_t d;
        privacy_decide(&r, (privacy_source_t)src, "id", &d);
        for (int h = 0; h < PRIVACY_HDR_COUNT; h++)
            assert_int_equal(d.send[h], PRIVACY_SEND_NOTHING);
        assert_int_equal(d.from, PRIVACY_FROM_KEEP); /* nothing says id to the gateway */
        assert_null(privacy_outbound_value(&d, "id"));
    }
}

static void test_gateway_privacy_modes(void **state)
{
    (void)state;
    privacy_rules_t none = rules(PRIVACY_GW_NONE, 0, 0), pass = rules(PRIVACY_GW_PASSTHROUGH, 0, 0),
                    id = rules(PRIVACY_GW_ID, 0, 0);
    const privacy_source_t trusted = PRIVACY_SOURCE_MAPPING_TRUSTED;
    assert_string_equal(sent_privacy(&none, trusted, "id"), "");
    assert_string_equal(sent_privacy(&pass, trusted, "id;critical"), "id;critical"); /* unchanged */
    assert_string_equal(sent_privacy(&pass, trusted, "none"), "none");
    assert_string_equal(sent_privacy(&pass, trusted, NULL), "");
    assert_string_equal(sent_privacy(&pass, trusted, ""), "");
    assert_string_equal(sent_privacy(&id, trusted, NULL), "id");
    assert_string_equal(sent_privacy(&id, trusted, "none"), "id"); /* Id adds it whatever the caller said */
    privacy_decision_t d;
    privacy_decide(&id, trusted, NULL, &d);
    assert_int_equal(d.send[PRIVACY_HDR_PRIVACY], PRIVACY_SEND_BUILT);
    privacy_decide(&pass, trusted, "id", &d);
    assert_int_equal(d.send[PRIVACY_HDR_PRIVACY], PRIVACY_SEND_CALLERS);
}

static void test_mapping_support_privacy(void **state)
{
    (void)state;
    privacy_rules_t pass = rules(PRIVACY_GW_PASSTHROUGH, 0, 0);
    assert_string_equal(sent_privacy(&pass, PRIVACY_SOURCE_MAPPING_TRUSTED, "id"), "id");
    /* Off: the mapping's Privacy is stripped, and no anonymous From either */
    assert_string_equal(sent_privacy(&pass, PRIVACY_SOURCE_MAPPING_UNTRUSTED, "id"), "");
    privacy_decision_t d;
    privacy_decide(&pass, PRIVACY_SOURCE_MAPPING_UNTRUSTED, "id", &d);
    assert_int_equal(d.from, PRIVACY_FROM_KEEP);
    /* the gateway's Id does not depend on the caller's trust */
    privacy_rules_t id = rules(PRIVACY_GW_ID, 0, 0);
    assert_string_equal(sent_privacy(&id, PRIVACY_SOURCE_MAPPING_UNTRUSTED, NULL), "id");
}

static void test_user_agent_privacy_is_the_users_default(void **state)
{
    (void)state;
    privacy_rules_t pass = rules(PRIVACY_GW_PASSTHROUGH, 0, 0);
    const privacy_source_t user = PRIVACY_SOURCE_USER;
    assert_string_equal(sent_privacy(&pass, user, NULL), ""); /* Ignore */
    pass.user_agent_privacy = PRIVACY_UA_ID;
    assert_string_equal(sent_privacy(&pass, user, NULL), "id");
    assert_string_equal(sent_privacy(&pass, user, "none"), "none"); /* the user's own header wins */
    pass.user_agent_privacy = PRIVACY_UA_NONE;
    assert_string_equal(sent_privacy(&pass, user, NULL), "none");
    privacy_decision_t d;
    privacy_decide(&pass, user, NULL, &d);
    assert_int_equal(d.send[PRIVACY_HDR_PRIVACY], PRIVACY_SEND_BUILT);
    /* not for mappings, and not through a gateway set to None */
    assert_string_equal(sent_privacy(&pass, PRIVACY_SOURCE_MAPPING_TRUSTED, NULL), "");
    privacy_rules_t none = rules(PRIVACY_GW_NONE, 0, 0);
    none.user_agent_privacy = PRIVACY_UA_ID;
    assert_string_equal(sent_privacy(&none, user, NULL), "");
}

static void test_anonymous_from_when_identity_hidden(void **state)
{
    (void)state;
    privacy_rules_t pass = rules(PRIVACY_GW_PASSTHROUGH, PRIVACY_IDENTITY_PASSTHROUGH, 0);
    pass.display_from = PRIVACY_DISPLAY_E164; /* an anonymous From keeps "Anonymous" */
    const char *hiding[] = {"id", "header", "user", "ID", "none; id", "header;critical", " user , session"};
    for (size_t i = 0; i < sizeof hiding / sizeof hiding[0]; i++) {
        privacy_decision_t d;
        privacy_decide(&pass, PRIVACY_SOURCE_MAPPING_TRUSTED, hiding[i], &d);
        if (d.from != PRIVACY_FROM_ANONYMOUS)
            fail_msg("Privacy: %s should make the From anonymous", hiding[i]);
        assert_int_equal(d.send[PRIVACY_HDR_PAI], PRIVACY_SEND_CALLERS); /* identity only in PAI */
    }
    const char *showing[] = {"none", "session", "critical", "identity", "idx", ""};
    for (size_t i = 0; i < sizeof showing / sizeof showing[0]; i++) {
        privacy_decision_t d;
        privacy_decide(&pass, PRIVACY_SOURCE_MAPPING_TRUSTED, showing[i], &d);
        if (d.from == PRIVACY_FROM_ANONYMOUS)
            fail_msg("Privacy: %s should not make the From anonymous", showing[i]);
    }
    privacy_rules_t id = rules(PRIVACY_GW_ID, 0, 0);
    privacy_decision_t d;
    privacy_decide(&id, PRIVACY_SOURCE_MAPPING_UNTRUSTED, NULL, &d);
    assert_int_equal(d.from, PRIVACY_FROM_ANONYMOUS);
}

static void test_identity_headers(void **state)
{
    (void)state;
    const privacy_identity_mode_t modes[] = {PRIVACY_IDENTITY_NONE, PRIVACY_IDENTITY_PASSTHROUGH,
                                             PRIVACY_IDENTITY_CALLER};
    const privacy_send_t want[] = {PRIVACY_SEND_NOTHING, PRIVACY_SEND_CALLERS, PRIVACY_SEND_BUILT};
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++) {
            privacy_rules_t r = rules(PRIVACY_GW_NONE, modes[a], modes[b]);
            privacy_decision_t d;
            privacy_decide(&r, PRIVACY_SOURCE_MAPPING_UNTRUSTED, "id", &d);
            assert_int_equal(d.send[PRIVACY_HDR_PAI], want[a]);
            assert_int_equal(d.send[PRIVACY_HDR_PPI], want[b]);
        }
}

static void test_display_from(void **state)
{
    (void)state;
    privacy_rules_t r = rules(PRIVACY_GW_NONE, 0, 0);
    privacy_decision_t d;
    privacy_decide(&r, PRIVACY_SOURCE_USER, NULL, &d);
    assert_int_equal(d.from, PRIVACY_FROM_KEEP);
    r.display_from = PRIVACY_DISPLAY_E164;
    privacy_decide(&r, PRIVACY_SOURCE_USER, NULL, &d);
    assert_int_equal(d.from, PRIVACY_FROM_DISPLAY_NUMBER);
    assert_true(d.display_after_dial_plan);
    r.display_from = PRIVACY_DISPLAY_CALLER;
    privacy_decide(&r, PRIVACY_SOURCE_USER, NULL, &d);
    assert_int_equal(d.from, PRIVACY_FROM_DISPLAY_NUMBER);
    assert_false(d.display_after_dial_plan);
}

static void test_hides_identity_parsing(void **state)
{
    (void)state;
    assert_false(privacy_value_hides_identity(NULL));
    assert_false(privacy_value_hides_identity(""));
    assert_false(privacy_value_hides_identity(";;, ;"));
    assert_true(privacy_value_hides_identity("critical;id"));
    assert_true(privacy_value_hides_identity("Header"));
    assert_false(privacy_value_hides_identity("ids;userx;headers"));
}

static void test_identity_uri_and_host(void **state)
{
    (void)state;
    char out[64];
    assert_true(privacy_identity_uri("+442079460000", "sw.example", out, sizeof out));
    assert_string_equal(out, "<sip:+442079460000@sw.example>");
    assert_false(privacy_identity_uri("", "sw.example", out, sizeof out));
    assert_string_equal(out, "");
    assert_false(privacy_identity_uri("1", "", out, sizeof out));
    assert_false(privacy_identity_uri("12345678901234567890", "a-very-long-host-name.example.com", out, 40));
    assert_string_equal(out, "");
    assert_true(privacy_host_of("127.0.0.1:5060", out, sizeof out));
    assert_string_equal(out, "127.0.0.1");
    assert_true(privacy_host_of("[2001:db8::1]:5060", out, sizeof out));
    assert_string_equal(out, "[2001:db8::1]");
    assert_true(privacy_host_of("sw.example", out, sizeof out));
    assert_string_equal(out, "sw.example");
    assert_false(privacy_host_of("[2001:db8::1", out, sizeof out));
    assert_false(privacy_host_of(":5060", out, sizeof out));
    assert_false(privacy_host_of("abcdef:1", out, 4));
    assert_false(privacy_host_of(NULL, out, sizeof out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_send_nothing),
        cmocka_unit_test(test_gateway_privacy_modes),
        cmocka_unit_test(test_mapping_support_privacy),
        cmocka_unit_test(test_user_agent_privacy_is_the_users_default),
        cmocka_unit_test(test_anonymous_from_when_identity_hidden),
        cmocka_unit_test(test_identity_headers),
        cmocka_unit_test(test_display_from),
        cmocka_unit_test(test_hides_identity_parsing),
        cmocka_unit_test(test_identity_uri_and_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
