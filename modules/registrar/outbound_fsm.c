#include "outbound_fsm.h"

#include <string.h>

/* The longest expiry the switch agrees to ask for when a 423 demands more
 * (a day: beyond it the registrar is taken to be broken). */
#define OB_MIN_EXPIRES_ACCEPTED 86400

const char *ob_state_name(ob_state_t s)
{
    switch (s) {
    case OB_STATE_REGISTERED: return "registered";
    case OB_STATE_FAILED: return "failed";
    case OB_STATE_RETRYING: return "retrying";
    case OB_STATE_UNREGISTERED: break;
    }
    return "unregistered";
}

void ob_fsm_init(ob_fsm_t *f, uint32_t ask_s)
{
    memset(f, 0, sizeof *f);
    f->state = OB_STATE_UNREGISTERED;
    f->ask_s = ask_s;
}

uint64_t ob_retry_wait_ms(uint64_t delay_ms, uint32_t random)
{
    uint64_t span = delay_ms / 20; /* 5 % */
    if (span < 1000)
        span = 1000;
    return delay_ms + (uint64_t)random % (span + 1);
}

uint64_t ob_refresh_wait_ms(uint32_t granted_s)
{
    uint64_t ms = (uint64_t)granted_s * 500;
    return ms < OB_REFRESH_MIN_MS ? OB_REFRESH_MIN_MS : ms;
}

static void reset_rows(ob_fsm_t *f)
{
    f->challenges_in_row = f->stale_in_row = f->too_brief_in_row = 0;
}

static ob_step_t send_now(void)
{
    return (ob_step_t){.next = OB_NEXT_SEND_NOW};
}

static ob_step_t fail(ob_fsm_t *f, const ob_policy_t *p, uint32_t random)
{
    f->state = OB_STATE_FAILED;
    f->granted_s = 0;
    f->failures++;
    reset_rows(f);
    return (ob_step_t){.next = OB_NEXT_WAIT, .wait_ms = ob_retry_wait_ms(p->retry_delay_ms, random), .failed = 1};
}

ob_step_t ob_fsm_on_response(ob_fsm_t *f, const ob_policy_t *p, const ob_response_t *r, uint32_t random)
{
    f->last_code = r->code;
    if (r->code >= 200 && r->code < 300) {
        /* a 2xx listing our contact with expires=0 did not bind it */
        if (r->granted_s == 0)
            return fail(f, p, random);
        f->state = OB_STATE_REGISTERED;
        f->granted_s = r->granted_s > 0 ? (r->granted_s > UINT32_MAX ? UINT32_MAX : (uint32_t)r->granted_s)
                                        : f->ask_s;
        reset_rows(f);
        return (ob_step_t){.next = OB_NEXT_WAIT, .wait_ms = ob_refresh_wait_ms(f->granted_s), .registered = 1};
    }
    if ((r->code == 401 || r->code == 407) && r->challenge_usable) {
        if (r->stale) {
            if (f->stale_in_row >= OB_STALE_MAX)
                return fail(f, p, random);
            f->stale_in_row++;
            return send_now();
        }
        if (f->challenges_in_row >= p->auth_retry)
            return fail(f, p, random); /* the password is wrong, or auth_retry is 0 */
        f->challenges_in_row++;
        return send_now();
    }
    if (r->code == 423 && r->min_expires_s > (int64_t)f->ask_s && r->min_expires_s <= OB_MIN_EXPIRES_ACCEPTED &&
        f->too_brief_in_row < OB_TOO_BRIEF_MAX) {
        f->too_brief_in_row++;
        f->ask_s = (uint32_t)r->min_expires_s; /* kept for the life of the registration */
        return send_now();
    }
    return fail(f, p, random);
}

void ob_fsm_on_timer(ob_fsm_t *f)
{
    if (f->state == OB_STATE_FAILED)
        f->state = OB_STATE_RETRYING;
}
