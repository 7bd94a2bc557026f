/* Snapshots of the live calls and of the gateways, for the management API
 * (GET /api/v1/calls, GET /api/v1/gateways).
 *
 * Taking a snapshot reads call state, so it runs on the signaling thread
 * (as a job posted with sw_loop_run_sync). It copies only what the report
 * shows into a block owned by the snapshot, and does no formatting: the
 * JSON is rendered from that private copy afterwards, on any thread. That
 * keeps the time the signaling loop is held to a plain copy, even for the
 * largest reports (formatting 100k calls costs several times more). */
#ifndef SW_CALL_CALL_REPORT_H
#define SW_CALL_CALL_REPORT_H

#include <stddef.h>

#include "strbuf.h"

/* ?limit= of GET /api/v1/calls */
#define SW_CALL_REPORT_DEFAULT_LIMIT 1000
#define SW_CALL_REPORT_MAX_LIMIT 100000

typedef struct sw_call_report sw_call_report_t;

/* Signaling thread only. The live calls, oldest first, at most `limit` of
 * them (the total is always reported, with "truncated" when calls were left
 * out). Never NULL (allocation failure aborts, as everywhere in the core). */
sw_call_report_t *sw_call_report_calls(size_t limit);
/* Signaling thread only. The gateways calls are routed with, each with the
 * live calls attempting or answered on it. Gateways a reload removed while
 * calls were still on them are listed too (with "configured": false). */
sw_call_report_t *sw_call_report_gateways(void);

/* Any thread. Appends the snapshot to b as one JSON object; see
 * doc/operations.md for its fields. */
void sw_call_report_json(const sw_call_report_t *r, sw_strbuf_t *b);
/* Any thread; NULL is fine. */
void sw_call_report_free(sw_call_report_t *r);

#endif
