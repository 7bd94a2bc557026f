/* Logging: levels, stderr or syslog, a Call-ID on lines about a call.
 * Safe from any thread (one write per line). */
#ifndef SW_CORE_LOG_H
#define SW_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "sipswitch/module.h"

typedef enum { SW_LOG_TO_STDERR = 0, SW_LOG_TO_SYSLOG = 1 } sw_log_target_t;

void sw_log_setup(sw_log_target_t target, sw_log_level_t level);
void sw_log_set_level(sw_log_level_t level);
bool sw_log_enabled(sw_log_level_t level);
/* Parses "error", "warn", "notice", "info", "debug" (any case); -1 if unknown. */
int sw_log_level_parse(const char *s);
const char *sw_log_level_name(sw_log_level_t level);

/* `who` is a module name or NULL for the core; `call_id` may be NULL. */
void sw_logv(sw_log_level_t level, const char *who, const char *call_id, const char *fmt, va_list ap);
void sw_logf(sw_log_level_t level, const char *who, const char *call_id, const char *fmt, ...)
    SW_PRINTF(4, 5);

#define sw_error(...) sw_logf(SW_LOG_ERROR, NULL, NULL, __VA_ARGS__)
#define sw_warn(...) sw_logf(SW_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define sw_notice(...) sw_logf(SW_LOG_NOTICE, NULL, NULL, __VA_ARGS__)
#define sw_info(...) sw_logf(SW_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define sw_debug(...)                                                   \
    do {                                                                \
        if (sw_log_enabled(SW_LOG_DEBUG))                               \
            sw_logf(SW_LOG_DEBUG, NULL, NULL, __VA_ARGS__);             \
    } while (0)

#endif
