/* The daemon's life: load cfg and modules, start, reload, shut down. */
#ifndef SW_DAEMON_H
#define SW_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg/config.h"

struct sw_modules;

typedef struct sw_daemon_options {
    const char *cfg_path;
    const char *module_path;   /* extra module search path (colon list), or NULL */
} sw_daemon_options_t;

/* --check: validates cfg (with the modules it loads) and the script; prints
 * every error as file:line: reason. Returns the exit status (0 or 1). */
int sw_daemon_check(const sw_daemon_options_t *o);
/* --dump-params: every parameter of the core and the loaded modules. */
int sw_daemon_dump_params(const sw_daemon_options_t *o, bool markdown);
/* Runs in the foreground until SIGTERM/SIGINT. Returns the exit status. */
int sw_daemon_run(const sw_daemon_options_t *o);

/* Reloads cfg and script (signaling thread only). 0 when applied (errs
 * then holds the refusals of modules that kept their old settings, if any);
 * -1 when refused (nothing changed), with the reasons in errs. */
int sw_daemon_reload(const char *trigger, sw_errors_t *errs);

const struct sw_modules *sw_daemon_modules(void);
uint64_t sw_daemon_uptime_seconds(void);

#endif
