/* Module resources of the management API: see mgmt_modules.h. */
#include "config.h"

#include "http/mgmt_modules.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_jobs.h"
#include "strbuf.h"

#define API_PREFIX "/api/v1/"
#define MODULE_JOB_TIMEOUT_MS 2000
#define MAX_ROUTES 64

typedef struct module_route {
    char path[64];
    sw_module_t *mod;
    sw_http_fn fn;
} module_route_t;

static module_route_t routes[MAX_ROUTES];
static atomic_size_t n_routes; /* published after its entry is written */

/* Resources of the core: a module may not shadow them. */
static const char *const core_paths[] = {"calls", "gateways", "modules", "reload", "blocked", NULL};

int sw_mgmt_module_route(sw_module_t *self, const char *path, sw_http_fn fn)
{
    size_t n = atomic_load(&n_routes);
    if (!self || !fn || !path || !*path || n == MAX_ROUTES || strlen(path) >= sizeof routes[0].path)
        return -1;
    if (path[0] == '/' || path[strlen(path) - 1] == '/' || strstr(path, "//") ||
        strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789_-/") != strlen(path))
        return -1;
    for (const char *const *p = core_paths; *p; p++) {
        size_t k = strlen(*p);
        if (strncmp(path, *p, k) == 0 && (path[k] == '\0' || path[k] == '/'))
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(routes[i].path, path) == 0)
            return -1;
    snprintf(routes[n].path, sizeof routes[n].path, "%s", path);
    routes[n].mod = self;
    routes[n].fn = fn;
    atomic_store(&n_routes, n + 1);
    return 0;
}

void sw_mgmt_module_routes_clear(void)
{
    atomic_store(&n_routes, 0);
}

/* One request handed to the loop thread; shared with the HTTP thread, which
 * may give up waiting (the loop then still frees it through `refs`). */
typedef struct module_job {
    atomic_int refs;
    atomic_bool abandoned;
    const module_route_t *route;
    char method[8];
    char *rest, *query;
    int status;
    char *body;
} module_job_t;

static void job_unref(module_job_t *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        free(j->rest);
        free(j->query);
        free(j->body);
        free(j);
    }
}

static void run_job(void *arg)
{
    module_job_t *j = arg;
    if (atomic_load(&j->abandoned))
        return;
    j->status = j->route->fn(j->route->mod, j->method, j->rest, j->query, &j->body);
}

static void release_job(void *arg)
{
    job_unref(arg);
}

static enum MHD_Result append_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    sw_strbuf_t *b = cls;
    sw_strbuf_printf(b, "%s%s=%s", b->len ? "&" : "", key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body ? body : (char *)"",
                                                             body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (len)
        MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

bool sw_mgmt_module_serve(struct MHD_Connection *c, const char *url, const char *method,
                          enum MHD_Result *result)
{
    if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) != 0)
        return false;
    const char *path = url + strlen(API_PREFIX);
    const module_route_t *best = NULL;
    size_t best_len = 0;
    size_t count = atomic_load(&n_routes);
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(routes[i].path);
        if (n > best_len && strncmp(path, routes[i].path, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
            best = &routes[i];
            best_len = n;
        }
    }
    if (!best)
        return false;
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0) {
        *result = respond_text(c, 405, "application/json", strdup("{\"error\":\"use GET, POST or DELETE\"}"));
        return true;
    }
    module_job_t *j = calloc(1, sizeof *j);
    sw_strbuf_t q = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, append_arg, &q);
    if (!j || !(j->rest = strdup(path + best_len)) || !(j->query = strdup(q.s ? q.s : ""))) {
        free(q.s);
        if (j) {
            free(j->rest);
            free(j);
        }
        *result = respond_text(c, 500, "application/json", NULL);
        return true;
    }
    free(q.s);
    atomic_init(&j->refs, 2);
    atomic_init(&j->abandoned, false);
    j->route = best;
    snprintf(j->method, sizeof j->method, "%s", method);
    if (sw_loop_run_sync(run_job, j, release_job, MODULE_JOB_TIMEOUT_MS) != 0) {
        atomic_store(&j->abandoned, true);
        job_unref(j);
        *result = respond_text(c, 503, "application/json", strdup("{\"error\":\"signaling loop busy\"}"));
        return true;
    }
    int status = j->status >= 100 && j->status <= 599 ? j->status : 500;
    char *body = j->body;
    j->body = NULL;
    job_unref(j);
    *result = respond_text(c, (unsigned)status, "application/json", body);
    return true;
}
