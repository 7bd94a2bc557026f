/* A growable text buffer for the registrar's JSON answers on the
 * management API: printf-style appends and JSON string escaping. */
#ifndef REGISTRAR_JSON_BUF_H
#define REGISTRAR_JSON_BUF_H

#include <stddef.h>

typedef struct reg_json {
    char *data;   /* NUL-terminated, never NULL after the first append */
    size_t len, cap;
} reg_json_t;

void reg_json_printf(reg_json_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string, quotes included ("null" for NULL). */
void reg_json_string(reg_json_t *j, const char *s);
void reg_json_free(reg_json_t *j);

#endif
