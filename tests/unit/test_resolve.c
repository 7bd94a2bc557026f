/* The resolver batch (core/net/resolve.c): IP literals answered without DNS,
 * names counted once, the answers and reasons the loop reads, lookups on
 * libuv's workers ending in exactly one `done`, and the gateway table built
 * from a batch without ever looking a name up itself. Names that need a
 * lookup are "localhost" (answered from /etc/hosts, no DNS server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>
#include <uv.h>

#include "call/gateways.h"
#include "cfg/core_params.h"
#include "net/resolve.h"

static void test_literals_need_no_dns(void **state)
{
    (void)state;
    sw_resolve_batch_t *b = sw_resolve_batch_new();
    sw_resolve_add(b, "192.0.2.7");
    sw_resolve_add(b, "2001:db8::1");
    sw_resolve_add(b, "192.0.2.7");
    assert_int_equal(sw_resolve_unanswered(b), 0);
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const char *reason = NULL;
    assert_int_equal(sw_resolve_address(b, "192.0.2.7", 5070, &ss, &len, &reason), 0);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof *in);
    assert_int_equal(ntohs(in->sin_port), 5070);
    assert_int_equal(in->sin_addr.s_addr, htonl(0xc0000207));
    assert_int_equal(sw_resolve_address(b, "2001:db8::1", 5061, &ss, &len, &reason), 0);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(in6->sin6_port), 5061);
    /* nothing to look up: nothing starts, `done` never runs */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(sw_resolve_start(b, &loop, NULL, NULL), -1);
    assert_int_equal(uv_loop_close(&loop), 0);
    sw_resolve_batch_free(b);
}

static void test_unknown_and_unanswered_names(void **state)
{
    (void)state;
    sw_resolve_batch_t *b = sw_resolve_batch_new();
    sw_resolve_add(b, "localhost");
    sw_resolve_add(b, "localhost");
    assert_int_equal(sw_resolve_unanswered(b), 1);
    struct sockaddr_storage ss;
    socklen_t len;
    const char *reason = NULL;
    assert_int_equal(sw_resolve_address(b, "localhost", 5060, &ss, &len, &reason), -1);
    assert_string_equal(reason, "not looked up");
    assert_int_equal(sw_resolve_address(b, "elsewhere.example", 5060, &ss, &len, &reason), -1);
    assert_string_equal(reason, "not looked up");
    sw_resolve_now(b);
    assert_int_equal(sw_resolve_unanswered(b), 0);
    assert_int_equal(sw_resolve_address(b, "localhost", 5060, &ss, &len, &reason), 0);
    assert_true(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    sw_resolve_batch_free(b);
}

typedef struct done_count {
    int calls;
    sw_resolve_batch_t *batch;
} done_count_t;

static void count_done(sw_resolve_batch_t *b, void *ud)
{
    done_count_t *c = ud;
    c->calls++;
    c->batch = b;
}

/* a name needing a lookup (or its cancellation) has an answer once done ran */
static void assert_answered(const sw_resolve_batch_t *b, const char *host)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *reason = "";
    if (sw_resolve_address(b, host, 5060, &ss, &len, &reason) != 0)
        assert_string_equal(reason, "cancelled (shutting down)");
}

static void test_lookups_on_workers(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    sw_resolve_batch_t *b = sw_resolve_batch_new();
    sw_resolve_add(b, "localhost");
    sw_resolve_add(b, "127.0.0.1");
    done_count_t c = {0};
    assert_int_equal(sw_resolve_start(b, &loop, count_done, &c), 0);
    assert_int_equal(c.calls, 0); /* later, on the loop */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c.calls, 1);
    assert_ptr_equal(c.batch, b);
    struct sockaddr_storage ss;
    socklen_t len;
    const char *reason = NULL;
    assert_int_equal(sw_resolve_address(b, "localhost", 5060, &ss, &len, &reason), 0);
    assert_int_equal(sw_resolve_address(b, "127.0.0.1", 5060, &ss, &len, &reason), 0);
    sw_resolve_batch_free(b);

    /* cancelled at once: the lookups not begun fail as cancelled, done still
     * runs once (spellings of localhost: /etc/hosts matches any case) */
    b = sw_resolve_batch_new();
    const char *names[] = {"localhost", "Localhost", "lOcalhost", "loCalhost", "locAlhost",
                           "locaLhost", "localHost", "localhOst", "LOCALHOST"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        sw_resolve_add(b, names[i]);
    c.calls = 0;
    assert_int_equal(sw_resolve_start(b, &loop, count_done, &c), 0);
    sw_resolve_cancel(b);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c.calls, 1);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_answered(b, names[i]);
    sw_resolve_batch_free(b);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_gateways_read_the_batch(void **state)
{
    (void)state;
    sw_errors_t errs = {0};
    sw_cfg_t *cfg = sw_cfg_read_string("g.cfg",
                                       "[core]\n"
                                       "[gateway named]\naddress = localhost:5070\n"
                                       "[gateway literal]\naddress = 192.0.2.1\n"
                                       "[gateway v6]\naddress = [2001:db8::5]:5090\n",
                                       &errs);
    sw_core_settings_t core;
    sw_core_settings_load(cfg, &core, &errs);
    sw_core_settings_free(&core);
    sw_cfg_resolve_all(cfg, &errs);
    assert_int_equal(errs.count, 0);
    const sw_config_t *view = sw_cfg_view(cfg, "core");

    sw_resolve_batch_t *b = sw_resolve_batch_new();
    sw_gateways_names(view, b);
    assert_int_equal(sw_resolve_unanswered(b), 1); /* the name; the literals are answered */
    /* not looked up: the build does not ask DNS itself, it refuses the name */
    sw_gateways_t gws;
    assert_int_equal(sw_gateways_build_resolved(view, b, &gws, &errs), -1);
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.items[0], "g.cfg:3: [gateway named] address: cannot resolve 'localhost': not looked up");
    assert_int_equal(gws.count, 2);
    const sw_gateway_t *g = sw_gateways_find(&gws, "literal");
    assert_non_null(g);
    assert_int_equal(g->port, 5060);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&g->addr)->sin_port), 5060);
    g = sw_gateways_find(&gws, "v6");
    assert_non_null(g);
    assert_int_equal(g->addr.ss_family, AF_INET6);
    assert_int_equal(ntohs(((const struct sockaddr_in6 *)&g->addr)->sin6_port), 5090);
    assert_null(sw_gateways_find(&gws, "named"));
    sw_gateways_free(&gws);
    sw_errors_clear(&errs);

    /* answered: all three */
    sw_resolve_now(b);
    assert_int_equal(sw_gateways_build_resolved(view, b, &gws, &errs), 0);
    assert_int_equal(errs.count, 0);
    assert_int_equal(gws.count, 3);
    g = sw_gateways_find(&gws, "named");
    assert_non_null(g);
    assert_string_equal(g->host, "localhost");
    assert_int_equal(g->port, 5070);
    sw_gateways_free(&gws);
    sw_resolve_batch_free(b);
    sw_cfg_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_need_no_dns),
        cmocka_unit_test(test_unknown_and_unanswered_names),
        cmocka_unit_test(test_lookups_on_workers),
        cmocka_unit_test(test_gateways_read_the_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
