/* Host names resolved away from the signaling thread. A batch collects the
 * names one cfg needs; IP literals are parsed when added and never reach DNS.
 * The other names are looked up either on libuv's worker threads
 * (sw_resolve_start: a reload, while the loop keeps serving calls) or on the
 * calling thread (sw_resolve_now: start-up and --check, where blocking is
 * fine). Once answered, the batch gives each name's address, or the
 * resolver's reason, without blocking: it is the cache the loop reads. */
#ifndef SW_NET_RESOLVE_H
#define SW_NET_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct sw_resolve_batch sw_resolve_batch_t;

sw_resolve_batch_t *sw_resolve_batch_new(void);
/* Not while lookups started by sw_resolve_start run (wait for `done`). */
void sw_resolve_batch_free(sw_resolve_batch_t *b);

/* Adds a host name or IP literal (IPv6 without brackets); a name already in
 * the batch is not added twice. Only before the lookups start. */
void sw_resolve_add(sw_resolve_batch_t *b, const char *host);
/* How many names need DNS (not IP literals, not answered yet); not while
 * lookups run. */
size_t sw_resolve_unanswered(const sw_resolve_batch_t *b);

/* Answers every name on the calling thread (blocking). */
void sw_resolve_now(sw_resolve_batch_t *b);

/* Looks the unanswered names up on the loop's worker threads, several at
 * once. Returns 0 when `done` will run on the loop thread once each has an
 * answer; -1 when nothing was started (every name was already answered, or
 * no lookup could be queued, which is then the name's reason): the batch is
 * final and `done` never runs. */
typedef void (*sw_resolve_done_fn)(sw_resolve_batch_t *b, void *ud);
int sw_resolve_start(sw_resolve_batch_t *b, uv_loop_t *loop, sw_resolve_done_fn done, void *ud);
/* Drops the lookups that have not begun (they fail as "cancelled"); the
 * ones already asking DNS run to their end. `done` still runs. For shutdown. */
void sw_resolve_cancel(sw_resolve_batch_t *b);

/* host's answer with `port` filled in: 0 and the address, or -1 and the
 * reason ("Name or service not known", "not looked up"...). */
int sw_resolve_address(const sw_resolve_batch_t *b, const char *host, uint16_t port,
                       struct sockaddr_storage *addr, socklen_t *addr_len, const char **reason);

#endif
