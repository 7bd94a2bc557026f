/* Management API (libmicrohttpd, its own thread). It never touches call
 * state: counters are atomics, the module list is fixed after start-up, and
 * anything else (reload, health probe, the call and gateway snapshots of
 * call_report.c) is a job run on the signaling loop. */
#ifndef SW_HTTP_MGMT_H
#define SW_HTTP_MGMT_H

#include "cfg/config.h"

int sw_mgmt_start(const char *address, sw_errors_t *errs);
void sw_mgmt_stop(void);

#endif
