/*
 * What nat_keepalive keeps while it runs, shared by its glue files:
 * nat_keepalive.c (parameters, lifecycle, bindings, the wheel's turns,
 * metrics) and options_ping.c (OPTIONS mode: pings, their answers,
 * dropping a silent device). The pure parts live in schedule.c, pacing.c,
 * devices.c, liveness.c.
 */
#ifndef NAT_KEEPALIVE_RUNTIME_H
#define NAT_KEEPALIVE_RUNTIME_H

#include <sipswitch/module.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices.h"
#include "nat_keepalive_params.h"
#include "pacing.h"
#include "schedule.h"

/* Heartbeats by kind, as labelled in heartbeats_total. */
enum { KA_SENT_UDP = 0, KA_SENT_TCP, KA_SENT_OPTIONS, KA_SENT_KINDS };

typedef struct ka_metrics {
    sw_stat_t *devices;
    sw_stat_t *heartbeats[KA_SENT_KINDS];
    sw_stat_t *heartbeats_last_pass, *last_pass_ms, *last_pass_cpu_ms;
    sw_stat_t *late, *pace_raised, *send_interval_ms, *batch;
    sw_stat_t *send_errors, *options_failures, *dropped, *refused;
} ka_metrics_t;

typedef struct ka_runtime {
    const sw_api_t *api;
    sw_module_t *self;
    ka_config_t conf;
    ka_devices_t *devices;
    ka_sched_t *sched;
    ka_pace_t pace;
    bool have_pace;
    bool pace_warned;            /* the once-only warning was given (reset by a reload) */
    bool started;                /* start() ran: sockets are bound */
    sw_timer_t *timer;
    uint32_t timer_ms;
    bool no_registrar_api_warned;
    char local_udp[128], local_tcp[128]; /* our host:port, for the OPTIONS' From and Call-ID */
    char ping_prefix[24];        /* makes this process' Call-IDs unique */
    uint64_t pings;              /* Call-IDs handed out */
    /* counted during a turn, added to the metrics once per turn */
    uint64_t sent[KA_SENT_KINDS], send_errors;
    uint64_t pass_cpu_us;        /* thread CPU spent in turns during the current pass */
    /* devices to drop, found during a turn (the wheel cannot change while it turns) */
    uint64_t *drops;
    size_t n_drops, cap_drops;
    ka_metrics_t m;
} ka_runtime_t;

extern ka_runtime_t ka;

/* Forgets a device: out of the wheel and the table. */
void ka_forget(uint32_t id);

/* options_ping.c */
/* The device's slot came in options mode: ping it, or queue it for
 * dropping when its pings went unanswered max_missed times in a row. */
void ka_options_visit(uint32_t id, ka_device_t *d, const ka_account_settings_t *settings);
/* Drops the devices queued during the turn. */
void ka_options_drop_queued(void);

#endif
