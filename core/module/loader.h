/* Loading modules: libltdl with local symbols, ABI version checks,
 * `requires` ordering, lifecycle and the per-hook dispatch lists. */
#ifndef SW_MODULE_LOADER_H
#define SW_MODULE_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg/config.h"
#include "sipswitch/module.h"

typedef struct sw_exported_api {
    char *name;
    const void *table;
} sw_exported_api_t;

/* Defines the opaque sw_module_t of module.h. */
struct sw_module {
    char *name;
    char *path;
    void *handle;               /* lt_dlhandle */
    sw_module_desc_t desc;      /* normalized copy of the module's descriptor */
    sw_hooks_t hooks;           /* normalized copy; all NULL when none */
    void *data;                 /* api->set_data */
    char error[512];            /* api->set_error */
    bool inited;
    bool started;
    sw_exported_api_t *apis;
    size_t n_apis;
};

/* Hooks that can be dispatched (one list each, sorted by priority). */
typedef enum {
    SW_HOOK_ON_REQUEST, SW_HOOK_ON_REGISTER, SW_HOOK_ON_CALL_NEW, SW_HOOK_ON_ROUTE,
    SW_HOOK_ON_LEG_REQUEST, SW_HOOK_ON_LEG_RESPONSE, SW_HOOK_ON_SDP, SW_HOOK_ON_ANSWER,
    SW_HOOK_ON_CALL_END, SW_HOOK_ON_RTP, SW_HOOK_ON_ATTEMPT_START, SW_HOOK_ON_ATTEMPT_END,
    SW_HOOK_ON_CALLER_RESPONSE, SW_HOOK_ON_DIALOG_REQUEST, SW_HOOK_ON_CALLER_REQUEST, SW_HOOK_COUNT
} sw_hook_id_t;

typedef struct sw_modules {
    sw_module_t **mods;         /* in initialisation order (requires first) */
    size_t count;
    sw_module_t **by_hook[SW_HOOK_COUNT];
    size_t n_by_hook[SW_HOOK_COUNT];
} sw_modules_t;

/* Opens one module file and checks its ABI. The message names the file and,
 * when known, the module, and says what to do. */
sw_module_t *sw_module_open_path(const char *path, char *err, size_t errlen);
void sw_module_close(sw_module_t *m);

/* Opens every module named in `names`, searching `search_path` (colon list,
 * may be NULL) then `module_dir`, each as DIR/NAME(.la|.so) or
 * DIR/NAME/NAME(.la|.so). Orders them by `requires`. Errors carry
 * cfg_file:load_line. */
int sw_modules_open(sw_modules_t *ms, char *const *names, size_t n, const char *search_path,
                    const char *module_dir, const char *cfg_file, int load_line, sw_errors_t *errs);
/* Declares each module's parameters to cfg. */
int sw_modules_declare_params(sw_modules_t *ms, sw_cfg_t *cfg, sw_errors_t *errs);
/* init() in order; on a failure the modules already initialised are
 * destroyed and the error names the failing module and its reason. */
int sw_modules_init(sw_modules_t *ms, const sw_cfg_t *cfg, sw_errors_t *errs);
int sw_modules_start(sw_modules_t *ms, sw_errors_t *errs);
/* reload() on each module with its new view; returns how many refused. */
int sw_modules_reload(sw_modules_t *ms, const sw_cfg_t *cfg, sw_errors_t *errs);
/* Shutdown begins: the stop hook (1.1) of each initialised module, reverse
 * init order, while the sockets are still open. */
void sw_modules_stop(sw_modules_t *ms);
/* destroy() in reverse order, then unloads. */
void sw_modules_shutdown(sw_modules_t *ms);

sw_module_t *sw_modules_find(const sw_modules_t *ms, const char *name);

/* The API table handed to modules (api.c). */
const sw_api_t *sw_api_table(void);
/* The module list import_api searches (set by the daemon). */
void sw_api_set_modules(const sw_modules_t *ms);

#endif
