/* Typed parameters: turning the text written in cfg into validated values,
 * driven by a module's (or the core's) sw_param_t descriptors. */
#ifndef SW_CFG_PARAMS_H
#define SW_CFG_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipswitch/module.h"

/* One validated value. Lists keep both forms: ints for INT_LIST/DURATION_LIST
 * (durations in ms), strings for every list. */
typedef struct sw_value {
    const sw_param_t *def;
    char *text;                 /* as written, or the default */
    int64_t num;                /* BOOL 0/1, INT, ENUM index, DURATION ms */
    int64_t *nums;              /* INT_LIST, DURATION_LIST */
    char **strs;                /* every list type: the trimmed items */
    size_t count;               /* items in the list */
    bool set;                   /* written in cfg (false: default) */
    const char *file;           /* where it was written (not owned) */
    int line;
} sw_value_t;

/* Parses `text` for descriptor p into out (which must be zeroed or cleared).
 * Returns 0, or -1 with a human reason in err ("expected On or Off, got 'x'"). */
int sw_param_parse(const sw_param_t *p, const char *text, sw_value_t *out, char *err, size_t errlen);
void sw_value_clear(sw_value_t *v);

/* Copies a descriptor from a module, which may be older (smaller) than ours:
 * fields it does not know are zero. */
void sw_param_normalize(const sw_param_t *in, sw_param_t *out);

/* Walks an array of size-prefixed structs ended by size == 0. */
#define SW_SIZED_NEXT(ptr) ((const void *)((const char *)(ptr) + *(const uint32_t *)(ptr)))

/* Number of descriptors in a size-prefixed array (NULL → 0). */
size_t sw_param_count(const sw_param_t *params);
/* The i-th descriptor of a size-prefixed array, normalized into out. */
void sw_param_at(const sw_param_t *params, size_t i, sw_param_t *out);

bool sw_param_has_range(const sw_param_t *p);
const char *sw_param_type_name(sw_param_type_t t);
/* "1–300 s", "On/Off", "Off/On/Auto/Must On", or "" — for docs and errors. */
void sw_param_describe_range(const sw_param_t *p, char *buf, size_t n);
/* Formats ms in the parameter's unit ("10 s", "500 ms", "0.5 s"). */
void sw_param_format_duration(const sw_param_t *p, int64_t ms, char *buf, size_t n);

/* Helpers shared with other parsers. */
int sw_parse_bool(const char *s, bool *out);
int sw_parse_int64(const char *s, int64_t *out);
/* Parses "10", "1.5s", "500ms", "2m", "1h"; a bare number is in default_unit
 * ("s" or "ms"). */
int sw_parse_duration_ms(const char *s, const char *default_unit, int64_t *out_ms);

#endif
