/*
 * The keep-alive wheel (schedule.h): slots over the period, devices in
 * doubly linked lists per slot, and the slots themselves in lists by load
 * so that the least loaded one is always at hand.
 */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint32_t head;       /* first device, KA_NONE when empty */
    uint32_t load;       /* devices in it */
    uint32_t lvl_prev;   /* neighbours in the list of slots with the same load */
    uint32_t lvl_next;
} slot_t;

typedef struct link {
    uint32_t prev, next; /* neighbours in the slot's device list */
    uint32_t slot;       /* KA_NONE: not in the wheel */
} link_t;

struct ka_sched {
    uint64_t period_ms;
    uint32_t n_slots;
    slot_t *slots;
    /* slots by load: level L lists the slots holding L devices, in the
     * order new devices should fill them */
    uint32_t *lvl_head, *lvl_tail;
    uint32_t n_levels;   /* capacity of lvl_head/lvl_tail */
    uint32_t min_level;  /* lowest non-empty level */
    uint32_t max_level;  /* highest non-empty level */
    link_t *links;       /* per device id */
    uint32_t n_links;    /* capacity */
    size_t count;
    /* the clock */
    bool running;
    uint64_t epoch_ms;   /* when global slot 0 was due */
    uint64_t next_g;     /* the next global slot to visit (pass * n_slots + slot) */
    /* passes */
    uint64_t pass_start_ms, pass_visits;
    ka_pass_t last;
};

/* ---- slots by load ------------------------------------------------------------------ */

static int ensure_levels(ka_sched_t *s, uint32_t level)
{
    if (level < s->n_levels)
        return 0;
    uint32_t n = s->n_levels ? s->n_levels : 4;
    while (n <= level)
        n *= 2;
    uint32_t *h = realloc(s->lvl_head, n * sizeof *h);
    if (!h)
        return -1;
    s->lvl_head = h;
    uint32_t *t = realloc(s->lvl_tail, n * sizeof *t);
    if (!t)
        return -1;
    s->lvl_tail = t;
    for (uint32_t i = s->n_levels; i < n; i++)
        s->lvl_head[i] = s->lvl_tail[i] = KA_NONE;
    s->n_levels = n;
    return 0;
}

static void level_unlink(ka_sched_t *s, uint32_t si)
{
    slot_t *sl = &s->slots[si];
    uint32_t L = sl->load;
    if (sl->lvl_prev != KA_NONE)
        s->slots[sl->lvl_prev].lvl_next = sl->lvl_next;
    else
        s->lvl_head[L] = sl->lvl_next;
    if (sl->lvl_next != KA_NONE)
        s->slots[sl->lvl_next].lvl_prev = sl->lvl_prev;
    else
        s->lvl_tail[L] = sl->lvl_prev;
    sl->lvl_prev = sl->lvl_next = KA_NONE;
}

/* Into the list of the slot's load: at the tail after an add (the fill
 * order is kept), at the head after a removal (the slot a removal left
 * emptier is refilled before the others of its level). */
static void level_push(ka_sched_t *s, uint32_t si, bool at_head)
{
    slot_t *sl = &s->slots[si];
    uint32_t L = sl->load;
    uint32_t *near = at_head ? &s->lvl_head[L] : &s->lvl_tail[L];
    uint32_t *far = at_head ? &s->lvl_tail[L] : &s->lvl_head[L];
    sl->lvl_prev = at_head ? KA_NONE : *near;
    sl->lvl_next = at_head ? *near : KA_NONE;
    if (*near != KA_NONE) {
        slot_t *neighbour = &s->slots[*near];
        if (at_head)
            neighbour->lvl_prev = si;
        else
            neighbour->lvl_next = si;
    } else {
        *far = si;
    }
    *near = si;
}

/* The empty wheel's fill order: slot indexes by their bit-reversed value,
 * so that k devices land about n_slots / k slots apart for any k (0, 1/2,
 * 1/4, 3/4, 1/8, ... of the period). */
static void fill_order(ka_sched_t *s)
{
    unsigned bits = 0;
    while ((1u << bits) < s->n_slots)
        bits++;
    for (uint32_t i = 0; i < (1u << bits); i++) {
        uint32_t r = 0;
        for (unsigned b = 0; b < bits; b++)
            r |= ((i >> b) & 1u) << (bits - 1 - b);
        if (r < s->n_slots)
            level_push(s, r, false);
    }
}

/* ---- the wheel ---------------------------------------------------------------------- */

ka_sched_t *ka_sched_new(uint64_t period_ms)
{
    if (period_ms == 0)
        return NULL;
    ka_sched_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->period_ms = period_ms;
    uint64_t n = period_ms / KA_SLOT_MS;
    s->n_slots = n < 1 ? 1 : n > KA_MAX_SLOTS ? KA_MAX_SLOTS : (uint32_t)n;
    s->slots = malloc(s->n_slots * sizeof *s->slots);
    if (!s->slots || ensure_levels(s, 1) != 0) {
        ka_sched_free(s);
        return NULL;
    }
    for (uint32_t i = 0; i < s->n_slots; i++)
        s->slots[i] = (slot_t){.head = KA_NONE, .load = 0, .lvl_prev = KA_NONE, .lvl_next = KA_NONE};
    fill_order(s);
    return s;
}

void ka_sched_free(ka_sched_t *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s->lvl_head);
    free(s->lvl_tail);
    free(s->links);
    free(s);
}

uint64_t ka_sched_period_ms(const ka_sched_t *s) { return s->period_ms; }
uint32_t ka_sched_slots(const ka_sched_t *s) { return s->n_slots; }
size_t ka_sched_count(const ka_sched_t *s) { return s->count; }
uint32_t ka_sched_max_load(const ka_sched_t *s) { return s->max_level; }

uint32_t ka_sched_slot_ms(const ka_sched_t *s)
{
    uint64_t ms = s->period_ms / s->n_slots;
    return ms ? (uint32_t)ms : 1;
}

static int ensure_links(ka_sched_t *s, uint32_t id)
{
    if (id < s->n_links)
        return 0;
    uint32_t n = s->n_links ? s->n_links : 64;
    while (n <= id)
        n = n > UINT32_MAX / 2 ? UINT32_MAX : n * 2;
    link_t *l = realloc(s->links, (size_t)n * sizeof *l);
    if (!l)
        return -1;
    for (uint32_t i = s->n_links; i < n; i++)
        l[i] = (link_t){.prev = KA_NONE, .next = KA_NONE, .slot = KA_NONE};
    s->links = l;
    s->n_links = n;
    return 0;
}

bool ka_sched_contains(const ka_sched_t *s, uint32_t id)
{
    return id < s->n_links && s->links[id].slot != KA_NONE;
}

uint32_t ka_sched_slot_of(const ka_sched_t *s, uint32_t id)
{
    return id < s->n_links ? s->links[id].slot : KA_NONE;
}

uint32_t ka_sched_load(const ka_sched_t *s, uint32_t slot)
{
    return slot < s->n_slots ? s->slots[slot].load : 0;
}

uint32_t ka_sched_add(ka_sched_t *s, uint32_t id)
{
    if (id == KA_NONE || ka_sched_contains(s, id))
        return KA_NONE;
    uint32_t L = s->min_level;
    if (ensure_links(s, id) != 0 || ensure_levels(s, L + 1) != 0)
        return KA_NONE;
    uint32_t si = s->lvl_head[L];
    slot_t *sl = &s->slots[si];
    level_unlink(s, si);
    sl->load++;
    level_push(s, si, false);
    if (s->lvl_head[L] == KA_NONE)
        s->min_level = L + 1;
    if (sl->load > s->max_level)
        s->max_level = sl->load;
    link_t *ln = &s->links[id];
    ln->slot = si;
    ln->prev = KA_NONE;
    ln->next = sl->head;
    if (sl->head != KA_NONE)
        s->links[sl->head].prev = id;
    sl->head = id;
    s->count++;
    return si;
}

void ka_sched_remove(ka_sched_t *s, uint32_t id)
{
    if (!ka_sched_contains(s, id))
        return;
    link_t *ln = &s->links[id];
    uint32_t si = ln->slot;
    slot_t *sl = &s->slots[si];
    if (ln->prev != KA_NONE)
        s->links[ln->prev].next = ln->next;
    else
        sl->head = ln->next;
    if (ln->next != KA_NONE)
        s->links[ln->next].prev = ln->prev;
    *ln = (link_t){.prev = KA_NONE, .next = KA_NONE, .slot = KA_NONE};
    uint32_t L = sl->load;
    level_unlink(s, si);
    sl->load--;
    level_push(s, si, true);
    if (sl->load < s->min_level)
        s->min_level = sl->load;
    if (L == s->max_level && s->lvl_head[L] == KA_NONE && s->max_level > 0)
        s->max_level--;
    s->count--;
}

/* ---- turning ------------------------------------------------------------------------ */

static uint64_t due_ms(const ka_sched_t *s, uint64_t g)
{
    return s->epoch_ms + g * s->period_ms / s->n_slots;
}

void ka_sched_restart(ka_sched_t *s)
{
    s->running = false;
}

uint64_t ka_sched_next_due_ms(const ka_sched_t *s)
{
    return s->running ? due_ms(s, s->next_g) : 0;
}

void ka_sched_run(ka_sched_t *s, uint64_t now_ms, uint64_t late_ms, ka_visit_fn visit, void *ud,
                  ka_run_report_t *report)
{
    ka_run_report_t r = {0};
    if (!s->running) {
        s->running = true;
        s->epoch_ms = now_ms;
        s->next_g = 0;
        s->pass_visits = 0;
    }
    if (now_ms >= s->epoch_ms) {
        /* the last global slot whose start has passed */
        uint64_t due_g = (now_ms - s->epoch_ms) * s->n_slots / s->period_ms;
        if (due_g >= s->next_g + s->n_slots) {
            r.skipped = (size_t)(due_g + 1 - s->n_slots - s->next_g);
            s->next_g = due_g + 1 - s->n_slots;
        }
        for (; s->next_g <= due_g; s->next_g++) {
            uint32_t si = (uint32_t)(s->next_g % s->n_slots);
            if (si == 0) {
                if (s->next_g > 0 || r.skipped) {
                    s->last.visits = s->pass_visits;
                    s->last.duration_ms = now_ms - s->pass_start_ms;
                    s->last.count++;
                    r.pass_ended = true;
                }
                s->pass_start_ms = now_ms;
                s->pass_visits = 0;
            }
            bool late = now_ms - due_ms(s, s->next_g) > late_ms;
            for (uint32_t id = s->slots[si].head; id != KA_NONE;) {
                uint32_t next = s->links[id].next;
                visit(ud, id);
                r.visited++;
                id = next;
            }
            if (late)
                r.late += s->slots[si].load;
            s->pass_visits += s->slots[si].load;
            r.slots++;
        }
    }
    if (report)
        *report = r;
}

ka_pass_t ka_sched_last_pass(const ka_sched_t *s)
{
    return s->last;
}
