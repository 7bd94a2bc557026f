/* The location service: which contacts each address of record (AOR) has
 * bound, until when (RFC 3261 section 10.3). One AOR per account: the key
 * is the user part of the AOR, which must be the account name.
 *
 * Expiry is kept in a binary heap ordered by expiry time, so a sweep costs
 * only the bindings that actually expired. Times are the loop's monotonic
 * milliseconds; wall-clock times are kept for display and persistence.
 *
 * Pure code (no sipswitch API), unit-tested in tests/test_bindings.c. */
#ifndef REGISTRAR_BINDINGS_H
#define REGISTRAR_BINDINGS_H

#include <stddef.h>
#include <stdint.h>

/* The fields are ordered and sized for the 200,000-binding case: 104
 * bytes, the four strings in one more block, an AOR block per account. */
typedef struct reg_binding {
    uint64_t id;              /* unique, in increasing order; kept across restarts (its row on disk) */
    struct reg_aor *aor;
    const char *contact;      /* these four point into `text` */
    const char *call_id;
    const char *source;       /* "ip:port" the REGISTER came from */
    const char *user_agent;   /* "" when the device sent none */
    char *text;
    uint64_t expires_at_ms;   /* monotonic */
    uint64_t socket_id;
    int64_t registered_wall_ms;  /* first registration of this contact */
    int64_t updated_wall_ms;     /* last add or refresh */
    uint32_t cseq;
    uint32_t expires_s;       /* the expiry granted by the last REGISTER */
    uint32_t heap_pos;
    int16_t q;                /* thousandths, -1 when the device gave none */
    uint8_t transport;        /* sw_transport_t */
    uint8_t behind_nat;
} reg_binding_t;

typedef struct reg_aor {
    const char *user;         /* the key: the account name (the AOR table's copy of it) */
    char *aor;                /* the AOR as last registered, "sip:1001@example.com" */
    reg_binding_t **bindings; /* `first` until a second binding comes */
    size_t n, cap;
    reg_binding_t *first;
} reg_aor_t;

/* Values equal to sw_binding_event_kind_t's (the glue checks it). */
typedef enum {
    REG_CHANGE_ADDED = 1,
    REG_CHANGE_REFRESHED = 2,
    REG_CHANGE_REMOVED = 3,
    REG_CHANGE_EXPIRED = 4
} reg_change_t;

/* Told of every change; a removed binding is freed after the call. */
typedef void (*reg_change_fn)(const reg_binding_t *b, reg_change_t kind, void *ud);

typedef struct reg_store reg_store_t;

reg_store_t *reg_store_new(void);
void reg_store_free(reg_store_t *s);

/* One contact of a REGISTER, with the expiry the registrar grants
 * (0: remove it). */
typedef struct reg_contact_req {
    const char *uri;
    size_t uri_len;
    uint32_t expires_s;
    int q;
} reg_contact_req_t;

typedef struct reg_register {
    const char *user;         /* the AOR's user part = the account */
    const char *aor;
    const char *call_id;
    uint32_t cseq;
    const char *source;
    int transport;
    uint64_t socket_id;
    int behind_nat;
    const char *user_agent;   /* or NULL */
    int replace;              /* SS_ENDPOINT_REGISTER_REPLACE */
    int remove_all;           /* Contact: * (with Expires: 0) */
    size_t max_contacts;
    uint64_t now_ms;
    int64_t now_wall_ms;
    const reg_contact_req_t *contacts;
    size_t n_contacts;
} reg_register_t;

typedef enum {
    REG_UPDATE_OK = 0,
    REG_UPDATE_OUT_OF_ORDER, /* same Call-ID, CSeq not above the stored one: 500 (RFC 3261 10.3 step 7) */
    REG_UPDATE_OTHER_DEVICE, /* replace Off, another device's binding is still valid: refused */
    REG_UPDATE_TOO_MANY      /* the AOR would hold more than max_contacts */
} reg_update_result_t;

/* Applies a REGISTER: all of it or, on an error, nothing.
 *
 * "Another device" is a binding with another Call-ID (RFC 3261 10.2.4: a UA
 * keeps one Call-ID for its registrations) whose contact this request does
 * not name. With replace On, a request that binds any contact removes the
 * other devices' bindings; with replace Off it is refused while they last.
 * Removing (expires 0, or remove_all) is always allowed. */
reg_update_result_t reg_store_register(reg_store_t *s, const reg_register_t *r, reg_change_fn fn, void *ud);

/* Puts back a binding read from disk at start-up (expires_s: seconds left),
 * with its id (0: a new one); later bindings are numbered above it. */
typedef struct reg_restore {
    uint64_t id;
    const char *user, *aor, *contact, *call_id, *source, *user_agent;
    uint32_t cseq;
    int q, transport, behind_nat;
    uint64_t socket_id;
    uint32_t expires_s;
    int64_t registered_wall_ms, updated_wall_ms;
} reg_restore_t;
const reg_binding_t *reg_store_restore(reg_store_t *s, const reg_restore_t *r, uint64_t now_ms);

const reg_aor_t *reg_store_find(const reg_store_t *s, const char *user);
/* The binding a call should go to: highest q (none counts as 1.0), then the
 * most recently refreshed. NULL when the AOR has no binding. */
const reg_binding_t *reg_store_best(const reg_store_t *s, const char *user);
const reg_binding_t *reg_store_by_id(const reg_store_t *s, uint64_t id);

/* Removes what expired by now_ms (REG_CHANGE_EXPIRED); how many. */
size_t reg_store_expire(reg_store_t *s, uint64_t now_ms, reg_change_fn fn, void *ud);
/* Removes every binding of an AOR, or one binding (REG_CHANGE_REMOVED). */
size_t reg_store_remove_user(reg_store_t *s, const char *user, reg_change_fn fn, void *ud);
int reg_store_remove_id(reg_store_t *s, uint64_t id, reg_change_fn fn, void *ud);
/* The binding of an AOR whose contact is the same URI as `contact`, or NULL. */
const reg_binding_t *reg_store_find_contact(const reg_store_t *s, const char *user, const char *contact);
/* Removes one binding found by the functions above (REG_CHANGE_REMOVED). */
void reg_store_remove(reg_store_t *s, const reg_binding_t *b, reg_change_fn fn, void *ud);

size_t reg_store_count(const reg_store_t *s);
size_t reg_store_nat_count(const reg_store_t *s);
size_t reg_store_aor_count(const reg_store_t *s);

/* Visits every AOR (in no particular order); return non-zero to stop. The
 * callback must not change the store. */
void reg_store_each(reg_store_t *s, int (*fn)(const reg_aor_t *aor, void *ud), void *ud);

/* Seconds left of a binding at now_ms (0 once expired). */
uint32_t reg_binding_seconds_left(const reg_binding_t *b, uint64_t now_ms);

#endif
