/* The configuration file: INI read with inih, sections resolved against the
 * parameter descriptors of the core and of every loaded module.
 *
 * Reading is in phases because modules declare parameters: read the file,
 * register the core's descriptors and resolve [core] (which names the modules
 * to load), register each loaded module's descriptors, then resolve the rest.
 * Every problem becomes an entry "file:line: reason" in an error list; nothing
 * stops at the first error. */
#ifndef SW_CFG_CONFIG_H
#define SW_CFG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cfg/params.h"
#include "sipswitch/module.h"

typedef struct sw_errors {
    char **items;
    size_t count;
} sw_errors_t;

void sw_errors_add(sw_errors_t *e, const char *file, int line, const char *fmt, ...) SW_PRINTF(4, 5);
void sw_errors_clear(sw_errors_t *e);

typedef struct sw_cfg sw_cfg_t;

/* Sections whose lines are not parameters but a small language the core
 * reads itself, in file order: [dialplan NAME] (call/dialplan.c). Their
 * scope bits live above the public SW_SCOPE_* ones (module.h), so no
 * parameter can claim them; a key may repeat in them ("rule = ..."). */
#define SW_CFG_SCOPE_DIALPLAN (1u << 16)
#define SW_CFG_RAW_SCOPES SW_CFG_SCOPE_DIALPLAN

/* One "key = value" line as read. */
typedef struct sw_cfg_line {
    char *key;
    char *value;
    int line;
} sw_cfg_line_t;

/* Reads the file (NULL + an error if it cannot be read). Syntax errors are
 * added to errs but a structure is still returned so later phases can report
 * more. */
sw_cfg_t *sw_cfg_read(const char *path, sw_errors_t *errs);
/* Same from memory; `name` is used in error messages as the file name. */
sw_cfg_t *sw_cfg_read_string(const char *name, const char *text, sw_errors_t *errs);
void sw_cfg_free(sw_cfg_t *cfg);

/* Declares the parameters of an owner ("core" or a module name). A descriptor
 * that is itself wrong (bad default, no name, duplicate) is an error of the
 * owner, reported without file:line. */
int sw_cfg_add_owner(sw_cfg_t *cfg, const char *owner, const sw_param_t *params, sw_errors_t *errs);
/* Resolves the global section of one owner ([core] or [<module>]). */
int sw_cfg_resolve_owner(sw_cfg_t *cfg, const char *owner, sw_errors_t *errs);
/* Resolves every section not resolved yet; unknown sections and keys are errors. */
int sw_cfg_resolve_all(sw_cfg_t *cfg, sw_errors_t *errs);

/* The global view of an owner, for its init/reload and the param getters. */
const sw_config_t *sw_cfg_view(const sw_cfg_t *cfg, const char *owner);
const char *sw_cfg_path(const sw_cfg_t *cfg);
/* The file a view's values come from (for file:line errors). */
const char *sw_config_file(const sw_config_t *view);
/* A path from cfg: absolute as is, relative to the cfg file's directory. */
char *sw_cfg_path_resolve(const sw_cfg_t *cfg, const char *path);
/* Where a key of an owner's global section was written (line 0 if default). */
int sw_cfg_line_of(const sw_config_t *view, const char *name);

/* Getters behind sw_api_t.param_* (see module.h). Unknown names give 0/NULL. */
const sw_value_t *sw_config_value(const sw_config_t *view, const char *name);
int64_t sw_config_int(const sw_config_t *view, const char *name);
const char *sw_config_str(const sw_config_t *view, const char *name);
size_t sw_config_list_len(const sw_config_t *view, const char *name);
int64_t sw_config_list_int(const sw_config_t *view, const char *name, size_t i);
const char *sw_config_list_str(const sw_config_t *view, const char *name, size_t i);
int sw_config_is_set(const sw_config_t *view, const char *name);
size_t sw_config_object_count(const sw_config_t *view, unsigned scope);
const char *sw_config_object_name(const sw_config_t *view, unsigned scope, size_t i);
const sw_config_t *sw_config_object(const sw_config_t *view, unsigned scope, const char *name);

/* The sections of a raw scope (SW_CFG_SCOPE_DIALPLAN), in file order:
 * count, then the i-th's name, header line and lines (NULL past the end). */
size_t sw_cfg_raw_count(const sw_cfg_t *cfg, unsigned scope);
const char *sw_cfg_raw_section(const sw_cfg_t *cfg, unsigned scope, size_t i, int *line,
                               const sw_cfg_line_t **lines, size_t *n_lines);

/* Name of an object section kind ("gateway") for a scope bit, or NULL. */
const char *sw_scope_section_kind(unsigned scope);

/* Every declared parameter, for --dump-params: calls fn per owner/param. */
typedef void (*sw_param_visit_fn)(const char *owner, const sw_param_t *p, const sw_value_t *def, void *ud);
void sw_cfg_visit_params(const sw_cfg_t *cfg, sw_param_visit_fn fn, void *ud);

#endif
