/*
 * session_timer's parameters (PARAMETERS.md section 2) and the copy of
 * their values into typed settings at init and reload, so that the call path
 * never reads a cfg view.
 *
 * Per leg the switch uses the settings of the leg's cfg object, falling back
 * to [session_timer], then to the defaults:
 *   the gateway leg: [gateway NAME] of the attempt's routing gateway;
 *   the caller's leg: [mapping NAME] of the call's source, or [account NAME]
 *   when the call came from a registered account.
 * Only what makes sense per leg can be set there: session_ttl,
 * session_refresh_method and session_timer (on/off). The rest is global.
 *
 * Intervals below RFC 4028's 90 s (and below the VOS3000 ranges) are
 * refused unless allow_short_intervals is On: the descriptors carry wide
 * ranges and st_config_load() applies the real floors, naming file:line.
 */
#ifndef SESSION_TIMER_PARAMS_H
#define SESSION_TIMER_PARAMS_H

#include <sipswitch/module.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const sw_param_t session_timer_params[];

/* RFC 4028 4/5: no interval below 90 s without the opt-in. */
#define ST_RFC_MIN_INTERVAL_S 90u
/* SS_SIP_NO_TIMER_REINVITE_INTERVAL's VOS3000 floor. */
#define ST_MIN_NO_TIMER_INTERVAL_S 60u

typedef enum {
    ST_METHOD_AUTO = 0,   /* UPDATE when the peer's Allow lists it, else re-INVITE */
    ST_METHOD_UPDATE,     /* always UPDATE (re-INVITE after a 501/405) */
    ST_METHOD_INVITE      /* always re-INVITE */
} st_method_t;

/* What may differ per leg. */
typedef struct st_leg_settings {
    bool enabled;               /* session_timer: Off leaves the leg alone entirely */
    uint32_t session_ttl_s;     /* session_ttl (SS_SIP_SESSION_TTL) */
    st_method_t method;         /* session_refresh_method */
} st_leg_settings_t;

typedef struct st_named_settings {
    char *name;
    st_leg_settings_t settings;
} st_named_settings_t;

/* Object scopes with per-leg settings, as indexes into st_config_t.objects. */
enum { ST_OBJ_GATEWAY = 0, ST_OBJ_MAPPING, ST_OBJ_ACCOUNT, ST_OBJ_KINDS };

typedef struct st_config {
    st_leg_settings_t global;
    uint32_t min_se_s;          /* min_se */
    uint32_t segment;           /* session_update_segment (SS_SIP_SESSION_UPDATE_SEGMENT) */
    uint32_t early_hangup_ms;   /* session_timeout_early_hangup (SS_SIP_SESSION_TIMEOUT_EARLY_HANGUP) */
    uint64_t no_timer_ms;       /* no_timer_reinvite_interval (SS_SIP_NO_TIMER_REINVITE_INTERVAL) */
    bool allow_short;           /* allow_short_intervals */
    st_named_settings_t *objects[ST_OBJ_KINDS]; /* sorted by name */
    size_t n_objects[ST_OBJ_KINDS];
} st_config_t;

/* Copies the module's view into `out` (overwritten) and checks what the
 * descriptors cannot: the RFC floors unless allow_short_intervals, whole
 * seconds where a header carries the value, session_ttl >= min_se. On an
 * error returns -1 with "file:line: why" in err (out is then freed). When a
 * short interval is accepted through the opt-in, warn says which (empty
 * otherwise). Memory comes from api->calloc/strdup. */
int st_config_load(const sw_api_t *api, const sw_config_t *module_cfg, st_config_t *out, char *err, size_t err_len,
                   char *warn, size_t warn_len);
void st_config_free(const sw_api_t *api, st_config_t *conf);

/* The settings of object `name` in one of the ST_OBJ_* kinds; NULL when
 * there is no such section. O(log n). */
const st_leg_settings_t *st_config_object(const st_config_t *conf, int kind, const char *name);

#endif
