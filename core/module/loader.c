/* Module loading. Modules are opened with local symbols (RTLD_LOCAL) so two
 * modules can never bind to each other's symbols, and they link against no
 * core symbol: everything goes through the sw_api_t table. */
#include "config.h"

#include "module/loader.h"

#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "lua/engine.h"

static int ltdl_users;

static void ltdl_ref(void)
{
    if (ltdl_users++ == 0)
        lt_dlinit();
}

static void ltdl_unref(void)
{
    if (--ltdl_users == 0)
        lt_dlexit();
}

static lt_dlhandle open_local(const char *path)
{
    lt_dladvise advise;
    if (lt_dladvise_init(&advise))
        return NULL;
    lt_dladvise_local(&advise);
    lt_dlhandle h = lt_dlopenadvise(path, advise);
    lt_dladvise_destroy(&advise);
    return h;
}

/* The fields every 1.x descriptor has: a smaller struct is not a 1.x module. */
#define DESC_V1_MIN_SIZE (offsetof(sw_module_desc_t, destroy) + sizeof(void (*)(void)))

sw_module_t *sw_module_open_path(const char *path, char *err, size_t errlen)
{
    ltdl_ref();
    lt_dlhandle h = open_local(path);
    if (!h) {
        const char *why = lt_dlerror();
        snprintf(err, errlen, "%s: cannot load: %s", path, why ? why : "unknown error");
        ltdl_unref();
        return NULL;
    }
    typedef const sw_module_desc_t *(*entry_fn)(void);
    entry_fn entry = (entry_fn)(uintptr_t)lt_dlsym(h, SW_MODULE_ENTRY_SYMBOL);
    const sw_module_desc_t *d = entry ? entry() : NULL;
    const char *problem = NULL;
    char buf[512];
    if (!entry) {
        problem = "not a sipswitch module (no " SW_MODULE_ENTRY_SYMBOL " symbol)";
    } else if (!d) {
        problem = SW_MODULE_ENTRY_SYMBOL " returned no descriptor";
    } else if (d->abi_major != SW_ABI_MAJOR) {
        snprintf(buf, sizeof buf,
                 "module '%s' was built for module ABI %u.%u but this sipswitch provides ABI %d.%d "
                 "(major versions differ): rebuild the module against this sipswitch's <sipswitch/module.h>",
                 d->name ? d->name : "?", d->abi_major, d->abi_minor, SW_ABI_MAJOR, SW_ABI_MINOR);
        problem = buf;
    } else if (d->abi_minor > SW_ABI_MINOR) {
        snprintf(buf, sizeof buf,
                 "module '%s' needs module ABI %u.%u but this sipswitch provides only %d.%d "
                 "(the module was built against a newer sipswitch): upgrade sipswitch, or rebuild the "
                 "module against this version's <sipswitch/module.h>",
                 d->name ? d->name : "?", d->abi_major, d->abi_minor, SW_ABI_MAJOR, SW_ABI_MINOR);
        problem = buf;
    } else if (d->size < DESC_V1_MIN_SIZE) {
        snprintf(buf, sizeof buf, "descriptor too small (%u bytes, ABI 1.0 has %zu): not built from module.h",
                 d->size, (size_t)DESC_V1_MIN_SIZE);
        problem = buf;
    } else if (!d->name || !*d->name) {
        problem = "descriptor has no name";
    }
    if (problem) {
        snprintf(err, errlen, "%s: %s", path, problem);
        lt_dlclose(h);
        ltdl_unref();
        return NULL;
    }
    sw_module_t *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->handle = h;
    m->path = strdup(path);
    size_t n = d->size < sizeof m->desc ? d->size : sizeof m->desc;
    memcpy(&m->desc, d, n);
    m->desc.size = sizeof m->desc;
    m->name = strdup(m->desc.name);
    if (m->desc.hooks) {
        const sw_hooks_t *hk = m->desc.hooks;
        size_t hn = hk->size < sizeof m->hooks ? hk->size : sizeof m->hooks;
        memcpy(&m->hooks, hk, hn);
    }
    m->hooks.size = sizeof m->hooks;
    return m;
}

void sw_module_close(sw_module_t *m)
{
    if (!m)
        return;
    if (m->handle) {
        lt_dlclose((lt_dlhandle)m->handle);
        ltdl_unref();
    }
    for (size_t i = 0; i < m->n_apis; i++)
        free(m->apis[i].name);
    free(m->apis);
    free(m->name);
    free(m->path);
    free(m);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/NAME.la, DIR/NAME.so, DIR/NAME/NAME.la, DIR/NAME/NAME.so: the last two
 * find modules inside a build tree (modules/<name>/<name>.la). */
static char *find_module_file(const char *dir, const char *name)
{
    static const char *const exts[] = {".la", ".so"};
    char path[4096];
    for (int nested = 0; nested < 2; nested++)
        for (size_t i = 0; i < 2; i++) {
            if (nested)
                snprintf(path, sizeof path, "%s/%s/%s%s", dir, name, name, exts[i]);
            else
                snprintf(path, sizeof path, "%s/%s%s", dir, name, exts[i]);
            if (file_exists(path))
                return strdup(path);
        }
    return NULL;
}

static char *search_module(const char *search_path, const char *module_dir, const char *name)
{
    if (search_path) {
        char *copy = strdup(search_path), *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            char *found = find_module_file(dir, name);
            if (found) {
                free(copy);
                return found;
            }
        }
        free(copy);
    }
    return module_dir ? find_module_file(module_dir, name) : NULL;
}

sw_module_t *sw_modules_find(const sw_modules_t *ms, const char *name)
{
    for (size_t i = 0; i < ms->count; i++)
        if (strcmp(ms->mods[i]->name, name) == 0)
            return ms->mods[i];
    return NULL;
}

/* Depth-first placement: each module after everything it requires. */
static int order_visit(sw_module_t **in, size_t n, sw_module_t *m, char *state, sw_module_t **out,
                       size_t *n_out, const char *file, int line, sw_errors_t *errs)
{
    size_t idx = 0;
    while (in[idx] != m)
        idx++;
    if (state[idx] == 2)
        return 0;
    if (state[idx] == 1) {
        sw_errors_add(errs, file, line, "module '%s': circular 'requires'", m->name);
        return -1;
    }
    state[idx] = 1;
    for (const char *const *r = m->desc.requires; r && *r; r++) {
        sw_module_t *dep = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(in[i]->name, *r) == 0)
                dep = in[i];
        if (!dep) {
            sw_errors_add(errs, file, line, "module '%s' requires module '%s': add it to 'load'", m->name, *r);
            state[idx] = 2;
            return -1;
        }
        if (order_visit(in, n, dep, state, out, n_out, file, line, errs))
            return -1;
    }
    state[idx] = 2;
    out[(*n_out)++] = m;
    return 0;
}

static void build_hook_lists(sw_modules_t *ms)
{
    for (int h = 0; h < SW_HOOK_COUNT; h++) {
        free(ms->by_hook[h]);
        ms->by_hook[h] = calloc(ms->count + 1, sizeof(sw_module_t *));
        ms->n_by_hook[h] = 0;
    }
    for (size_t i = 0; i < ms->count; i++) {
        const sw_hooks_t *hk = &ms->mods[i]->hooks;
        const void *fns[SW_HOOK_COUNT] = {
            (const void *)(uintptr_t)hk->on_request, (const void *)(uintptr_t)hk->on_register,
            (const void *)(uintptr_t)hk->on_call_new, (const void *)(uintptr_t)hk->on_route,
            (const void *)(uintptr_t)hk->on_leg_request, (const void *)(uintptr_t)hk->on_leg_response,
            (const void *)(uintptr_t)hk->on_sdp, (const void *)(uintptr_t)hk->on_answer,
            (const void *)(uintptr_t)hk->on_call_end, (const void *)(uintptr_t)hk->on_rtp,
            (const void *)(uintptr_t)hk->on_attempt_start, (const void *)(uintptr_t)hk->on_attempt_end,
            (const void *)(uintptr_t)hk->on_caller_response, (const void *)(uintptr_t)hk->on_dialog_request,
            (const void *)(uintptr_t)hk->on_caller_request};
        for (int h = 0; h < SW_HOOK_COUNT; h++)
            if (fns[h])
                ms->by_hook[h][ms->n_by_hook[h]++] = ms->mods[i];
    }
    /* stable insertion sort by priority: ties keep initialisation order */
    for (int h = 0; h < SW_HOOK_COUNT; h++) {
        sw_module_t **a = ms->by_hook[h];
        for (size_t i = 1; i < ms->n_by_hook[h]; i++) {
            sw_module_t *x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1]->hooks.priority > x->hooks.priority) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
    }
}

int sw_modules_open(sw_modules_t *ms, char *const *names, size_t n, const char *search_path,
                    const char *module_dir, const char *cfg_file, int load_line, sw_errors_t *errs)
{
    memset(ms, 0, sizeof *ms);
    sw_module_t **opened = calloc(n + 1, sizeof *opened);
    size_t n_opened = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = search_module(search_path, module_dir, names[i]);
        if (!path) {
            sw_errors_add(errs, cfg_file, load_line, "unknown module '%s': no %s.so or %s.la in %s%s%s",
                          names[i], names[i], names[i], search_path ? search_path : "",
                          search_path ? ":" : "", module_dir ? module_dir : "");
            rc = -1;
            continue;
        }
        char err[1024];
        sw_module_t *m = sw_module_open_path(path, err, sizeof err);
        free(path);
        if (!m) {
            sw_errors_add(errs, cfg_file, load_line, "module '%s': %s", names[i], err);
            rc = -1;
            continue;
        }
        if (strcmp(m->name, names[i]) != 0) {
            sw_errors_add(errs, cfg_file, load_line, "module '%s': file %s declares the name '%s'", names[i],
                          m->path, m->name);
            sw_module_close(m);
            rc = -1;
            continue;
        }
        opened[n_opened++] = m;
    }
    ms->mods = calloc(n_opened + 1, sizeof *ms->mods);
    char *state = calloc(n_opened + 1, 1);
    for (size_t i = 0; i < n_opened && rc == 0; i++)
        if (order_visit(opened, n_opened, opened[i], state, ms->mods, &ms->count, cfg_file, load_line, errs))
            rc = -1;
    if (rc) {
        for (size_t i = 0; i < n_opened; i++)
            sw_module_close(opened[i]);
        ms->count = 0;
    }
    free(state);
    free(opened);
    build_hook_lists(ms);
    return rc;
}

int sw_modules_declare_params(sw_modules_t *ms, sw_cfg_t *cfg, sw_errors_t *errs)
{
    int rc = 0;
    for (size_t i = 0; i < ms->count; i++)
        if (sw_cfg_add_owner(cfg, ms->mods[i]->name, ms->mods[i]->desc.params, errs))
            rc = -1;
    return rc;
}

int sw_modules_init(sw_modules_t *ms, const sw_cfg_t *cfg, sw_errors_t *errs)
{
    for (size_t i = 0; i < ms->count; i++) {
        sw_module_t *m = ms->mods[i];
        m->error[0] = '\0';
        if (m->desc.init && m->desc.init(m, sw_api_table(), sw_cfg_view(cfg, m->name)) != 0) {
            sw_errors_add(errs, NULL, 0, "module '%s': init failed: %s", m->name,
                          m->error[0] ? m->error : "(no reason given)");
            for (size_t j = i; j-- > 0;)
                if (ms->mods[j]->inited && ms->mods[j]->desc.destroy) {
                    ms->mods[j]->desc.destroy(ms->mods[j]);
                    ms->mods[j]->inited = false;
                }
            return -1;
        }
        m->inited = true;
    }
    return 0;
}

int sw_modules_start(sw_modules_t *ms, sw_errors_t *errs)
{
    for (size_t i = 0; i < ms->count; i++) {
        sw_module_t *m = ms->mods[i];
        m->error[0] = '\0';
        if (m->desc.start && m->desc.start(m) != 0) {
            sw_errors_add(errs, NULL, 0, "module '%s': start failed: %s", m->name,
                          m->error[0] ? m->error : "(no reason given)");
            return -1;
        }
        m->started = true;
    }
    return 0;
}

int sw_modules_reload(sw_modules_t *ms, const sw_cfg_t *cfg, sw_errors_t *errs)
{
    int refused = 0;
    for (size_t i = 0; i < ms->count; i++) {
        sw_module_t *m = ms->mods[i];
        m->error[0] = '\0';
        if (m->desc.reload && m->desc.reload(m, sw_cfg_view(cfg, m->name)) != 0) {
            sw_errors_add(errs, NULL, 0, "module '%s' refused the reload and keeps its old settings: %s", m->name,
                          m->error[0] ? m->error : "(no reason given)");
            refused++;
        }
    }
    return refused;
}

void sw_modules_stop(sw_modules_t *ms)
{
    for (size_t i = ms->count; i-- > 0;) {
        sw_module_t *m = ms->mods[i];
        if (m->inited && m->desc.stop)
            m->desc.stop(m);
    }
}

void sw_modules_shutdown(sw_modules_t *ms)
{
    for (size_t i = ms->count; i-- > 0;) {
        sw_module_t *m = ms->mods[i];
        if (m->inited && m->desc.destroy)
            m->desc.destroy(m);
        m->inited = false;
    }
    for (size_t i = ms->count; i-- > 0;)
        sw_module_close(ms->mods[i]);
    for (int h = 0; h < SW_HOOK_COUNT; h++)
        free(ms->by_hook[h]);
    free(ms->mods);
    memset(ms, 0, sizeof *ms);
}
