/* Checks on the error list of a cfg load (sw_errors_t), for cmocka tests:
 * include after <cmocka.h> and "cfg/config.h". */
#ifndef SW_TEST_CFG_ERRORS_H
#define SW_TEST_CFG_ERRORS_H

#include <stdbool.h>
#include <string.h>

/* True when an error contains `text`; otherwise prints them all (the failed
 * assertion that follows then shows what was said instead). */
static inline bool sw_test_has_error(const sw_errors_t *e, const char *text)
{
    for (size_t i = 0; i < e->count; i++)
        if (strstr(e->items[i], text))
            return true;
    print_message("errors were:\n");
    for (size_t i = 0; i < e->count; i++)
        print_message("  %s\n", e->items[i]);
    return false;
}

static inline void sw_test_expect_no_errors(const sw_errors_t *e)
{
    for (size_t i = 0; i < e->count; i++)
        print_message("unexpected: %s\n", e->items[i]);
    assert_int_equal(e->count, 0);
}

/* The descriptor named `name` in a parameter table ended by size 0, or NULL
 * (tables are declared in module.h, which cfg/config.h includes). */
static inline const sw_param_t *sw_test_find_param(const sw_param_t *table, const char *name)
{
    for (const sw_param_t *p = table; p && p->size; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

#endif
