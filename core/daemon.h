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

/* Reloads cfg and script (call on the signaling thread; it never waits
 * there for DNS). The cfg is read and checked at once; the gateway names it
 * needs are resolved on libuv's worker threads; then it applies or is
 * refused, and done(rc, errs, ud) runs on the loop: rc 0 when applied (errs
 * then holds the refusals of modules that kept their old settings, if any),
 * -1 when refused (nothing changed), with the reasons in errs (done may move
 * them out). Reloads run one at a time, in the order asked; a request from
 * the same done and ud as one not begun yet is merged with it (SIGHUPs in a
 * row: one reload, one answer). At shutdown every waiting done gets -1. */
typedef void (*sw_reload_done_fn)(int rc, sw_errors_t *errs, void *ud);
void sw_daemon_reload(const char *trigger, sw_reload_done_fn done, void *ud);

const struct sw_modules *sw_daemon_modules(void);
uint64_t sw_daemon_uptime_seconds(void);

#endif
