#!/usr/bin/env bash
# Outbound registration when the carrier does not answer, two registrations
# in one switch (about 37 s: the transaction timeout is 64 * T1 = 32 s):
#  - "silent": the registrar (a UDP socket on 127.0.0.4 that never answers)
#    gets the REGISTER and its retransmissions; after 32 s the core reports
#    408, the registration is failed with last code 408, and the next
#    REGISTER (a new CSeq) comes after the retry delay (2 s) plus at most 1 s;
#  - "slow": a sipp registrar (scenarios/registrar_outbound_slow_auth.xml)
#    challenges, then never answers the authenticated REGISTER: after
#    SS_SIP_AUTHENTICATION_TIMEOUT (1 s) the attempt fails with 408, and the
#    retry 2-3 s later is challenged and granted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
TRACE="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_outbound_trace.py"
SILENT_PORT=$(free_port)
SLOW_PORT=$(free_port)

# the silent registrar: one line "<seconds since start> <CSeq number> <branch>" per datagram
${PYTHON3:-python3} - "$SILENT_PORT" "$WORK/silent.log" <<'PY' &
import re, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.4", int(sys.argv[1])))
s.settimeout(45)
out, t0 = open(sys.argv[2], "w"), time.time()
try:
    while True:
        text = s.recv(65536).decode("latin-1")
        cseq = re.search(r"^CSeq: *(\d+)", text, re.M | re.I)
        branch = re.search(r"branch=([^;\s]+)", text)
        out.write("%.3f %s %s\n" % (time.time() - t0, cseq.group(1) if cseq else "?", branch.group(1) if branch else "?"))
        out.flush()
except socket.timeout:
    pass
PY
SILENT_PID=$!
(cd "$WORK" && exec timeout 50 "$SIPP" -sf "$SC/registrar_outbound_slow_auth.xml" -i 127.0.0.3 -p "$SLOW_PORT" -m 1 \
    -nostdin -trace_msg -message_file slow.msg -trace_err -error_file slow.err >"$WORK/slow.out" 2>&1) </dev/null &
SLOW_PID=$!
sleep 0.3

write_cfg "load = registrar"
cat >>"$WORK/sipswitch.cfg" <<EOF
[registrar]
db =
user_agent_retry_delay = 2
allow_short_intervals = On
SS_SIP_AUTHENTICATION_TIMEOUT = 1
[registration silent]
registrar = 127.0.0.4:$SILENT_PORT
user = 5000
password = p
[registration slow]
registrar = 127.0.0.3:$SLOW_PORT
user = 6000
password = slowpw
EOF
start_switch || exit 1
ob() { # NAME FIELD
    curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/registrations/outbound/$1" |
        ${PYTHON3:-python3} -c "import json,sys; v=json.load(sys.stdin).get('$2'); print('null' if v is None else v)"
}
wait_for() { # NAME FIELD VALUE SECONDS
    local i
    for i in $(seq 1 $(($4 * 10))); do [ "$(ob "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
    return 1
}

# ---- slow: the authentication timeout ----------------------------------------------------------
check "slow: failed with 408 once the authenticated REGISTER went unanswered for 1 s" \
    all_of wait_for slow state failed 4 :: wait_for slow last_code 408 1 :: wait_for slow failures 1 1
check "slow: registered after the retry" all_of wait_for slow state registered 5 :: wait_for slow expires 3600 1
wait "$SLOW_PID"
rc=$?
check "slow: the sipp registrar's scenario ran to its end (sipp $rc)" [ $rc -eq 0 ]
$TRACE "$WORK/slow.msg" --user 6000 --password slowpw >"$WORK/slow.txt"
rc=$?
cat "$WORK/slow.txt"
check "slow: one Call-ID, CSeq growing" [ $rc -eq 0 ]
register_at() { awk -v c="cseq=$1" '/recv REGISTER/ && $0 ~ c" " { print $1; exit }' "$WORK/slow.txt"; }
gap=$(awk -v a="$(register_at 2)" -v b="$(register_at 3)" 'BEGIN { print b - a }')
check "slow: the retry came 1 s (timeout) + 2-3 s (delay) after the unanswered REGISTER: $gap s" \
    awk -v g="$gap" 'BEGIN { exit !(g >= 2.95 && g <= 4.3) }'
check "slow: the answers to both challenges are right" \
    all_of grep -q 'cseq=2 expires=3600 auth=ok' "$WORK/slow.txt" :: grep -q 'cseq=4 expires=3600 auth=ok' "$WORK/slow.txt"

# ---- silent: the transaction timeout -----------------------------------------------------------
sleep 15
check "silent: no answer after 20 s, the first REGISTER still under way" \
    all_of [ "$(ob silent state)" = unregistered ] :: [ "$(ob silent in_flight)" = True ]
check "silent: failed with 408 after the transaction timeout (32 s), a retry planned" \
    all_of wait_for silent state failed 16 :: wait_for silent last_code 408 1 :: wait_for silent next_action retry 1
i=0
while [ "$(awk '$2 == 2' "$WORK/silent.log" | wc -l)" = 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill "$SILENT_PID" 2>/dev/null
wait "$SILENT_PID" 2>/dev/null
first1=$(awk '$2 == 1 { print $1; exit }' "$WORK/silent.log")
first2=$(awk '$2 == 2 { print $1; exit }' "$WORK/silent.log")
sends1=$(awk '$2 == 1' "$WORK/silent.log" | wc -l)
branches1=$(awk '$2 == 1 { print $3 }' "$WORK/silent.log" | sort -u | wc -l)
gap=$(awk -v a="$first1" -v b="$first2" 'BEGIN { print b - a }')
check "silent: the first REGISTER was retransmitted ($sends1 copies, one branch)" \
    all_of [ "$sends1" -ge 5 ] :: [ "$branches1" = 1 ]
check "silent: the retry (CSeq 2) came 32 s + 2-3 s after the first REGISTER: $gap s" \
    awk -v g="$gap" 'BEGIN { exit !(g >= 33.9 && g <= 35.5) }'
check "metrics: 2 failures" \
    [ "$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1 == "sipswitch_registrar_outbound_failures_total" { print $2 }')" = 2 ]
check "the switch is still running" alive
stop_switch
rc=$?
check "SIGTERM: a clean exit (status $rc; under ASan: no leak)" [ $rc -eq 0 ]
finish
