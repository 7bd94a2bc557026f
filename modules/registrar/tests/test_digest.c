/* Digest authentication pieces: the Authorization header parser (RFC 7616
 * 3.4, including what devices get wrong and garbage), the computations
 * against the RFC 7616 and RFC 2617 test vectors and libcrypto (one
 * calculator reused as the registrar does), the constant-time
 * comparison, and the accounts table that precomputes HA1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "accounts.h"
#include "accounts_file.h"
#include "digest.h"
#include "digest_header.h"

static void parse_ok(const char *text, reg_digest_creds_t *c)
{
    assert_int_equal(reg_digest_parse(text, strlen(text), c), REG_DIGEST_OK);
}

static void assert_span(const reg_digest_span_t *s, const char *want)
{
    char buf[256];
    assert_int_equal(reg_digest_copy(s, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

/* RFC 7616 section 3.9.1, SHA-256, as a SIP device would send it */
static const char rfc7616_sha256[] =
    "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
    "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
    "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
    "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

static void test_parse_rfc7616_example(void **state)
{
    (void)state;
    reg_digest_creds_t c;
    parse_ok(rfc7616_sha256, &c);
    assert_span(&c.username, "Mufasa");
    assert_span(&c.realm, "http-auth@example.org");
    assert_span(&c.uri, "/dir/index.html");
    assert_span(&c.algorithm, "SHA-256");
    assert_int_equal(c.algorithm.quoted, 0);
    assert_span(&c.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
    assert_span(&c.nc, "00000001");
    assert_span(&c.qop, "auth");
    assert_span(&c.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
    assert_null(c.userhash.p);
    assert_true(reg_digest_span_is(&c.qop, "AUTH"));
    assert_false(reg_digest_span_is(&c.userhash, "true"));
}

static void test_parse_lenient_forms(void **state)
{
    (void)state;
    reg_digest_creds_t c;
    /* scheme and names in any case, spaces around '=' and ',', a quoted qop,
     * an unquoted uri (some phones), unknown parameters skipped */
    parse_ok("dIgEsT  USERNAME = \"1001\" ,Realm=\"sw\",  uri=sip:127.0.0.1:5060 ,x-vendor=\"a,b\", "
             "qop=\"auth\",response=\"abc\",nonce=\"n\"",
             &c);
    assert_span(&c.username, "1001");
    assert_span(&c.realm, "sw");
    assert_span(&c.uri, "sip:127.0.0.1:5060");
    assert_span(&c.qop, "auth");
    assert_null(c.cnonce.p);
    /* escapes in a quoted string are undone by copy */
    parse_ok("Digest username=\"a\\\"b\\\\c\", realm=\"r\"", &c);
    assert_span(&c.username, "a\"b\\c");
    /* an empty quoted value is a value */
    parse_ok("Digest username=\"\"", &c);
    assert_span(&c.username, "");
}

static void test_parse_refusals(void **state)
{
    (void)state;
    reg_digest_creds_t c;
    static const char *const malformed[] = {
        "",                                  /* nothing */
        "   ",
        "Digest",                            /* no parameters */
        "Digest ",
        "Digest ,",
        "Digest username",                   /* no '=' */
        "Digest username=",                  /* no value */
        "Digest username=\"abc",             /* unterminated quote */
        "Digest username=\"abc\\\"",         /* the closing quote is escaped */
        "Digest username=\"a\" realm=\"b\"", /* no comma */
        "Digest username=\"a\",,realm=\"b\"",
        "Digest username=\"a\", username=\"b\"", /* twice: which one was hashed? */
        "Digest =\"a\"",
        "Digest username=a\"b",
        "\"Digest\" username=\"a\"",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        reg_digest_parse_result_t r = reg_digest_parse(malformed[i], strlen(malformed[i]), &c);
        if (r != REG_DIGEST_MALFORMED)
            fail_msg("'%s' was accepted (%d)", malformed[i], r);
    }
    assert_int_equal(reg_digest_parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 34, &c), REG_DIGEST_NOT_DIGEST);
    assert_int_equal(reg_digest_parse("Digestive username=\"a\"", 22, &c), REG_DIGEST_NOT_DIGEST);
    /* a NUL inside the counted text is refused, not a terminator */
    const char with_nul[] = "Digest username=\"a\0b\"";
    assert_int_equal(reg_digest_parse(with_nul, sizeof with_nul - 1, &c), REG_DIGEST_MALFORMED);
    /* only len bytes are read: the quote that closes the value lies beyond */
    const char *cut = "Digest username=\"abc\"";
    assert_int_equal(reg_digest_parse(cut, strlen(cut) - 1, &c), REG_DIGEST_MALFORMED);
    assert_int_equal(reg_digest_parse(NULL, 0, &c), REG_DIGEST_MALFORMED);
}

static void test_copy_bounds(void **state)
{
    (void)state;
    reg_digest_creds_t c;
    parse_ok("Digest username=\"abcdef\"", &c);
    char small[6];
    assert_int_equal(reg_digest_copy(&c.username, small, sizeof small), -1); /* never truncated */
    char exact[7];
    assert_int_equal(reg_digest_copy(&c.username, exact, sizeof exact), 0);
    assert_string_equal(exact, "abcdef");
    assert_int_equal(reg_digest_copy(&c.realm, exact, sizeof exact), -1); /* absent */
}

/* Random text built from the characters the grammar cares about: the
 * parser must answer (never crash, never read past len) and every span it
 * returns must lie inside the input. */
static void test_parse_random_garbage(void **state)
{
    (void)state;
    static const char alphabet[] = "Digest usernamrlcoqp=\",\\ \t\r\nx0-9";
    uint32_t seed = 12345;
    char buf[96];
    for (int round = 0; round < 200000; round++) {
        size_t len = 0;
        if (round % 3 == 0) { /* start like the real thing */
            memcpy(buf, "Digest ", 7);
            len = 7;
        }
        size_t extra = (seed = seed * 1103515245u + 12345u) >> 16 & 63;
        for (size_t i = 0; i < extra && len < sizeof buf; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[len++] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        reg_digest_creds_t c;
        if (reg_digest_parse(buf, len, &c) != REG_DIGEST_OK)
            continue;
        const reg_digest_span_t *spans[] = {&c.username, &c.realm, &c.nonce, &c.uri, &c.response, &c.algorithm,
                                            &c.cnonce, &c.qop, &c.nc, &c.opaque, &c.userhash};
        for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++)
            if (spans[k]->p) {
                assert_true(spans[k]->p >= buf && spans[k]->p + spans[k]->len <= buf + len);
                char out[128];
                (void)reg_digest_copy(spans[k], out, sizeof out);
            }
    }
}

static void test_rfc7616_vectors(void **state)
{
    (void)state;
    char ha1[REG_DIGEST_HEX_MAX], resp[REG_DIGEST_HEX_MAX];
    const char *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const char *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    reg_digest_ha1(REG_ALG_MD5, "Mufasa", "http-auth@example.org", "Circle of Life", ha1);
    reg_digest_response(REG_ALG_MD5, ha1, nonce, "00000001", cnonce, "auth", "GET", "/dir/index.html", resp);
    assert_string_equal(resp, "8ca523f5e9506fed4657c9700eebdbec");
    reg_digest_ha1(REG_ALG_SHA256, "Mufasa", "http-auth@example.org", "Circle of Life", ha1);
    assert_string_equal(ha1, "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
    reg_digest_response(REG_ALG_SHA256, ha1, nonce, "00000001", cnonce, "auth", "GET", "/dir/index.html", resp);
    assert_string_equal(resp, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void test_rfc2617_vectors(void **state)
{
    (void)state;
    char ha1[REG_DIGEST_HEX_MAX], resp[REG_DIGEST_HEX_MAX];
    reg_digest_ha1(REG_ALG_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
    assert_string_equal(ha1, "939e7578ed9e3c518a452acee763bce9");
    reg_digest_response(REG_ALG_MD5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth",
                        "GET", "/dir/index.html", resp);
    assert_string_equal(resp, "6629fae49393a05397450978507c4ef1");
    /* the RFC 2069 form (no qop): H(HA1:nonce:HA2), nc and cnonce ignored */
    reg_digest_response(REG_ALG_MD5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "ignored", "ignored", NULL, "GET",
                        "/dir/index.html", resp);
    assert_string_equal(resp, "670fd8c2df070c60b045671b8b24ff02");
}

/* H(text) in hex straight from libcrypto, to check the calculator against. */
static void reference_hash(reg_digest_alg_t alg, const char *text, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), md, &n, alg == REG_ALG_SHA256 ? EVP_sha256() : EVP_md5(), NULL),
                     1);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* The expected response, written out from RFC 7616 3.4.1 with qop=auth. */
static void reference_response(reg_digest_alg_t alg, const char *ha1, const char *nonce, const char *method,
                               const char *uri, char *out)
{
    static char a2[2048], whole[2048];
    char ha2[REG_DIGEST_HEX_MAX];
    snprintf(a2, sizeof a2, "%s:%s", method, uri);
    reference_hash(alg, a2, ha2);
    snprintf(whole, sizeof whole, "%s:%s:00000001:c0ffee:auth:%s", ha1, nonce, ha2);
    reference_hash(alg, whole, out);
}

/* One calculator for many responses, as the registrar uses it: the
 * H(method:uri) it remembers serves only for the same text (another URI
 * of the same length, another method, then the first again), and texts
 * longer than its buffers (a 700-byte URI) hash whole. */
static void test_calculator_reuse(void **state)
{
    (void)state;
    char long_uri[701];
    memset(long_uri, 'x', sizeof long_uri - 1);
    memcpy(long_uri, "sip:", 4);
    long_uri[sizeof long_uri - 1] = '\0';
    static const struct {
        const char *method, *uri;
    } requests[] = {
        {"REGISTER", "sip:192.0.2.1:5060"}, {"REGISTER", "sip:192.0.2.1:5060"}, {"REGISTER", "sip:192.0.2.9:5060"},
        {"INVITE", "sip:192.0.2.9:5060"},   {"REGISTER", "sip:192.0.2.1:5060"}, {"REGISTER", NULL},
        {"REGISTER", NULL},                 {"REGISTER", "sip:192.0.2.1:5060"},
    };
    reg_hasher_t *h = reg_hasher_new();
    for (int alg = 0; alg < REG_ALG_COUNT; alg++) {
        char ha1[REG_DIGEST_HEX_MAX];
        reg_hasher_ha1(h, (reg_digest_alg_t)alg, "1001", "sipswitch", "secret", ha1);
        char expected_ha1[REG_DIGEST_HEX_MAX];
        reference_hash((reg_digest_alg_t)alg, "1001:sipswitch:secret", expected_ha1);
        assert_string_equal(ha1, expected_ha1);
        for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
            const char *uri = requests[i].uri ? requests[i].uri : long_uri;
            char got[REG_DIGEST_HEX_MAX], want[REG_DIGEST_HEX_MAX], nonce[16];
            snprintf(nonce, sizeof nonce, "n%zu", i);
            reg_hasher_response(h, (reg_digest_alg_t)alg, ha1, nonce, "00000001", "c0ffee", "auth",
                                requests[i].method, uri, got);
            reference_response((reg_digest_alg_t)alg, ha1, nonce, requests[i].method, uri, want);
            if (strcmp(got, want) != 0)
                fail_msg("alg %d, request %zu (%s %.30s): %s, expected %s", alg, i, requests[i].method, uri, got,
                         want);
        }
    }
    reg_hasher_free(h);
}

static void test_algorithms_and_compare(void **state)
{
    (void)state;
    reg_digest_alg_t alg;
    assert_int_equal(reg_digest_alg_parse("md5", &alg), 0);
    assert_int_equal(alg, REG_ALG_MD5);
    assert_int_equal(reg_digest_alg_parse("SHA-256", &alg), 0);
    assert_int_equal(alg, REG_ALG_SHA256);
    assert_int_equal(reg_digest_alg_parse("MD5-sess", &alg), -1);
    assert_int_equal(reg_digest_alg_parse("SHA-512-256", &alg), -1);
    assert_int_equal(reg_digest_alg_parse(NULL, &alg), -1);
    assert_string_equal(reg_digest_alg_name(REG_ALG_SHA256), "SHA-256");
    assert_int_equal(reg_digest_hex_len(REG_ALG_MD5), 32);
    assert_int_equal(reg_digest_hex_len(REG_ALG_SHA256), 64);
    assert_true(reg_digest_hex_equal("6629fae49393a05397450978507c4ef1", "6629FAE49393A05397450978507C4EF1"));
    assert_false(reg_digest_hex_equal("6629fae49393a05397450978507c4ef1", "6629fae49393a05397450978507c4ef0"));
    assert_false(reg_digest_hex_equal("6629fae49393a05397450978507c4ef1", "6629fae49393a05397450978507c4ef"));
    assert_false(reg_digest_hex_equal("abc", ""));
    assert_false(reg_digest_hex_equal("@", "`")); /* not letters: no case folding makes them equal */
}

static void test_accounts_precompute_ha1(void **state)
{
    (void)state;
    reg_accounts_t *a = reg_accounts_new();
    reg_account_t *acc = reg_accounts_add(a, "1001", "secret", "sipswitch", "+4420");
    assert_non_null(acc);
    assert_null(reg_accounts_add(a, "1001", "other", "sipswitch", NULL)); /* a name once */
    char ha1[REG_DIGEST_HEX_MAX];
    reg_digest_ha1(REG_ALG_MD5, "1001", "sipswitch", "secret", ha1);
    assert_string_equal(acc->ha1[REG_ALG_MD5], ha1);
    reg_digest_ha1(REG_ALG_SHA256, "1001", "sipswitch", "secret", ha1);
    assert_string_equal(acc->ha1[REG_ALG_SHA256], ha1);
    assert_string_equal(acc->caller_number, "+4420");
    assert_ptr_equal(reg_accounts_find(a, "1001"), acc);
    assert_null(reg_accounts_find(a, "1002"));
    /* allowed_ips: none means anywhere; then only the listed blocks */
    assert_true(reg_account_allows(acc, "203.0.113.9"));
    assert_int_equal(reg_account_allow(acc, "192.0.2.0/24"), 0);
    assert_int_equal(reg_account_allow(acc, "2001:db8::1"), 0);
    assert_int_equal(reg_account_allow(acc, "not-an-ip"), -1);
    assert_true(reg_account_allows(acc, "192.0.2.77"));
    assert_true(reg_account_allows(acc, "2001:db8::1"));
    assert_false(reg_account_allows(acc, "192.0.3.1"));
    assert_false(reg_account_allows(acc, "2001:db8::2"));
    reg_account_t *b = reg_accounts_add(a, "1002", "x", "sipswitch", "");
    assert_null(b->caller_number);
    assert_int_equal(reg_accounts_count(a), 2);
    reg_accounts_free(a);
}

static long load_text(reg_accounts_t *a, const char *text, char *err, size_t errlen)
{
    char path[] = "/tmp/reg-accounts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    long n = reg_accounts_load_file(a, path, "sipswitch", err, errlen);
    unlink(path);
    return n;
}

static void test_accounts_file(void **state)
{
    (void)state;
    char err[256];
    reg_accounts_t *a = reg_accounts_new();
    assert_int_equal(load_text(a,
                               "# name,password[,caller_number[,allowed_ips]]\n"
                               "\n"
                               "1001, secret \r\n"
                               "1002,pw2,442071234567\n"
                               "   # indented comment\n"
                               "1003,pw3,,192.0.2.0/24  2001:db8::1\n",
                               err, sizeof err),
                     3);
    const reg_account_t *acc = reg_accounts_find(a, "1001");
    char ha1[REG_DIGEST_HEX_MAX];
    reg_digest_ha1(REG_ALG_MD5, "1001", "sipswitch", "secret", ha1); /* trimmed */
    assert_string_equal(acc->ha1[REG_ALG_MD5], ha1);
    assert_null(acc->caller_number);
    assert_string_equal(reg_accounts_find(a, "1002")->caller_number, "442071234567");
    acc = reg_accounts_find(a, "1003");
    assert_int_equal(acc->n_allowed, 2);
    assert_true(reg_account_allows(acc, "192.0.2.9"));
    assert_false(reg_account_allows(acc, "198.51.100.1"));
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"1001,x\n", ":1: account defined twice"}, /* 1001 is already in the table */
        {"ok,x\nbad name,x\n", ":2: bad account name"},
        {"1009\n", ":1: no password"},
        {"1009,\n", ":1: no password"},
        {"1009,a,b,c,d\n", ":1: too many fields"},
        {"1009,a,,10.0.0.0/33\n", ":1: allowed_ips"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reg_accounts_t *t = reg_accounts_new();
        if (i == 0)
            reg_accounts_add(t, "1001", "x", "sipswitch", NULL);
        assert_int_equal(load_text(t, bad[i].text, err, sizeof err), -1);
        if (!strstr(err, bad[i].error))
            fail_msg("'%s': got '%s', expected '%s'", bad[i].text, err, bad[i].error);
        reg_accounts_free(t);
    }
    assert_int_equal(reg_accounts_load_file(a, "/nonexistent/accounts", "r", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    reg_accounts_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rfc7616_example),
        cmocka_unit_test(test_parse_lenient_forms),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_copy_bounds),
        cmocka_unit_test(test_parse_random_garbage),
        cmocka_unit_test(test_rfc7616_vectors),
        cmocka_unit_test(test_rfc2617_vectors),
        cmocka_unit_test(test_calculator_reuse),
        cmocka_unit_test(test_algorithms_and_compare),
        cmocka_unit_test(test_accounts_precompute_ha1),
        cmocka_unit_test(test_accounts_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
