/* RFC 4475 torture messages through the front door: datagram framing,
 * parsing, sanity checks and the answer each gets (see EXPECTED.md next to
 * the messages for what the RFC asks and why). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "test_util.h"

#define RFC4475_DIR SW_TESTDATA_DIR "/rfc4475/"
#define MAX_DATAGRAM 65535

/* Outcomes besides a response code: */
enum {
    PASSES = 0,        /* request passes: the dialplan will give the final answer */
    DROP = -1,         /* discarded without an answer */
    ACCEPTED_RESP = -2 /* a well-formed response (never answered) */
};

typedef struct rfc4475_case {
    const char *file;
    int expected;
    const char *in_reply; /* text the answer must contain, or NULL */
} rfc4475_case_t;

/* One row per message of EXPECTED.md. Where the RFC leaves a choice, the
 * comment says which one the switch (an endpoint) makes. */
static const rfc4475_case_t cases[] = {
    /* 3.1.1 valid */
    {"wsinv.sip", PASSES, NULL},
    {"intmeth.sip", 501, NULL},          /* endpoint: unknown method */
    {"esc01.sip", PASSES, NULL},
    {"escnull.sip", PASSES, NULL},
    {"esc02.sip", 501, NULL},            /* RE%47IST%45R is not REGISTER */
    {"lwsdisp.sip", PASSES, NULL},
    {"longreq.sip", PASSES, NULL},
    {"dblreq.sip", PASSES, NULL},        /* the REGISTER; the junk after it is ignored */
    {"semiuri.sip", PASSES, NULL},
    {"transports.sip", PASSES, NULL},
    {"mpart01.sip", PASSES, NULL},
    {"unreason.sip", ACCEPTED_RESP, NULL},
    {"noreason.sip", ACCEPTED_RESP, NULL},
    /* 3.1.2 invalid */
    {"badinv01.sip", 400, NULL},
    {"clerr.sip", 400, NULL},            /* framing: Content-Length past the datagram */
    {"ncl.sip", 400, NULL},              /* framing: negative Content-Length */
    {"scalar02.sip", 400, NULL},         /* CSeq > 2^32-1 */
    {"scalarlg.sip", DROP, NULL},        /* response with CSeq > 2^32-1 */
    {"quotbal.sip", 400, NULL},
    {"ltgtruri.sip", 400, NULL},
    {"lwsruri.sip", 400, NULL},
    {"lwsstart.sip", 400, NULL},         /* we are not liberal with the start line */
    {"trws.sip", 400, NULL},
    {"escruri.sip", 400, NULL},          /* headers in the Request-URI */
    {"baddate.sip", PASSES, NULL},       /* Date is never used: ignoring it is safe */
    {"regbadct.sip", 400, NULL},         /* '?' in a Contact without <> */
    {"badaspec.sip", 400, NULL},
    {"baddn.sip", 400, NULL},            /* also lacks the final empty line */
    {"badvers.sip", 505, NULL},
    {"mismatch01.sip", 400, NULL},
    {"mismatch02.sip", 501, NULL},
    {"bigcode.sip", DROP, NULL},
    /* 3.2 transaction layer */
    {"badbranch.sip", 400, NULL},        /* branch is the bare magic cookie */
    /* 3.3 application layer */
    {"insuf.sip", 400, NULL},
    {"unkscm.sip", 416, NULL},
    {"novelsc.sip", 416, NULL},
    {"unksm2.sip", 400, NULL},           /* as a registrar: the AOR must be SIP */
    {"bext01.sip", 420, "Unsupported: nothingSupportsThis, nothingSupportsThisEither\r\n"},
    {"invut.sip", 415, "Accept: application/sdp\r\n"},
    {"regaut01.sip", PASSES, NULL},      /* the registrar decides on the credentials */
    {"multi01.sip", 400, NULL},
    {"mcl01.sip", 400, NULL},            /* framing: several Content-Length */
    {"bcast.sip", ACCEPTED_RESP, NULL},
    {"zeromf.sip", PASSES, NULL},        /* OPTIONS is answered by the switch: 200 */
    {"cparam01.sip", PASSES, NULL},
    {"cparam02.sip", PASSES, NULL},
    {"regescrt.sip", PASSES, NULL},
    {"sdp01.sip", 406, "Warning: 399 "},
    /* 3.4 backward compatibility */
    {"inv2543.sip", PASSES, NULL},
    /* in the RFC's archive but not described by it: malformed and without
     * Via or CSeq, so there is nothing to answer */
    {"extra/test.sip", DROP, NULL},
};

#define CASE_COUNT (sizeof cases / sizeof cases[0])

static char *read_case(const char *file, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", RFC4475_DIR, file);
    char *buf = sw_test_read_file(path, len);
    if (buf == NULL)
        fail_msg("cannot read %s", path);
    return buf;
}

static void fill_origin(sw_msg_origin_t *o)
{
    memset(o, 0, sizeof *o);
    o->transport = SW_TRANSPORT_UDP;
    strcpy(o->src_ip, "192.0.2.200");
    o->src_port = 5062;
    strcpy(o->src_text, "192.0.2.200:5062");
}

/* The answer to bytes that could not be framed or parsed: a 400 when the
 * Via/From/To/Call-ID/CSeq lines are there, else nothing. */
static int answer_raw(const char *buf, size_t len, const char *why)
{
    sw_msg_origin_t origin;
    fill_origin(&origin);
    size_t reply_len = 0;
    char *reply = sw_sip_build_reply_raw(buf, len, &origin, 400, why, &reply_len);
    if (reply == NULL)
        return DROP;
    assert_true(reply_len > 12);
    assert_memory_equal(reply, "SIP/2.0 400 ", 12);
    assert_non_null(memmem(reply, reply_len, "\r\nContent-Length: 0\r\n\r\n", 23));
    free(reply);
    return 400;
}

/* Checks the response the switch would send for a failed sanity check. */
static void check_reply(const sw_msg_t *m, const sw_sanity_t *s, const char *must_contain)
{
    size_t len = 0;
    char *reply = sw_sip_build_reply(m, s->code, s->reason, NULL, s->extra, &len);
    assert_non_null(reply);
    char status[16];
    snprintf(status, sizeof status, "SIP/2.0 %d ", s->code);
    assert_true(len > strlen(status));
    assert_memory_equal(reply, status, strlen(status));
    const char *call_id = sw_msg_call_id(m);
    if (call_id != NULL) /* insuf has none */
        assert_non_null(memmem(reply, len, call_id, strlen(call_id)));
    if (must_contain != NULL)
        assert_non_null(memmem(reply, len, must_contain, strlen(must_contain)));
    assert_non_null(memmem(reply, len, "\r\nContent-Length: 0\r\n\r\n", 23));
    free(reply);
}

/* Datagram path of the front door: frame, parse, sanity. */
static int run_datagram(const char *buf, size_t len, const char *must_contain)
{
    sw_frame_t frame;
    if (sw_sip_frame(buf, len, false, MAX_DATAGRAM, &frame) != SW_FRAME_OK) {
        assert_non_null(frame.error);
        return answer_raw(buf, len, frame.error);
    }
    assert_true(frame.skipped < frame.total && frame.total <= len);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(buf + frame.skipped, frame.total - frame.skipped, &err);
    if (m == NULL) {
        assert_non_null(err);
        return answer_raw(buf + frame.skipped, frame.total - frame.skipped, err);
    }
    fill_origin(&m->origin);
    sw_sanity_t s;
    sw_sip_sanity_check(m, &s);
    int outcome;
    if (!sw_msg_is_request(m)) {
        assert_true(s.code == 0 || s.code == -1);
        outcome = s.code == 0 ? ACCEPTED_RESP : DROP;
    } else if (s.code > 0) {
        assert_non_null(s.reason);
        check_reply(m, &s, must_contain);
        outcome = s.code;
    } else {
        outcome = s.code;
    }
    sw_msg_free(m);
    return outcome;
}

static void test_case(void **state)
{
    const rfc4475_case_t *c = *state;
    size_t len;
    char *buf = read_case(c->file, &len);
    int got = run_datagram(buf, len, c->in_reply);
    if (got != c->expected)
        fail_msg("%s: expected %d, got %d", c->file, c->expected, got);
    free(buf);
}

/* Every message must survive stream framing too, whatever the outcome. */
static void test_stream_framing_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < CASE_COUNT; i++) {
        size_t len;
        char *buf = read_case(cases[i].file, &len);
        sw_frame_t frame;
        sw_frame_status_t st = sw_sip_frame(buf, len, true, MAX_DATAGRAM, &frame);
        if (st == SW_FRAME_OK)
            assert_true(frame.skipped < frame.total && frame.total <= len);
        else if (st == SW_FRAME_ERROR)
            assert_non_null(frame.error);
        free(buf);
    }
}

static sw_frame_status_t frame_file(const char *file, bool stream, sw_frame_t *frame, size_t *len)
{
    char *buf = read_case(file, len);
    sw_frame_status_t st = sw_sip_frame(buf, *len, stream, MAX_DATAGRAM, frame);
    free(buf);
    return st;
}

static void test_stream_specifics(void **state)
{
    (void)state;
    sw_frame_t frame;
    size_t len;
    /* mpart01: framed by Content-Length, binary body and all */
    assert_int_equal(frame_file("mpart01.sip", true, &frame, &len), SW_FRAME_OK);
    assert_int_equal(frame.body_len, 553);
    assert_int_equal(frame.total, frame.header_len + 553);
    /* clerr: on a stream the rest of the body may still come */
    assert_int_equal(frame_file("clerr.sip", true, &frame, &len), SW_FRAME_INCOMPLETE);
    /* ncl / mcl01: the stream cannot be framed any more */
    assert_int_equal(frame_file("ncl.sip", true, &frame, &len), SW_FRAME_ERROR);
    assert_int_equal(frame_file("mcl01.sip", true, &frame, &len), SW_FRAME_ERROR);
    /* inv2543 relies on the datagram's end: a stream needs Content-Length */
    assert_int_equal(frame_file("inv2543.sip", true, &frame, &len), SW_FRAME_ERROR);
}

static void test_datagram_specifics(void **state)
{
    (void)state;
    sw_frame_t frame;
    size_t len;
    assert_int_equal(frame_file("clerr.sip", false, &frame, &len), SW_FRAME_ERROR);
    assert_string_equal(frame.error, "Content-Length larger than the datagram");
    assert_int_equal(frame_file("ncl.sip", false, &frame, &len), SW_FRAME_ERROR);
    assert_int_equal(frame_file("mcl01.sip", false, &frame, &len), SW_FRAME_ERROR);
    /* dblreq: the REGISTER ends at Content-Length 0; the INVITE after it is
     * not part of the message */
    assert_int_equal(frame_file("dblreq.sip", false, &frame, &len), SW_FRAME_OK);
    assert_int_equal(frame.body_len, 0);
    assert_true(frame.total < len);
    /* inv2543: no Content-Length, the body runs to the datagram's end */
    assert_int_equal(frame_file("inv2543.sip", false, &frame, &len), SW_FRAME_OK);
    assert_int_equal(frame.total, len);
    assert_true(frame.body_len > 0);
}

static sw_msg_t *parse_file(const char *file)
{
    size_t len;
    char *buf = read_case(file, &len);
    sw_frame_t frame;
    assert_int_equal(sw_sip_frame(buf, len, false, MAX_DATAGRAM, &frame), SW_FRAME_OK);
    const char *err = NULL;
    sw_msg_t *m = sw_msg_parse(buf + frame.skipped, frame.total - frame.skipped, &err);
    free(buf);
    if (m == NULL)
        fail_msg("%s: %s", file, err);
    return m;
}

/* What the parser makes of some of the valid messages. */
static void test_parse_details(void **state)
{
    (void)state;
    sw_msg_t *m = parse_file("esc02.sip");
    assert_string_equal(sw_msg_method(m), "RE%47IST%45R");
    assert_int_equal(sw_msg_header_count(m, "Contact"), 2); /* C%6Fntact is another header */
    assert_int_equal(sw_msg_header_count(m, "C%6Fntact"), 1);
    sw_msg_free(m);

    m = parse_file("intmeth.sip");
    assert_string_equal(sw_msg_method(m), "!interesting-Method0123456789_*+`.%indeed'~");
    assert_string_equal(sw_msg_call_id(m), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    /* the escaped NUL of the To display name is kept */
    const sw_msg_hdr_t *to = NULL;
    for (size_t i = 0; i < m->hdr_count; i++)
        if (strcmp(m->hdrs[i].name, "To") == 0)
            to = &m->hdrs[i];
    assert_non_null(to);
    assert_non_null(memchr(to->value, '\0', to->value_len));
    assert_true(to->value_len > strlen(to->value));
    sw_msg_free(m);

    m = parse_file("wsinv.sip");
    assert_string_equal(sw_msg_header(m, "NewFangledHeader", 0),
                        "newfangled value continued newfangled value");
    assert_string_equal(sw_msg_header(m, "UnknownHeaderWithUnusualValue", 0), ";;,,;;,;");
    assert_string_equal(sw_msg_header(m, "Max-Forwards", 0), "0068");
    assert_int_equal(sw_msg_header_count(m, "Via"), 2);
    assert_string_equal(sw_msg_header(m, "s", 0), "");
    assert_string_equal(sw_msg_to_tag(m), "1918181833n");
    size_t body_len;
    sw_msg_body(m, &body_len);
    assert_int_equal(body_len, 150);
    sw_msg_free(m);

    m = parse_file("novelsc.sip");
    assert_string_equal(sw_msg_ruri(m), "soap.beep://192.0.2.103:3002");
    assert_string_equal(sw_msg_ruri_scheme(m), "soap.beep");
    sw_msg_free(m);

    m = parse_file("noreason.sip");
    assert_false(sw_msg_is_request(m));
    assert_int_equal(sw_msg_status(m), 100);
    assert_string_equal(sw_msg_reason(m), "");
    sw_msg_free(m);

    m = parse_file("mpart01.sip");
    const char *body = sw_msg_body(m, &body_len);
    assert_int_equal(body_len, 553);
    assert_memory_equal(body, "--7a9cbec02ceef655\r\n", 20);
    sw_msg_free(m);
}

/* The table must cover every message in the directory, and only those. */
static void test_table_is_complete(void **state)
{
    (void)state;
    DIR *dir = opendir(RFC4475_DIR);
    assert_non_null(dir);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".sip") != 0)
            continue;
        files++;
        bool listed = false;
        for (size_t i = 0; i < CASE_COUNT; i++)
            listed = listed || strcmp(cases[i].file, e->d_name) == 0;
        if (!listed)
            fail_msg("%s is not in the table", e->d_name);
    }
    closedir(dir);
    assert_int_equal(files, 49);
    assert_int_equal(CASE_COUNT, 50);
}

int main(void)
{
    struct CMUnitTest tests[CASE_COUNT + 6];
    size_t n = 0;
    for (size_t i = 0; i < CASE_COUNT; i++)
        tests[n++] = (struct CMUnitTest){.name = cases[i].file, .test_func = test_case,
                                         .initial_state = (void *)&cases[i]};
    tests[n++] = (struct CMUnitTest){.name = "table_is_complete", .test_func = test_table_is_complete};
    tests[n++] = (struct CMUnitTest){.name = "stream_framing_all", .test_func = test_stream_framing_all};
    tests[n++] = (struct CMUnitTest){.name = "stream_specifics", .test_func = test_stream_specifics};
    tests[n++] = (struct CMUnitTest){.name = "datagram_specifics", .test_func = test_datagram_specifics};
    tests[n++] = (struct CMUnitTest){.name = "parse_details", .test_func = test_parse_details};
    return _cmocka_run_group_tests("rfc4475", tests, n, NULL, NULL);
}
