/* The NAT devices table (devices.h): bindings found by (aor, contact) in
 * O(1) at any size, ids reused with a new generation, refreshes that move
 * a device to a new address keep its id, and bad strings refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "devices.h"

static ka_binding_t binding(const char *aor, const char *contact, const char *source)
{
    return (ka_binding_t){.aor = aor, .contact = contact, .source = source, .account = "acct", .socket_id = 3,
                          .transport = 1};
}

static void test_add_find_remove(void **state)
{
    (void)state;
    ka_devices_t *t = ka_devices_new(42);
    ka_binding_t b = binding("sip:1001@example.com", "sip:1001@10.0.0.5:5060", "203.0.113.9:40000");
    assert_int_equal(ka_devices_find(t, b.aor, b.contact), KA_NONE);
    uint32_t id = ka_devices_add(t, &b);
    assert_int_not_equal(id, KA_NONE);
    assert_int_equal(ka_devices_find(t, b.aor, b.contact), id);
    /* the same aor with another contact is another binding */
    assert_int_equal(ka_devices_find(t, b.aor, "sip:1001@10.0.0.6:5060"), KA_NONE);
    assert_int_equal(ka_devices_find(t, "sip:1002@example.com", b.contact), KA_NONE);
    ka_device_t *d = ka_devices_get(t, id);
    assert_non_null(d);
    assert_string_equal(ka_device_aor(d), "sip:1001@example.com");
    assert_string_equal(ka_device_contact(d), "sip:1001@10.0.0.5:5060");
    assert_string_equal(ka_device_source(d), "203.0.113.9:40000");
    assert_string_equal(ka_device_account(d), "acct");
    assert_int_equal(d->socket_id, 3);
    assert_int_equal(d->transport, 1);
    uint32_t generation = d->generation;
    assert_int_equal(ka_devices_count(t), 1);
    ka_devices_remove(t, id);
    assert_int_equal(ka_devices_count(t), 0);
    assert_null(ka_devices_get(t, id));
    assert_int_equal(ka_devices_find(t, b.aor, b.contact), KA_NONE);
    ka_devices_remove(t, id); /* twice: nothing */
    /* the id comes back with another generation */
    uint32_t again = ka_devices_add(t, &b);
    assert_int_equal(again, id);
    assert_int_not_equal(ka_devices_get(t, again)->generation, generation);
    ka_devices_free(t);
}

/* A refresh from a new NAT mapping: new source, same id. */
static void test_update_moves_the_device(void **state)
{
    (void)state;
    ka_devices_t *t = ka_devices_new(1);
    ka_binding_t b = binding("sip:a@x", "sip:a@192.168.1.2", "198.51.100.1:1024");
    uint32_t id = ka_devices_add(t, &b);
    ka_binding_t moved = b;
    moved.source = "198.51.100.1:2048";
    moved.account = NULL;
    moved.socket_id = 9;
    moved.transport = 2;
    assert_int_equal(ka_devices_update(t, id, &moved), 0);
    ka_device_t *d = ka_devices_get(t, id);
    assert_string_equal(ka_device_source(d), "198.51.100.1:2048");
    assert_string_equal(ka_device_account(d), "");
    assert_string_equal(ka_device_contact(d), "sip:a@192.168.1.2");
    assert_int_equal(d->socket_id, 9);
    assert_int_equal(d->transport, 2);
    assert_int_equal(ka_devices_find(t, b.aor, b.contact), id);
    assert_int_equal(ka_devices_update(t, id + 1, &moved), -1);
    ka_devices_free(t);
}

static void test_bad_strings_refused(void **state)
{
    (void)state;
    ka_devices_t *t = ka_devices_new(7);
    char long_uri[KA_MAX_URI + 2];
    memset(long_uri, 'a', sizeof long_uri - 1);
    long_uri[sizeof long_uri - 1] = '\0';
    ka_binding_t b = binding(long_uri, "sip:x@y", "1.2.3.4:5");
    assert_int_equal(ka_devices_add(t, &b), KA_NONE);
    b = binding("sip:x@y", "sip:x@y\r\nVia: evil", "1.2.3.4:5"); /* header injection */
    assert_int_equal(ka_devices_add(t, &b), KA_NONE);
    b = binding("sip:x@y", "sip:x@y", "");
    assert_int_equal(ka_devices_add(t, &b), KA_NONE);
    b = binding("sip:x@y", "sip:x@y", NULL);
    assert_int_equal(ka_devices_add(t, &b), KA_NONE);
    long_uri[KA_MAX_URI] = '\0'; /* exactly the limit: taken */
    b = binding(long_uri, long_uri, "[2001:db8::1]:5060");
    uint32_t id = ka_devices_add(t, &b);
    assert_int_not_equal(id, KA_NONE);
    /* an update with a bad source leaves the device as it was */
    ka_binding_t bad = b;
    bad.source = "1.2.3.4:5\n";
    assert_int_equal(ka_devices_update(t, id, &bad), -1);
    assert_string_equal(ka_device_source(ka_devices_get(t, id)), "[2001:db8::1]:5060");
    assert_int_equal(ka_devices_find(t, NULL, "x"), KA_NONE);
    assert_int_equal(ka_devices_count(t), 1);
    ka_devices_free(t);
}

/* Many devices: every one found, removals leave the others findable, ids
 * stay dense. */
static void test_many_devices(void **state)
{
    (void)state;
    enum { N = 200000 };
    ka_devices_t *t = ka_devices_new(2024);
    char aor[64], contact[64], source[32];
    for (int i = 0; i < N; i++) {
        snprintf(aor, sizeof aor, "sip:dev%d@example.com", i);
        snprintf(contact, sizeof contact, "sip:dev%d@10.%d.%d.1", i, i >> 8 & 255, i & 255);
        snprintf(source, sizeof source, "127.0.0.1:%d", 1024 + i % 60000);
        ka_binding_t b = binding(aor, contact, source);
        assert_int_equal(ka_devices_add(t, &b), (uint32_t)i);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(aor, sizeof aor, "sip:dev%d@example.com", i);
        snprintf(contact, sizeof contact, "sip:dev%d@10.%d.%d.1", i, i >> 8 & 255, i & 255);
        uint32_t id = ka_devices_find(t, aor, contact);
        assert_int_equal(id, (uint32_t)i);
        ka_devices_remove(t, id);
    }
    assert_int_equal(ka_devices_count(t), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(aor, sizeof aor, "sip:dev%d@example.com", i);
        snprintf(contact, sizeof contact, "sip:dev%d@10.%d.%d.1", i, i >> 8 & 255, i & 255);
        assert_int_equal(ka_devices_find(t, aor, contact), i % 2 ? (uint32_t)i : KA_NONE);
    }
    /* freed ids are reused before the table grows */
    ka_binding_t b = binding("sip:new@x", "sip:new@y", "1.1.1.1:1");
    assert_true(ka_devices_add(t, &b) < N);
    assert_int_equal(ka_devices_id_limit(t), N);
    ka_devices_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_update_moves_the_device),
        cmocka_unit_test(test_bad_strings_refused),
        cmocka_unit_test(test_many_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
