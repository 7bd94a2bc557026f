/* The location service: RFC 3261 10.3 processing (add, refresh, remove,
 * "*", Call-ID/CSeq ordering, all-or-nothing), SS_ENDPOINT_REGISTER_REPLACE
 * on and off, the per-AOR contact limit, expiry through the heap (in order,
 * at scale), the binding a call goes to, restore from disk, and the events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "bindings.h"

typedef struct events {
    int added, refreshed, removed, expired;
    char last_contact[128];
} events_t;

static void record(const reg_binding_t *b, reg_change_t kind, void *ud)
{
    events_t *e = ud;
    switch (kind) {
    case REG_CHANGE_ADDED: e->added++; break;
    case REG_CHANGE_REFRESHED: e->refreshed++; break;
    case REG_CHANGE_REMOVED: e->removed++; break;
    case REG_CHANGE_EXPIRED: e->expired++; break;
    }
    snprintf(e->last_contact, sizeof e->last_contact, "%s", b->contact);
}

/* One REGISTER of `user` with the given contacts (NULL-terminated
 * "uri|expires|q" strings) at now_ms. */
static reg_update_result_t reg(reg_store_t *s, events_t *ev, const char *user, const char *call_id, uint32_t cseq,
                               int replace, uint64_t now_ms, const char *const *contacts)
{
    reg_contact_req_t c[8];
    char uris[8][96];
    size_t n = 0;
    for (; contacts && contacts[n]; n++) {
        unsigned expires = 0;
        int q = -1;
        sscanf(contacts[n], "%95[^|]|%u|%d", uris[n], &expires, &q);
        c[n] = (reg_contact_req_t){.uri = uris[n], .uri_len = strlen(uris[n]), .expires_s = expires, .q = q};
    }
    char aor[128];
    snprintf(aor, sizeof aor, "sip:%s@example.com", user);
    reg_register_t r = {.user = user, .aor = aor, .call_id = call_id, .cseq = cseq, .source = "192.0.2.1:5060",
                        .transport = 1, .socket_id = 7, .behind_nat = 0, .user_agent = "test", .replace = replace,
                        .max_contacts = 3, .now_ms = now_ms, .now_wall_ms = 1000000 + (int64_t)now_ms,
                        .contacts = c, .n_contacts = n};
    return reg_store_register(s, &r, record, ev);
}

#define C(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_add_refresh_remove(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_int_equal(reg(s, &ev, "1001", "cid1", 1, 1, 0, C("sip:1001@192.0.2.1:5060|300|500")), REG_UPDATE_OK);
    assert_int_equal(ev.added, 1);
    const reg_aor_t *a = reg_store_find(s, "1001");
    assert_non_null(a);
    assert_int_equal(a->n, 1);
    assert_string_equal(a->aor, "sip:1001@example.com");
    const reg_binding_t *b = a->bindings[0];
    assert_string_equal(b->contact, "sip:1001@192.0.2.1:5060");
    assert_string_equal(b->call_id, "cid1");
    assert_string_equal(b->source, "192.0.2.1:5060");
    assert_string_equal(b->user_agent, "test");
    assert_int_equal(b->q, 500);
    assert_int_equal(b->expires_s, 300);
    assert_int_equal(reg_binding_seconds_left(b, 1000), 299);
    uint64_t id = b->id;
    /* refresh: same binding (an equivalent URI spelt differently keeps its first spelling) */
    assert_int_equal(reg(s, &ev, "1001", "cid1", 2, 1, 10000, C("SIP:1001@192.0.2.1:5060|600|-1")), REG_UPDATE_OK);
    assert_int_equal(ev.refreshed, 1);
    b = reg_store_find(s, "1001")->bindings[0];
    assert_int_equal(b->id, id);
    assert_string_equal(b->contact, "sip:1001@192.0.2.1:5060");
    assert_int_equal(b->q, -1);
    assert_int_equal(reg_binding_seconds_left(b, 10000), 600);
    assert_int_equal(reg_store_count(s), 1);
    /* expires 0 removes it, and the AOR with it */
    assert_int_equal(reg(s, &ev, "1001", "cid1", 3, 1, 20000, C("sip:1001@192.0.2.1:5060|0|-1")), REG_UPDATE_OK);
    assert_int_equal(ev.removed, 1);
    assert_null(reg_store_find(s, "1001"));
    assert_int_equal(reg_store_count(s), 0);
    assert_int_equal(reg_store_aor_count(s), 0);
    /* removing what is not bound changes nothing */
    assert_int_equal(reg(s, &ev, "1001", "cid1", 4, 1, 20000, C("sip:1001@192.0.2.1:5060|0|-1")), REG_UPDATE_OK);
    assert_int_equal(ev.removed, 1);
    reg_store_free(s);
}

static void test_cseq_order_and_all_or_nothing(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_int_equal(reg(s, &ev, "1001", "cid1", 5, 1, 0, C("sip:a@h|300|-1")), REG_UPDATE_OK);
    /* same Call-ID, CSeq not higher: 500, and the other contact of the request is not added either */
    assert_int_equal(reg(s, &ev, "1001", "cid1", 5, 1, 0, C("sip:b@h|300|-1", "sip:a@h|300|-1")),
                     REG_UPDATE_OUT_OF_ORDER);
    assert_int_equal(reg(s, &ev, "1001", "cid1", 4, 1, 0, C("sip:a@h|300|-1")), REG_UPDATE_OUT_OF_ORDER);
    assert_int_equal(reg_store_find(s, "1001")->n, 1);
    assert_int_equal(ev.added, 1);
    /* another Call-ID may update it whatever its CSeq (RFC 3261 10.3 step 7) */
    assert_int_equal(reg(s, &ev, "1001", "cid2", 1, 1, 0, C("sip:a@h|300|-1")), REG_UPDATE_OK);
    assert_string_equal(reg_store_find(s, "1001")->bindings[0]->call_id, "cid2");
    reg_store_free(s);
}

static void test_star_removal(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_int_equal(reg(s, &ev, "1001", "cid1", 1, 1, 0, C("sip:a@h|300|-1", "sip:b@h|300|-1")), REG_UPDATE_OK);
    reg_register_t r = {.user = "1001", .aor = "sip:1001@x", .call_id = "cid1", .cseq = 1, .remove_all = 1};
    assert_int_equal(reg_store_register(s, &r, record, &ev), REG_UPDATE_OUT_OF_ORDER); /* same CSeq */
    r.cseq = 2;
    assert_int_equal(reg_store_register(s, &r, record, &ev), REG_UPDATE_OK);
    assert_int_equal(ev.removed, 2);
    assert_null(reg_store_find(s, "1001"));
    /* "*" with nothing bound is fine */
    assert_int_equal(reg_store_register(s, &r, record, &ev), REG_UPDATE_OK);
    reg_store_free(s);
}

static void test_replace_on_and_off(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_int_equal(reg(s, &ev, "1001", "phone-a", 1, 0, 0, C("sip:1001@10.0.0.1|300|-1")), REG_UPDATE_OK);
    /* Off: another device (other Call-ID and contact) is refused while the first is bound */
    assert_int_equal(reg(s, &ev, "1001", "phone-b", 1, 0, 0, C("sip:1001@10.0.0.2|300|-1")),
                     REG_UPDATE_OTHER_DEVICE);
    /* ... but the same contact from a rebooted phone (new Call-ID) is the same device */
    assert_int_equal(reg(s, &ev, "1001", "phone-a2", 1, 0, 0, C("sip:1001@10.0.0.1|300|-1")), REG_UPDATE_OK);
    /* ... and unregistering is always allowed */
    assert_int_equal(reg(s, &ev, "1001", "phone-b", 2, 0, 0, C("sip:1001@10.0.0.2|0|-1")), REG_UPDATE_OK);
    assert_int_equal(reg_store_find(s, "1001")->n, 1);
    /* On: the new device's registration replaces the old one's */
    ev = (events_t){0};
    assert_int_equal(reg(s, &ev, "1001", "phone-b", 3, 1, 0, C("sip:1001@10.0.0.2|300|-1")), REG_UPDATE_OK);
    assert_int_equal(ev.removed, 1);
    assert_int_equal(ev.added, 1);
    const reg_aor_t *a = reg_store_find(s, "1001");
    assert_int_equal(a->n, 1);
    assert_string_equal(a->bindings[0]->contact, "sip:1001@10.0.0.2");
    /* one device may bind several contacts */
    assert_int_equal(reg(s, &ev, "1001", "phone-b", 4, 1, 0, C("sip:1001@10.0.0.2|300|-1", "sip:x@10.0.0.2|300|-1")),
                     REG_UPDATE_OK);
    assert_int_equal(reg_store_find(s, "1001")->n, 2);
    reg_store_free(s);
}

static void test_contact_limit(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_int_equal(reg(s, &ev, "1001", "c", 1, 1, 0, C("sip:a@h|60|-1", "sip:b@h|60|-1", "sip:c@h|60|-1")),
                     REG_UPDATE_OK);
    assert_int_equal(reg(s, &ev, "1001", "c", 2, 1, 0, C("sip:d@h|60|-1")), REG_UPDATE_TOO_MANY);
    /* a request that frees a slot while taking one is fine; refreshing is always fine */
    assert_int_equal(reg(s, &ev, "1001", "c", 3, 1, 0, C("sip:a@h|0|-1", "sip:d@h|60|-1")), REG_UPDATE_OK);
    assert_int_equal(reg(s, &ev, "1001", "c", 4, 1, 0, C("sip:b@h|60|-1", "sip:c@h|60|-1", "sip:d@h|60|-1")),
                     REG_UPDATE_OK);
    assert_int_equal(reg_store_count(s), 3);
    /* a URI named twice is one binding */
    reg_store_t *t = reg_store_new();
    assert_int_equal(reg(t, &ev, "1002", "c", 1, 1, 0, C("sip:a@h|60|-1", "sip:A@H|60|-1")), REG_UPDATE_OK);
    assert_int_equal(reg_store_count(t), 2); /* users are case-sensitive: two URIs */
    assert_int_equal(reg(t, &ev, "1003", "c", 1, 1, 0, C("sip:a@h|60|-1", "sip:a@H|60|-1", "sip:b@h|60|-1",
                                                         "sip:c@h|60|-1")),
                     REG_UPDATE_OK); /* hosts ignore case: a@h and a@H are one binding, three in all */
    assert_int_equal(reg_store_find(t, "1003")->n, 3);
    reg_store_free(t);
    reg_store_free(s);
}

/* An AOR keeps its first binding in itself and moves to an array with the
 * second: every way of growing and shrinking keeps the right bindings, and
 * a refresh from the same device keeps the binding's text where it is. */
static void test_aor_slots_and_refreshed_text(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_int_equal(reg(s, &ev, "1001", "c", 1, 1, 0, C("sip:a@h|60|-1")), REG_UPDATE_OK);
    const char *contact = reg_store_find(s, "1001")->bindings[0]->contact;
    assert_int_equal(reg(s, &ev, "1001", "c", 2, 1, 0, C("sip:a@h|90|-1")), REG_UPDATE_OK);
    assert_ptr_equal(reg_store_find(s, "1001")->bindings[0]->contact, contact); /* same device: text kept */
    assert_int_equal(reg_store_find(s, "1001")->bindings[0]->expires_s, 90);
    assert_int_equal(reg(s, &ev, "1001", "c2", 1, 1, 0, C("sip:a@h|60|-1")), REG_UPDATE_OK); /* rebooted */
    assert_string_equal(reg_store_find(s, "1001")->bindings[0]->call_id, "c2");
    assert_string_equal(reg_store_find(s, "1001")->bindings[0]->contact, "sip:a@h");
    assert_int_equal(reg(s, &ev, "1001", "c2", 2, 1, 0, C("sip:b@h|60|-1", "sip:c@h|60|-1")), REG_UPDATE_OK);
    const reg_aor_t *a = reg_store_find(s, "1001");
    assert_int_equal(a->n, 3);
    assert_string_equal(a->bindings[0]->contact, "sip:a@h");
    assert_string_equal(a->bindings[1]->contact, "sip:b@h");
    assert_string_equal(a->bindings[2]->contact, "sip:c@h");
    assert_string_equal(a->user, "1001");
    /* the middle one goes, then the first: the last one is left, then none */
    assert_int_equal(reg(s, &ev, "1001", "c2", 3, 1, 0, C("sip:b@h|0|-1")), REG_UPDATE_OK);
    assert_int_equal(reg(s, &ev, "1001", "c2", 4, 1, 0, C("sip:a@h|0|-1")), REG_UPDATE_OK);
    a = reg_store_find(s, "1001");
    assert_int_equal(a->n, 1);
    assert_string_equal(a->bindings[0]->contact, "sip:c@h");
    assert_int_equal(reg(s, &ev, "1001", "c2", 5, 1, 0, C("sip:d@h|60|-1")), REG_UPDATE_OK);
    assert_int_equal(reg_store_find(s, "1001")->n, 2);
    assert_int_equal(reg_store_remove_user(s, "1001", record, &ev), 2);
    assert_null(reg_store_find(s, "1001"));
    /* many accounts, one binding each, each found under its own name */
    char user[16], uri[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(user, sizeof user, "u%d", i);
        snprintf(uri, sizeof uri, "sip:u%d@h|60|%d", i, i % 1001);
        assert_int_equal(reg(s, &ev, user, "c", 1, 1, 0, C(uri)), REG_UPDATE_OK);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(user, sizeof user, "u%d", i);
        a = reg_store_find(s, user);
        assert_non_null(a);
        assert_string_equal(a->user, user);
        assert_int_equal(a->bindings[0]->q, i % 1001);
    }
    assert_int_equal(reg_store_aor_count(s), 3000);
    reg_store_free(s);
}

static void test_expiry_in_order_at_scale(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    enum { N = 20000 };
    char user[16], uri[64], spec[80];
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof user, "u%d", i);
        /* expiries spread pseudo-randomly over 1..3600 s */
        unsigned expires = 1 + (unsigned)((i * 7919u) % 3600u);
        snprintf(uri, sizeof uri, "sip:%s@192.0.2.1", user);
        snprintf(spec, sizeof spec, "%s|%u|-1", uri, expires);
        assert_int_equal(reg(s, &ev, user, "c", 1, 1, 0, C(spec)), REG_UPDATE_OK);
    }
    assert_int_equal(reg_store_count(s), N);
    /* refresh a quarter of them to the far end, which moves them in the heap */
    for (int i = 0; i < N; i += 4) {
        snprintf(user, sizeof user, "u%d", i);
        snprintf(spec, sizeof spec, "sip:%s@192.0.2.1|7200|-1", user);
        assert_int_equal(reg(s, &ev, user, "c", 2, 1, 0, C(spec)), REG_UPDATE_OK);
    }
    size_t expected_left = N;
    for (uint64_t t = 0; t <= 3600; t += 100) {
        size_t gone = reg_store_expire(s, t * 1000, record, &ev);
        expected_left -= gone;
        assert_int_equal(reg_store_count(s), expected_left);
        /* whatever is left expires after t */
        for (int i = 1; i < N; i += 997) {
            snprintf(user, sizeof user, "u%d", i);
            const reg_aor_t *a = reg_store_find(s, user);
            if (a)
                assert_true(a->bindings[0]->expires_at_ms > t * 1000);
        }
    }
    assert_int_equal(reg_store_count(s), N / 4); /* only the refreshed ones */
    assert_int_equal(ev.expired, N - N / 4);
    assert_int_equal(reg_store_expire(s, 7200 * 1000, record, &ev), N / 4);
    assert_int_equal(reg_store_count(s), 0);
    assert_int_equal(reg_store_aor_count(s), 0);
    reg_store_free(s);
}

static void test_best_binding_and_lookups(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    events_t ev = {0};
    assert_null(reg_store_best(s, "1001"));
    assert_int_equal(reg(s, &ev, "1001", "c", 1, 1, 0, C("sip:low@h|300|100", "sip:high@h|300|900")), REG_UPDATE_OK);
    assert_string_equal(reg_store_best(s, "1001")->contact, "sip:high@h");
    /* no q counts as 1.0; on a tie the latest refresh wins */
    assert_int_equal(reg(s, &ev, "1001", "c", 2, 1, 5, C("sip:none@h|300|-1")), REG_UPDATE_OK);
    assert_string_equal(reg_store_best(s, "1001")->contact, "sip:none@h");
    assert_int_equal(reg(s, &ev, "1001", "c", 3, 1, 9, C("sip:high@h|300|1000")), REG_UPDATE_OK);
    assert_string_equal(reg_store_best(s, "1001")->contact, "sip:high@h");
    const reg_binding_t *b = reg_store_best(s, "1001");
    assert_ptr_equal(reg_store_by_id(s, b->id), b);
    assert_null(reg_store_by_id(s, 999999));
    uint64_t id = b->id;
    assert_int_equal(reg_store_remove_id(s, id, record, &ev), 1);
    assert_int_equal(reg_store_remove_id(s, id, record, &ev), 0);
    /* by contact (what another module names through the bindings API) */
    const reg_binding_t *low = reg_store_find_contact(s, "1001", "SIP:low@H");
    assert_non_null(low);
    assert_string_equal(low->contact, "sip:low@h");
    assert_null(reg_store_find_contact(s, "1001", "sip:nobody@h"));
    assert_null(reg_store_find_contact(s, "1002", "sip:low@h"));
    assert_null(reg_store_find_contact(s, "1001", NULL));
    int removed = ev.removed;
    reg_store_remove(s, low, record, &ev);
    assert_int_equal(ev.removed, removed + 1);
    assert_string_equal(ev.last_contact, "sip:low@h");
    assert_int_equal(reg(s, &ev, "1001", "c", 4, 1, 9, C("sip:low@h|300|100")), REG_UPDATE_OK);
    assert_int_equal(reg_store_remove_user(s, "1001", record, &ev), 2);
    assert_int_equal(reg_store_remove_user(s, "1001", record, &ev), 0);
    assert_int_equal(reg_store_count(s), 0);
    reg_store_free(s);
}

static void test_restore_and_nat_count(void **state)
{
    (void)state;
    reg_store_t *s = reg_store_new();
    reg_restore_t r = {.user = "1001", .aor = "sip:1001@x", .contact = "sip:1001@10.0.0.5:5060", .call_id = "c",
                       .source = "203.0.113.7:40112", .user_agent = "ua", .cseq = 9, .q = -1, .transport = 1,
                       .behind_nat = 1, .socket_id = 3, .expires_s = 120, .registered_wall_ms = 1,
                       .updated_wall_ms = 2};
    const reg_binding_t *b = reg_store_restore(s, &r, 5000);
    assert_non_null(b);
    assert_int_equal(b->expires_at_ms, 125000);
    assert_int_equal(b->cseq, 9);
    assert_int_equal(reg_store_nat_count(s), 1);
    assert_null(reg_store_restore(s, &r, 5000)); /* the same contact twice: kept once */
    r.expires_s = 0;
    r.contact = "sip:other@h";
    assert_null(reg_store_restore(s, &r, 5000)); /* nothing left of it */
    /* a later REGISTER (higher CSeq) from the same device refreshes it and may leave NAT */
    events_t ev = {0};
    reg_contact_req_t c = {.uri = "sip:1001@10.0.0.5:5060", .uri_len = 22, .expires_s = 60, .q = -1};
    reg_register_t rr = {.user = "1001", .aor = "sip:1001@x", .call_id = "c", .cseq = 10, .source = "10.0.0.5:5060",
                         .transport = 1, .behind_nat = 0, .replace = 1, .max_contacts = 3, .now_ms = 6000,
                         .contacts = &c, .n_contacts = 1};
    assert_int_equal(reg_store_register(s, &rr, record, &ev), REG_UPDATE_OK);
    assert_int_equal(ev.refreshed, 1);
    assert_int_equal(reg_store_nat_count(s), 0);
    assert_int_equal(reg_store_expire(s, 66000, record, &ev), 1);
    assert_int_equal(reg_store_nat_count(s), 0);
    reg_store_free(s);

    /* a restored binding keeps its id (its row on disk), and new ones are
     * numbered above every id restored, whatever the order they came in */
    s = reg_store_new();
    r = (reg_restore_t){.id = 40, .user = "1001", .contact = "sip:a@h", .expires_s = 60};
    assert_int_equal(reg_store_restore(s, &r, 0)->id, 40);
    r = (reg_restore_t){.id = 7, .user = "1002", .contact = "sip:b@h", .expires_s = 60};
    assert_int_equal(reg_store_restore(s, &r, 0)->id, 7);
    c = (reg_contact_req_t){.uri = "sip:c@h", .uri_len = 7, .expires_s = 60, .q = -1};
    rr = (reg_register_t){.user = "1003", .call_id = "c3", .cseq = 1, .replace = 1, .max_contacts = 3,
                          .contacts = &c, .n_contacts = 1};
    assert_int_equal(reg_store_register(s, &rr, NULL, NULL), REG_UPDATE_OK);
    assert_int_equal(reg_store_find(s, "1003")->bindings[0]->id, 41);
    reg_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_refresh_remove),
        cmocka_unit_test(test_cseq_order_and_all_or_nothing),
        cmocka_unit_test(test_star_removal),
        cmocka_unit_test(test_replace_on_and_off),
        cmocka_unit_test(test_contact_limit),
        cmocka_unit_test(test_aor_slots_and_refreshed_text),
        cmocka_unit_test(test_expiry_in_order_at_scale),
        cmocka_unit_test(test_best_binding_and_lookups),
        cmocka_unit_test(test_restore_and_nat_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
