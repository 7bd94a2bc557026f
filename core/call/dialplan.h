/* Dial plans: named, ordered lists of number-rewriting rules, written in
 * cfg as [dialplan NAME] sections of "rule = ..." lines:
 *
 *   rule = [if prefix TEXT | if regex ERE] ACTION [stop]
 *   rule = [if prefix TEXT | if regex ERE] stop
 *   ACTION = strip N | strip prefix TEXT | add TEXT | replace ERE REPLACEMENT
 *
 * One implementation for every user: the privacy module's caller_dial_plan
 * (through sw_api_t.dialplan_apply) and the route script
 * (sw.dialplan.apply). doc/lua-api.md, "Dial plans", is the reference of
 * the language.
 *
 * A cfg load compiles every plan once (regexes included) and reports each
 * bad rule as "file:line: reason"; applying a plan then works in two stack
 * buffers, with no allocation of its own. */
#ifndef SW_CALL_DIALPLAN_H
#define SW_CALL_DIALPLAN_H

#include <stddef.h>

#include "cfg/config.h"

struct lua_State;

/* Longest number a plan takes or gives, in characters. A result that would
 * be longer is refused, never cut: a truncated number is a wrong number. */
#define SW_DIALPLAN_MAX_NUMBER 127
/* Most rules in one plan; most characters of one regex (a cfg line holds
 * at most 198). */
#define SW_DIALPLAN_MAX_RULES 256
#define SW_DIALPLAN_MAX_REGEX 128

typedef struct sw_dialplan sw_dialplan_t;
typedef struct sw_dialplans sw_dialplans_t;

typedef enum {
    SW_DIALPLAN_OK = 0,
    SW_DIALPLAN_UNKNOWN = -1,    /* no plan of that name */
    SW_DIALPLAN_TOO_LONG = -2    /* the number, a step or the result is longer than allowed */
} sw_dialplan_result_t;

/* Compiles every [dialplan NAME] section of cfg. Each bad line is added to
 * errs as "file:line: [dialplan NAME] reason" and left out; never NULL. */
sw_dialplans_t *sw_dialplans_build(const sw_cfg_t *cfg, sw_errors_t *errs);
void sw_dialplans_free(sw_dialplans_t *set);

size_t sw_dialplans_count(const sw_dialplans_t *set);
const sw_dialplan_t *sw_dialplans_find(const sw_dialplans_t *set, const char *name);

/* Rewrites `number` through `plan` into out (NUL-terminated). TOO_LONG when
 * the number or any intermediate result exceeds SW_DIALPLAN_MAX_NUMBER or
 * the result does not fit outlen; out is then "". */
sw_dialplan_result_t sw_dialplan_apply(const sw_dialplan_t *plan, const char *number, char *out, size_t outlen);

/* The set in force for the script and the modules. The daemon installs a
 * cfg's set before the modules and the script see that cfg (start-up,
 * --check, reload) and puts the old one back when a reload is refused. */
void sw_dialplans_activate(const sw_dialplans_t *set);

/* sw_api_t.dialplan_apply: the active set's plan `name`. 0, or -1 for an
 * unknown plan or a result that does not fit. With number NULL it only
 * says whether the plan exists (0) or not (-1). */
int sw_dialplan_api_apply(const char *name, const char *number, char *out, size_t outlen);

/* Pushes the `sw.dialplan` table (apply) onto the Lua stack. */
int sw_dialplan_lua_open(struct lua_State *L);

#endif
