/*
 * OPTIONS mode miss accounting (liveness.h).
 */
#include "liveness.h"

static void count_miss(ka_device_t *d)
{
    d->ping_pending = 0;
    if (d->missed < UINT8_MAX)
        d->missed++;
}

ka_slot_step_t ka_liveness_on_slot(ka_device_t *d, unsigned max_missed)
{
    ka_slot_step_t step = {0};
    if (d->ping_pending) {
        count_miss(d);
        step.missed = true;
    }
    if (max_missed && d->missed >= max_missed) {
        step.drop = true;
        return step;
    }
    d->ping_seq++;
    d->ping_pending = 1;
    step.seq = d->ping_seq;
    return step;
}

ka_answer_t ka_liveness_on_answer(ka_device_t *d, uint8_t seq, bool answered, unsigned max_missed)
{
    if (answered) {
        d->missed = 0;
        if (seq == d->ping_seq)
            d->ping_pending = 0;
        return KA_ANSWER_ALIVE;
    }
    if (seq != d->ping_seq || !d->ping_pending)
        return KA_ANSWER_STALE;
    count_miss(d);
    return max_missed && d->missed >= max_missed ? KA_ANSWER_DROP : KA_ANSWER_MISSED;
}

void ka_liveness_on_refresh(ka_device_t *d)
{
    d->missed = 0;
}
