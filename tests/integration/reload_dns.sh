#!/usr/bin/env bash
# Reload with a gateway named by a host name while DNS is slow: the switch
# keeps answering (the lookups run off the signaling thread), the new cfg
# applies once the name has resolved, and a name that does not resolve
# refuses the reload with file:line. DNS is the LD_PRELOAD shim
# tests/shims/slow_dns.c: *.slow.* names take 3 s, *.test is 127.0.0.1,
# *.invalid does not exist; it writes down every lookup and its thread.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
[ -n "${SIPP:-}" ] || { echo "skipped: sipp not found"; exit 77; }
SHIM="${SLOW_DNS_SHIM:-$top_builddir/tests/shims/.libs/slow_dns.so}"
[ -f "$SHIM" ] || { fail "the DNS shim $SHIM is built (make check builds it)"; finish; }
GW_A=$(free_port); GW_OLD=$(free_port)
# the answers must come in this long while a lookup sleeps 3 s
FAST_MS=300

# gen NAME ADDRESS: the cfg with gateway A at ADDRESS (NAME in its description)
gen() {
    write_cfg "passthrough_headers = P-Asserted-Identity, X-*" "[mapping customer]" "source = 127.0.0.1" \
        "[gateway A]" "address = $2" "description = $1"
}
# probe SECONDS: OPTIONS to the switch one after the other for SECONDS,
# each waiting 5 s at most for its 200; prints "sent answered slowest_ms"
probe() {
    ${PYTHON3:-python3} - "$SIP_PORT" "$1" <<'PY'
import socket, sys, time
port, duration = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
lport = s.getsockname()[1]
sent = answered = 0
slowest = 0.0
end = time.monotonic() + duration
while time.monotonic() < end and sent < 200:
    sent += 1
    call_id = "probe-%d-%d" % (lport, sent)
    msg = ("OPTIONS sip:switch@127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:switch@127.0.0.1>\r\n"
           "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n") % (port, lport, call_id, call_id)
    t = time.monotonic()
    s.sendto(msg.encode(), ("127.0.0.1", port))
    try:
        while call_id.encode() not in s.recv(65535):
            pass
        answered += 1
        slowest = max(slowest, time.monotonic() - t)
    except socket.timeout:
        slowest = max(slowest, 5.0)
    time.sleep(0.05)
print(sent, answered, int(slowest * 1000))
PY
}
# probe_ok RESULT: every OPTIONS answered, the slowest within FAST_MS
probe_ok() {
    local sent answered slowest
    read -r sent answered slowest <<<"$1"
    [ "${sent:-0}" -ge 10 ] && [ "$answered" = "$sent" ] && [ "$slowest" -le "$FAST_MS" ]
}
# logged_times PATTERN: how many log lines match
logged_times() { grep -c -- "$1" "$WORK/sipswitch.log"; }
# wait_logged PATTERN COUNT: until COUNT log lines match (10 s at most)
wait_logged() {
    local i
    for i in $(seq 1 100); do
        [ "$(logged_times "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
metric() {
    http_get /metrics >/dev/null
    awk -v k="$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$WORK/http.body"
}
# a call routed to gateway A arrives at a sipp answering on GW_A
call_reaches_a() {
    gateway A gw_answer.xml
    sleep 0.3
    caller call_uac.xml || return 1
    wait_gw A
}

cat >"$WORK/route.lua" <<'LUA'
function on_invite(call) return { "A" } end
LUA
gen "generation 1" "127.0.0.1:$GW_OLD"
# the daemon alone runs with the shim (not curl, sipp or python)
SLOW_DNS_LOG="$WORK/dns.log"
: >"$SLOW_DNS_LOG"
cat >"$WORK/sipswitch-slow-dns" <<WRAPPER
#!/bin/sh
# a sanitizer build links its runtime into the shim too; it need not come first
LD_PRELOAD="$SHIM" SLOW_DNS_LOG="$SLOW_DNS_LOG" \\
    ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0" exec "$SW_BIN" "\$@"
WRAPPER
chmod +x "$WORK/sipswitch-slow-dns"
SW_BIN="$WORK/sipswitch-slow-dns"
start_switch || { fail "start"; finish; }
check "start-up: the IP literal 127.0.0.1 was parsed, never sent to DNS" all_of \
    grep -q '^127.0.0.1 numeric' "$SLOW_DNS_LOG" :: bash -c "! grep -q '^127.0.0.1 dns' '$SLOW_DNS_LOG'"

# 1. SIGHUP to a name that takes 3 s to resolve
gen "generation 2" "gw.slow.test:$GW_A"
probe 2.5 >"$WORK/probe1" &
probe_pid=$!
sleep 0.2
kill -HUP "$SW_PID"
sleep 0.5
http_get /api/v1/gateways >/dev/null
check "SIGHUP: while the name resolves the running cfg stays (gateway A still at 127.0.0.1:$GW_OLD)" \
    grep -q "\"address\":\"127.0.0.1:$GW_OLD\"" "$WORK/http.body"
wait "$probe_pid"
check "SIGHUP: OPTIONS during the 3 s lookup all answered within $FAST_MS ms (sent answered slowest_ms: $(cat "$WORK/probe1"))" \
    probe_ok "$(cat "$WORK/probe1")"
check "SIGHUP: the reload applies once the name has resolved" wait_logged "reload done" 1
check "SIGHUP: the log says how long the lookup took" grep -qE "reload: 1 gateway name answered in [0-9]+ ms" \
    "$WORK/sipswitch.log"
check "SIGHUP: gw.slow.test was looked up on a worker thread, never on the signaling thread" all_of \
    grep -q '^gw.slow.test dns worker$' "$SLOW_DNS_LOG" :: bash -c "! grep -q '^gw.slow.test dns main' '$SLOW_DNS_LOG'"
call_reaches_a
check "SIGHUP: after the reload a call routed to A reaches the gateway at gw.slow.test:$GW_A" [ $? -eq 0 ]

# 2. the API's reload, and a SIGHUP while its lookup runs (queued behind it)
gen "generation 3" "gw.slow.test:$GW_A"
(curl -sS -o "$WORK/reload3.body" -w '%{http_code} %{time_total}' -X POST \
    "http://127.0.0.1:$HTTP_PORT/api/v1/reload" >"$WORK/reload3.code") &
curl_pid=$!
probe 2.5 >"$WORK/probe2" &
probe_pid=$!
sleep 0.5
kill -HUP "$SW_PID"
wait "$probe_pid"
check "API: OPTIONS during the lookup all answered within $FAST_MS ms (sent answered slowest_ms: $(cat "$WORK/probe2"))" \
    probe_ok "$(cat "$WORK/probe2")"
wait "$curl_pid"
read -r code secs <"$WORK/reload3.code"
check "API: the reload answers 200 once the name has resolved (after ${secs:-?} s)" all_of \
    [ "$code" = 200 ] :: grep -q '"ok":true' "$WORK/reload3.body" :: \
    awk -v s="${secs:-0}" 'BEGIN { exit !(s >= 2.5) }'
check "a SIGHUP during the API's lookup waits for it, then runs" all_of \
    grep -q "reload requested (SIGHUP): queued behind the one resolving gateway names" "$WORK/sipswitch.log" :: \
    wait_logged "reload done" 3
check "three reloads applied, none refused" all_of [ "$(metric sipswitch_reloads_total)" = 3 ] :: \
    [ "$(metric sipswitch_reloads_failed_total)" = 0 ]
check "no lookup of gw.slow.test ran on the signaling thread" bash -c "! grep -q '^gw.slow.test dns main' '$SLOW_DNS_LOG'"

# 3. a name that does not resolve: refused with file:line, the running cfg stays
gen "generation 4" "nx.invalid:$GW_OLD"
line=$(grep -n '^address = nx.invalid' "$WORK/sipswitch.cfg" | cut -d: -f1)
kill -HUP "$SW_PID"
check "SIGHUP with nx.invalid: refused" wait_logged "reload refused" 1
check "SIGHUP with nx.invalid: the error has sipswitch.cfg:$line and the resolver's reason" \
    grep -qE "sipswitch.cfg:$line: \[gateway A\] address: cannot resolve 'nx.invalid': .+" "$WORK/sipswitch.log"
gen "generation 5" "nx.slow.invalid:$GW_OLD"
line=$(grep -n '^address = nx.slow.invalid' "$WORK/sipswitch.cfg" | cut -d: -f1)
probe 2.5 >"$WORK/probe3" &
probe_pid=$!
code=$(http_post /api/v1/reload)
wait "$probe_pid"
check "API with nx.slow.invalid: 422 with sipswitch.cfg:$line and the reason" all_of [ "$code" = 422 ] :: \
    grep -qE "sipswitch.cfg:$line: \[gateway A\] address: cannot resolve 'nx.slow.invalid': [^\"]+" "$WORK/http.body"
check "API with nx.slow.invalid: OPTIONS during the lookup answered within $FAST_MS ms ($(cat "$WORK/probe3"))" \
    probe_ok "$(cat "$WORK/probe3")"
check "two reloads refused" [ "$(metric sipswitch_reloads_failed_total)" = 2 ]
http_get /api/v1/gateways >/dev/null
check "the running cfg stayed: gateway A at gw.slow.test:$GW_A, generation 3" all_of \
    grep -q "\"address\":\"gw.slow.test:$GW_A\"" "$WORK/http.body" :: grep -q 'generation 3' "$WORK/http.body"
call_reaches_a
check "after the refusals a call routed to A still reaches gw.slow.test:$GW_A" [ $? -eq 0 ]

# 4. SIGTERM while a lookup runs: a clean stop, the half-done reload dropped
gen "generation 6" "gw.slow.test:$GW_A"
kill -HUP "$SW_PID"
sleep 0.3
t0=$(date +%s.%N)
stop_switch; rc=$?
t1=$(date +%s.%N)
check "SIGTERM during a lookup: clean exit ($rc) within the lookup's 3 s ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)" \
    all_of [ $rc -eq 0 ] :: awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }'
check "SIGTERM during a lookup: generation 6 never applied" [ "$(logged_times "reload done")" = 3 ]
finish
