/*
 * OPTIONS mode: when a device that does not answer its pings loses its
 * binding.
 *
 * A device gets one OPTIONS per period, at its slot. A ping still
 * unanswered when the next one is due counts as missed (the answer had a
 * whole period), and so does one the core reports failed (408: no answer
 * within timer F; 503: it could not be sent) before then. Any answer at
 * all, whatever its code and however late, shows the device alive and
 * clears the count. `max_missed` misses in a row: the binding is dropped.
 * Each miss is counted once: a failure reported for a ping that was
 * already counted at the next slot is stale.
 *
 * Pure C on the device's fields (devices.h), unit-tested in
 * tests/test_liveness.c.
 */
#ifndef NAT_KEEPALIVE_LIVENESS_H
#define NAT_KEEPALIVE_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>

#include "devices.h"

/* What to do at the device's slot. */
typedef struct ka_slot_step {
    bool missed;   /* the previous ping went unanswered for a period: one more miss */
    bool drop;     /* max_missed reached: drop the binding, send nothing */
    uint8_t seq;   /* otherwise: send a ping with this sequence */
} ka_slot_step_t;

ka_slot_step_t ka_liveness_on_slot(ka_device_t *d, unsigned max_missed);

typedef enum {
    KA_ANSWER_ALIVE = 0,  /* an answer: the count is cleared */
    KA_ANSWER_MISSED,     /* a failure: one more miss */
    KA_ANSWER_DROP,       /* a failure that makes max_missed: drop the binding */
    KA_ANSWER_STALE       /* a failure already counted (or for an older ping): nothing */
} ka_answer_t;

/* The core's verdict on ping `seq`: answered (any response) or not (408/503). */
ka_answer_t ka_liveness_on_answer(ka_device_t *d, uint8_t seq, bool answered, unsigned max_missed);

/* The device re-registered: it is alive, whatever its pings said. */
void ka_liveness_on_refresh(ka_device_t *d);

#endif
