#!/usr/bin/env bash
# Management API: routes, JSON, errors for bad methods/paths/requests, and
# it keeps answering while SIP traffic flows.
. "$(dirname "$0")/lib.sh"
SW_MODULE_PATH="$top_builddir/tests/abi"
write_cfg "load = probe_ok"
start_switch || { fail "start"; finish; }

code=$(http_get /health)
check "GET /health: 200" [ "$code" = 200 ]
check "/health says ok" grep -q '"status":"ok"' "$WORK/http.body"
code=$(http_get /metrics)
check "GET /metrics: 200" [ "$code" = 200 ]
check "/metrics has uptime" grep -qE '^sipswitch_uptime_seconds [0-9]+' "$WORK/http.body"
alloc='(glibc|asan)'
grep -q '^#define HAVE_MIMALLOC 1' "$top_builddir/config.h" && alloc='mimalloc [0-9.]+'
check "/metrics build_info names the malloc in use ($alloc)" \
    grep -qE "^sipswitch_build_info\{version=\"[0-9.]+\",abi=\"1\.[0-9]+\",allocator=\"$alloc\"\} 1$" "$WORK/http.body"
check "/metrics lists the loaded module" grep -q '^sipswitch_module_info{module="probe_ok",version="1.0"} 1' "$WORK/http.body"
check "/metrics has Lua error counter" grep -qE '^sipswitch_lua_errors_total [0-9]+' "$WORK/http.body"
check "/metrics has drop counters" grep -q '^sipswitch_sip_dropped_total{reason="unparseable"}' "$WORK/http.body"
check "/metrics is valid Prometheus text (every sample has a TYPE)" ${PYTHON3:-python3} - "$WORK/http.body" <<'PY'
import re, sys
types = set()
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        types.add(line.split()[2]); continue
    if not line or line.startswith("#"): continue
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+)$', line)
    if not m or m.group(1) not in types: sys.exit("bad line: " + line)
PY
code=$(http_get /api/v1/modules)
check "GET /api/v1/modules: 200" [ "$code" = 200 ]
check "/api/v1/modules is JSON naming probe_ok and its Lua function" ${PYTHON3:-python3} -c "
import json; d = json.load(open('$WORK/http.body'))
m = [x for x in d['modules'] if x['name'] == 'probe_ok'][0]
assert m['version'] == '1.0' and 'sw.probe_ok.echo' in m['lua_functions'], d"
code=$(http_post /api/v1/reload)
check "POST /api/v1/reload: 200" [ "$code" = 200 ]
code=$(http_get /api/v1/reload)
check "GET /api/v1/reload: 405" [ "$code" = 405 ]
code=$(http_post /health)
check "POST /health: 405" [ "$code" = 405 ]
code=$(http_get /nope)
check "unknown path: 404" [ "$code" = 404 ]
check "404 body is JSON" grep -q '"error"' "$WORK/http.body"
resp=$(printf 'THIS IS NOT HTTP\r\n\r\n' | timeout 5 ${PYTHON3:-python3} -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $HTTP_PORT)); s.sendall(sys.stdin.buffer.read()); s.settimeout(3)
print(s.recv(4096).decode('latin-1').split('\r\n')[0])")
check "malformed HTTP request: 400 ($resp)" grep -q ' 400 ' <<<"$resp"
code=$(http_get /health)
check "still healthy after a malformed request" [ "$code" = 200 ]

# the script can call a module's exported function
printf 'sw.log("notice", "echo says " .. sw.probe_ok.echo("pong"))\nfunction on_invite(c) return {} end\n' >"$WORK/route.lua"
code=$(http_post /api/v1/reload)
check "script using sw.probe_ok.echo reloads" [ "$code" = 200 ]
check "sw.probe_ok.echo returned its argument" grep -q "echo says pong" "$WORK/sipswitch.log"
printf 'sw.probe_ok.echo(42, 43)\n' >"$WORK/route.lua"
code=$(http_post /api/v1/reload)
check "a bad call of a module function refuses the script (422)" [ "$code" = 422 ]
check "the error names the function and argument" grep -q 'sw.probe_ok.echo' "$WORK/http.body"

# health and metrics answer while SIP traffic flows
senders=()
for i in $(seq 1 20); do options_msg | sip_udp - --template --timeout 0.5 >/dev/null & senders+=($!); done
for i in $(seq 1 10); do http_get /metrics >/dev/null || fail "metrics during traffic"; done
wait "${senders[@]}"
code=$(http_get /health)
check "healthy after concurrent SIP and HTTP" [ "$code" = 200 ]
check "clean shutdown" stop_switch
finish
