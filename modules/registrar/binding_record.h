/* A binding's fields that the db keeps in one blob (persist.c: one value to
 * bind and store per row instead of eleven, which is most of SQLite's work
 * per row): a layout byte, the numbers in fixed little-endian widths, then
 * the AOR, Call-ID, source and User-Agent, each NUL-terminated.
 *
 * Pure functions over (bytes, len): reading refuses what it did not write
 * (another layout, a short or unterminated record) and never reads past
 * len. */
#ifndef REGISTRAR_BINDING_RECORD_H
#define REGISTRAR_BINDING_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "persist.h"

/* Bytes the record of row takes (its strings NULL count as ""). */
size_t reg_record_size(const reg_persist_row_t *row);

/* Writes the record into out[reg_record_size(row)]. */
void reg_record_write(const reg_persist_row_t *row, unsigned char *out);

/* Fills the record's fields of row (aor, call_id, source, user_agent point
 * into rec; user, contact, id and expiry are left alone). 0, or -1. */
int reg_record_read(const unsigned char *rec, size_t len, reg_persist_row_t *row);

#endif
