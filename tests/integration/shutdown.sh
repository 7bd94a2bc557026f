#!/usr/bin/env bash
# SIGTERM and SIGINT stop the daemon cleanly: modules' destroy runs, sockets
# are closed (the ports can be bound again), exit status 0.
. "$(dirname "$0")/lib.sh"
SW_MODULE_PATH="$top_builddir/tests/abi"
write_cfg "load = probe_ok"
start_switch || { fail "start"; finish; }
check "module probe_ok initialised" grep -q "probe loaded, probe_value=7" "$WORK/sipswitch.log"
kill -TERM "$SW_PID"
for i in $(seq 1 50); do kill -0 "$SW_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SW_PID"; rc=$?; SW_PID=
check "SIGTERM: exit status 0 (got $rc)" [ $rc -eq 0 ]
check "SIGTERM: shutdown logged" grep -q "SIGTERM received" "$WORK/sipswitch.log"
check "SIGTERM: stop logged" grep -q "sipswitch stopped" "$WORK/sipswitch.log"
check "SIGTERM: the SIP and HTTP ports are free again" ${PYTHON3:-python3} -c "
import socket
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', $SIP_PORT)); s.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $HTTP_PORT)); s.close()"

start_switch || { fail "restart"; finish; }
kill -INT "$SW_PID"
for i in $(seq 1 50); do kill -0 "$SW_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SW_PID"; rc=$?; SW_PID=
check "SIGINT: exit status 0 (got $rc)" [ $rc -eq 0 ]

# start-up failures stop the daemon with a message naming the cause
write_cfg "load = probe_init_fails"
"$SW_BIN" -c "$WORK/sipswitch.cfg" --module-path "$SW_MODULE_PATH" >"$WORK/fail.log" 2>&1
rc=$?
check "a module whose init fails stops start-up (exit $rc)" [ $rc -eq 1 ]
check "the message names the module and its reason" \
    grep -q "module 'probe_init_fails': init failed: probe refuses to start (value 42)" "$WORK/fail.log"

# a port already taken stops start-up naming the socket
${PYTHON3:-python3} -c "
import socket, time, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $SIP_PORT))
time.sleep(3)" &
holder=$!
sleep 0.5
write_cfg
"$SW_BIN" -c "$WORK/sipswitch.cfg" >"$WORK/busy.log" 2>&1
rc=$?
kill $holder 2>/dev/null; wait $holder 2>/dev/null
check "a busy SIP port stops start-up (exit $rc)" [ $rc -eq 1 ]
check "the message names the socket" grep -q "listen udp:127.0.0.1:$SIP_PORT: address already in use" "$WORK/busy.log"
finish
