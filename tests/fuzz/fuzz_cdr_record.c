/* fuzz_cdr_record: the CDR journal's record decoder (modules/cdr/cdr_record.c).
 *
 * After a crash the store replays the journal, so cdr_record_decode() reads
 * whatever a torn or corrupted file holds: it must refuse garbage without
 * reading out of bounds, allocating without bound or leaking. A record it
 * accepts must also survive everything the store then does with it:
 *   - encode(decode(x)) == x when the encoder cut nothing (the format is
 *     canonical), and otherwise decode(encode(...)) must accept the cut
 *     record and encode to the same bytes again (a fixed point);
 *   - the CSV and VOS3000 formatters, with the record's own custom fields as
 *     extra columns, must produce lines (no crash, no failed buffer). */
#include "config.h"

#include <errno.h>

#include "cdr_record.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void format_everything(const cdr_record_t *r)
{
    /* the record's own field names as the operator's extra columns, plus
     * one that no record has */
    size_t n_extra = r->n_fields < 8 ? r->n_fields : 8;
    const char *extra[9];
    for (size_t i = 0; i < n_extra; i++)
        extra[i] = r->fields[i].name;
    extra[n_extra++] = "no,such \"column\"";

    cdr_buf_t b;
    cdr_buf_init(&b);
    cdr_format_csv_header(extra, n_extra, &b);
    cdr_format_csv(r, extra, n_extra, &b);
    cdr_format_vos(r, extra, n_extra, &b);
    cdr_format_attempts(r, &b);
    cdr_format_iso_time(r->setup_ms, &b);
    cdr_format_iso_time(r->end_ms, &b);
    FUZZ_CHECK(!b.failed, "formatting a decoded record failed");
    FUZZ_CHECK(b.data && strlen(b.data) <= b.len, "buffer not NUL-terminated");
    cdr_buf_free(&b);

    (void)cdr_end_reason_name(r->end_reason);
    (void)cdr_party_name(r->hung_up_by);
    (void)cdr_hold_time(r->answer_ms, r->end_ms, (int)(r->seq % 1000));
    /* the first field of a name is the one found (a journal may hold a
     * field without a value, or a name twice: the API never makes either) */
    for (size_t i = 0; i < r->n_fields; i++) {
        size_t first = 0;
        while (strcmp(r->fields[first].name, r->fields[i].name) != 0)
            first++;
        FUZZ_CHECK(cdr_record_field(r, r->fields[i].name) == r->fields[first].value, "field %zu not found by name",
                   i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    errno = 0;
    cdr_record_t *r = cdr_record_decode(data, size);
    if (!r) {
        FUZZ_CHECK(errno == EINVAL || errno == ENOMEM, "decode failed with errno %d", errno);
        return 0;
    }
    format_everything(r);

    cdr_buf_t once;
    cdr_buf_init(&once);
    bool cut = cdr_record_encode(r, &once);
    FUZZ_CHECK(!once.failed, "encode failed");
    if (!cut)
        FUZZ_CHECK(once.len == size && memcmp(once.data, data, size) == 0,
                   "encode(decode(x)) != x (%zu bytes vs %zu)", once.len, size);

    cdr_record_t *again = cdr_record_decode(once.data, once.len);
    FUZZ_CHECK(again != NULL, "decode(encode(decode(x))) refused (errno %d)", errno);
    cdr_buf_t twice;
    cdr_buf_init(&twice);
    FUZZ_CHECK(!cdr_record_encode(again, &twice), "a cut record was cut again");
    FUZZ_CHECK(twice.len == once.len && memcmp(twice.data, once.data, once.len) == 0,
               "encoding is not a fixed point");

    /* custom fields are set and replaced through the API too */
    if (again->n_fields) {
        FUZZ_CHECK(cdr_record_set_field(again, again->fields[0].name, "x") == 0, "set_field failed");
        FUZZ_CHECK(cdr_record_set_field(again, again->fields[0].name, NULL) == 0, "field removal failed");
    }
    cdr_attempt_t *a = cdr_record_add_attempt(again);
    FUZZ_CHECK(a != NULL, "add_attempt failed");
    format_everything(again);

    cdr_buf_free(&once);
    cdr_buf_free(&twice);
    cdr_record_free(again);
    cdr_record_free(r);
    return 0;
}
