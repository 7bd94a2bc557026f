#!/usr/bin/env bash
# Calls through the B2BUA, inside and around their dialogs: requests in the
# dialogs (BYE from the gateway, a relayed re-INVITE, a forged BYE), a caller
# that never ACKs, the caller's CANCEL (also when the gateway's 200 crosses
# it), a gateway reached over TCP, and the INVITE retransmission schedule
# toward a silent gateway. Routing, failover and the script's hooks are in
# calls.sh.
# sipp plays the caller and the gateways; each case checks what every side
# received, from sipp's exit status (its scenario asserts codes and headers)
# and from its message trace (tags, timing).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port); GW_T=$(free_port); GW_S=$(free_port); GW_N=$(free_port)


# trace msg|time|count FILE sent|received REGEX [N]: from a sipp message
# trace, the N-th (default 1st) message whose first line matches REGEX
# (its text, or its time in epoch seconds), or how many match.
cat >"$WORK/trace.py" <<'PY'
import re, sys
from datetime import datetime
mode, path, direction, regex = sys.argv[1:5]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 1
try:
    text = open(path, encoding="latin-1").read()
except OSError:
    text = ""
hits = []
for block in re.split(r"^-{20,} ", text, flags=re.M)[1:]:
    stamp, rest = block.split("\n", 1)
    m = re.match(r"\S+ message (sent|received)[^\n]*\n\n", rest)
    if not m or m.group(1) != direction:
        continue
    msg = rest[m.end():].replace("\r", "")
    if re.match(regex, msg):
        hits.append((datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp(), msg))
if mode == "count":
    print(len(hits))
elif len(hits) >= n:
    print("%.6f" % hits[n - 1][0] if mode == "time" else hits[n - 1][1])
PY
trace() { ${PYTHON3:-python3} "$WORK/trace.py" "$@"; }
# all_of CMD :: CMD ...: true when each command (separated by "::") succeeds,
# so one check can assert several things
all_of() {
    local cmd=() a
    for a in "$@" ::; do
        if [ "$a" = :: ]; then "${cmd[@]}" || return 1; cmd=(); else cmd+=("$a"); fi
    done
}
# hdr NAME: the first value of header NAME in the message on stdin
hdr() { sed -n "s/^$1: *//p" | head -n1; }
# tag_of: the tag parameter of the header value on stdin
tag_of() { sed -n 's/.*;tag=\([^;>[:space:]]*\).*/\1/p'; }
# within A B MAX: |B - A| <= MAX (seconds, decimals allowed)
within() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { d = b - a; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= m) }'; }

write_cfg "passthrough_headers = P-Asserted-Identity, X-*" "[mapping customer]" "source = 127.0.0.1" \
    "[gateway A]" "address = 127.0.0.1:$GW_A" \
    "[gateway T]" "address = 127.0.0.1:$GW_T" "transport = tcp" \
    "[gateway S]" "address = 127.0.0.1:$GW_S" "[gateway N]" "address = 127.0.0.1:$GW_N"
script <<'LUA'
function on_invite(call)
  if call.callee == "4499" then return { "N" } end
  return { "A" }
end
LUA
start_switch || { fail "start"; finish; }

# 0. a caller that never ACKs the 200: after timer L (64*T1 = 32 s) the switch
# hangs up both legs (RFC 3261 13.3.1.4). It takes that long, so it runs in
# the background, on its own gateway N and number 4499, while the other
# cases run; its checks are at the end.
(cd "$WORK" && exec timeout 60 "$SIPP" -sf "$SC/gw_answer.xml" -i 127.0.0.1 -p "$GW_N" -m 1 -nostdin \
    -trace_msg -message_file gw_N.msg -trace_err -error_file gw_N.err >"$WORK/gw_N.out" 2>&1) </dev/null &
noack_gw=$!
sleep 0.3
(cd "$WORK" && exec timeout 60 "$SIPP" -sf "$SC/call_uac_noack.xml" -i 127.0.0.1 -p "$(free_port)" -m 1 \
    -nostdin -s 4499 -trace_msg -message_file noack.msg -trace_err -error_file noack.err \
    "127.0.0.1:$SIP_PORT" >"$WORK/noack.out" 2>&1) </dev/null &
noack_caller=$!
for _ in $(seq 1 100); do [ "$(trace count "$WORK/gw_N.msg" received '^ACK ')" = 1 ] && break; sleep 0.05; done

# 1. the gateway hangs up: the caller gets a BYE in its own dialog and answers it
gateway A gw_answer_bye.xml
sleep 0.3
caller call_uac_bye_in.xml; rc=$?
check "callee hangs up: the caller got a BYE and answered 200 ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "callee hangs up: the gateway's BYE got 200 ($rc)" [ $rc -eq 0 ]
invite=$(trace msg "$WORK/caller.msg" sent '^INVITE ')
ok200=$(trace msg "$WORK/caller.msg" received '^SIP/2.0 200 ')
bye=$(trace msg "$WORK/caller.msg" received '^BYE ')
check "callee hangs up: the BYE carries the caller's Call-ID" all_of \
    [ -n "$bye" ] :: [ "$(hdr Call-ID <<<"$bye")" = "$(hdr Call-ID <<<"$invite")" ]
check "callee hangs up: its From tag is the switch's tag of the 200, its To tag the caller's" all_of \
    [ -n "$(hdr To <<<"$ok200" | tag_of)" ] :: \
    [ "$(hdr From <<<"$bye" | tag_of)" = "$(hdr To <<<"$ok200" | tag_of)" ] :: \
    [ "$(hdr To <<<"$bye" | tag_of)" = "$(hdr From <<<"$invite" | tag_of)" ]
check "callee hangs up: the BYE goes to the caller's Contact, none of the gateway's identifiers in it" \
    bash -c "head -n1 <<<\"\$1\" | grep -q '^BYE sip:1001@127.0.0.1:' && ! grep -qE 'GW|sip:gw@' <<<\"\$1\"" _ "$bye"
t_gw=$(trace time "$WORK/gw_A.msg" sent '^BYE ')
t_caller=$(trace time "$WORK/caller.msg" received '^BYE ')
check "callee hangs up: relayed at once (gateway sent $t_gw, caller got $t_caller)" within "$t_gw" "$t_caller" 0.15

# 2. the caller re-INVITEs with a new SDP: relayed in the B dialog, the answer comes back
gateway A gw_answer_reinvite.xml
sleep 0.3
caller call_uac_reinvite.xml; rc=$?
check "re-INVITE: the caller got the gateway's new SDP in a 200 for its CSeq 20 ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "re-INVITE: the gateway got it in its dialog (CSeq 2, new SDP), its 200 ACKed, then BYE ($rc)" [ $rc -eq 0 ]
first=$(trace msg "$WORK/gw_A.msg" received '^INVITE ' 1)
again=$(trace msg "$WORK/gw_A.msg" received '^INVITE ' 2)
check "re-INVITE: same Call-ID and From tag as the gateway's dialog" all_of \
    [ -n "$again" ] :: [ "$(hdr Call-ID <<<"$again")" = "$(hdr Call-ID <<<"$first")" ] :: \
    [ "$(hdr From <<<"$again" | tag_of)" = "$(hdr From <<<"$first" | tag_of)" ]
check "re-INVITE: sent to the gateway's Contact" bash -c "head -n1 <<<\"\$1\" | grep -q '^INVITE sip:gw@127.0.0.1:$GW_A '" _ "$again"
n=$(trace count "$WORK/gw_A.msg" received '^ACK ')
check "re-INVITE: the gateway got one ACK per INVITE (got $n)" [ "$n" = 2 ]
# the gateway's 200 gave the route set p1, p2 + p3 (one line, a comma list):
# every request of the switch in that dialog carries it reversed, one Route
# per entry (RFC 3261 12.1.2), the first ACK and the BYE alike
routes() { grep '^Route:' | tr -d '\r' | tr '\n' '|'; }
want='Route: "edge, two" <sip:p3.example;lr>|Route: <sip:p2.example;lr>|Route: <sip:p1.example;lr>|'
check "route set: both ACKs, the re-INVITE and the BYE carry it, reversed" all_of \
    [ "$(trace msg "$WORK/gw_A.msg" received '^ACK ' 1 | routes)" = "$want" ] :: \
    [ "$(trace msg "$WORK/gw_A.msg" received '^INVITE ' 2 | routes)" = "$want" ] :: \
    [ "$(trace msg "$WORK/gw_A.msg" received '^ACK ' 2 | routes)" = "$want" ] :: \
    [ "$(trace msg "$WORK/gw_A.msg" received '^BYE ' 1 | routes)" = "$want" ]
check "route set: the gateway's proxies do not reach the caller" \
    bash -c '! grep -q "p[123]\.example" "$1"' _ "$WORK/caller.msg"

# 3. a forged BYE (the call's Call-ID, another To tag) gets 481 and the call goes on
sed 's/milliseconds="1000"/milliseconds="2000"/' "$SC/call_uac.xml" >"$WORK/call_uac_long.xml"
gateway A gw_answer.xml
sleep 0.3
caller "$WORK/call_uac_long.xml" -cid_str "forged-%u@127.0.0.1" &
caller_pid=$!
for _ in $(seq 1 100); do [ "$(trace count "$WORK/gw_A.msg" received '^ACK ')" = 1 ] && break; sleep 0.05; done
printf 'BYE sip:4420@127.0.0.1:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$LPORT;branch=$BRANCH;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=whoever\r\nTo: <sip:4420@127.0.0.1>;tag=not-ours\r\nCall-ID: forged-1@127.0.0.1\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n' "$SIP_PORT" >"$WORK/forged.sip"
resp=$(sip_udp "$WORK/forged.sip" --template | first_code)
check "a BYE with the call's Call-ID but a wrong To tag gets 481 (got $resp)" [ "$resp" = 481 ]
wait "$caller_pid"; rc=$?
check "the call survived the forged BYE: the caller's own BYE got 200 ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "the gateway got exactly the caller's BYE ($rc)" all_of [ $rc -eq 0 ] :: [ "$(trace count "$WORK/gw_A.msg" received '^BYE ')" = 1 ]

# 4. the caller CANCELs while the gateway rings: CANCEL to B, 487 to the caller
gateway A gw_ring_cancel.xml
sleep 0.3
caller call_uac_cancel.xml; rc=$?
check "CANCEL: the caller got 200 for its CANCEL and 487 for the INVITE ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "CANCEL: the gateway got CANCEL and the ACK of its 487 ($rc)" [ $rc -eq 0 ]
t_c=$(trace time "$WORK/caller.msg" sent '^CANCEL ')
t_g=$(trace time "$WORK/gw_A.msg" received '^CANCEL ')
check "CANCEL: relayed at once (caller sent $t_c, gateway got $t_g)" within "$t_c" "$t_g" 0.15
cancel=$(trace msg "$WORK/gw_A.msg" received '^CANCEL ')
invite=$(trace msg "$WORK/gw_A.msg" received '^INVITE ')
check "CANCEL: same branch, Call-ID and CSeq number as the gateway's INVITE (RFC 3261 9.1)" all_of \
    [ -n "$cancel" ] :: [ "$(hdr Via <<<"$cancel")" = "$(hdr Via <<<"$invite")" ] :: \
    [ "$(hdr Call-ID <<<"$cancel")" = "$(hdr Call-ID <<<"$invite")" ] :: [ "$(hdr CSeq <<<"$cancel")" = "1 CANCEL" ]

# 5. the gateway's 200 crosses the CANCEL: the switch ACKs and BYEs it
gateway A gw_ring_cancel_crossing.xml
sleep 0.3
caller call_uac_cancel.xml; rc=$?
check "2xx crossing CANCEL: the caller still got 487 and nothing after ($rc)" [ $rc -eq 0 ]
wait_gw A; rc=$?
check "2xx crossing CANCEL: the gateway got ACK and BYE for its 200 ($rc)" [ $rc -eq 0 ]
t_ok=$(trace time "$WORK/gw_A.msg" sent '^SIP/2.0 200 OK.*\n(.*\n)*CSeq: 1 INVITE')
t_bye=$(trace time "$WORK/gw_A.msg" received '^BYE ')
check "2xx crossing CANCEL: BYE at once (200 at $t_ok, BYE at $t_bye)" within "$t_ok" "$t_bye" 0.15
check "2xx crossing CANCEL: the call ended for that reason" grep -q "ended: the gateway's answer crossed the caller's CANCEL" "$WORK/sipswitch.log"

# 6. a gateway over TCP ([gateway] transport = tcp)
script <<'LUA'
function on_invite(call) return { "T" } end
LUA
gateway T gw_answer.xml -t t1
sleep 0.3
caller call_uac.xml; rc=$?
check "TCP gateway: the call connected and ended ($rc)" [ $rc -eq 0 ]
wait_gw T; rc=$?
check "TCP gateway: the gateway answered and got ACK and BYE ($rc)" [ $rc -eq 0 ]
invite=$(trace msg "$WORK/gw_T.msg" received '^INVITE ')
check "TCP gateway: everything it got came over TCP" all_of \
    [ "$(grep -c 'UDP message received' "$WORK/gw_T.msg")" = 0 ] :: [ "$(grep -c 'TCP message received' "$WORK/gw_T.msg")" -ge 3 ]
check "TCP gateway: Via TCP, Request-URI and Contact with transport=tcp" \
    bash -c "grep -q '^Via: SIP/2.0/TCP ' <<<\"\$1\" && head -n1 <<<\"\$1\" | grep -q ';transport=tcp SIP/2.0' && grep -q '^Contact: <sip:sipswitch@.*;transport=tcp>' <<<\"\$1\"" _ "$invite"

# 7. a silent gateway: the INVITE is retransmitted on SS_SIP_RESEND_INTERVAL
# (0.5, 1, 2 s gaps) until the attempt's invite_timeout (4 s), then 408. A
# small Python peer plays both the caller and the silent gateway, so both
# ends are timed on one clock.
script <<'LUA'
function on_invite(call) return { { gateway = "S", invite_timeout = 4 } } end
LUA
timing=$(${PYTHON3:-python3} - "$SIP_PORT" "$GW_S" <<'PY'
import select, socket, sys, time
switch, gw_port = ("127.0.0.1", int(sys.argv[1])), int(sys.argv[2])
gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); gw.bind(("127.0.0.1", gw_port))
ua = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ua.bind(("127.0.0.1", 0))
port = ua.getsockname()[1]
head = ("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsilent1;rport\r\nMax-Forwards: 70\r\n"
        "From: <sip:1001@127.0.0.1>;tag=silent\r\nCall-ID: silent-gw@test\r\n" % port)
ua.sendto(("INVITE sip:4420@127.0.0.1 SIP/2.0\r\n" + head + "To: <sip:4420@127.0.0.1>\r\n"
           "CSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n" % port).encode(), switch)
copies, other, final, t_final = [], [], None, None
end = time.time() + 8
while time.time() < end:
    ready, _, _ = select.select([gw, ua], [], [], max(0.0, end - time.time()))
    for s in ready:
        data = s.recv(65536).decode("latin-1")
        now = time.time()
        if s is gw:
            (copies if data.startswith("INVITE ") else other).append(now)
        elif not data.startswith("SIP/2.0 1") and final is None:
            final, t_final = data.split(" ")[1], now
            to = [l for l in data.split("\r\n") if l.lower().startswith("to:")][0]
            ua.sendto(("ACK sip:4420@127.0.0.1 SIP/2.0\r\n" + head + to + "\r\nCSeq: 1 ACK\r\n"
                       "Content-Length: 0\r\n\r\n").encode(), switch)
            end = min(end, now + 1.0)  # a little longer: no copy may follow the timeout
gaps = " ".join("%.3f" % (b - a) for a, b in zip(copies, copies[1:]))
print("copies=%d gaps=%s other=%d final=%s after=%.3f" % (len(copies), gaps.replace(" ", ","), len(other),
      final, (t_final - copies[0]) if copies and t_final else -1))
PY
)
echo "silent gateway: $timing"
eval "$(sed 's/\([a-z]*\)=\([^ ]*\)/\1=\2;/g' <<<"$timing")"
IFS=, read -r g1 g2 g3 <<<"$gaps"
check "silent gateway: the INVITE and 3 retransmissions within the 4 s timeout, nothing else ($timing)" all_of \
    [ "$copies" = 4 ] :: [ "$other" = 0 ]
check "silent gateway: gaps 0.5, 1, 2 s (+-150 ms): $g1 $g2 $g3" all_of \
    within 0.5 "$g1" 0.15 :: within 1 "$g2" 0.15 :: within 2 "$g3" 0.15
check "silent gateway: the caller got 408 4 s (+-150 ms) after the first INVITE ($final after $after s)" all_of \
    [ "$final" = 408 ] :: within 4 "$after" 0.15

# 0, continued: the call whose caller never ACKed
wait "$noack_caller"; rc=$?
check "no ACK from the caller: it got a BYE from the switch and answered it ($rc)" [ $rc -eq 0 ]
wait "$noack_gw"; rc=$?
check "no ACK from the caller: the gateway got its ACK, then a BYE ($rc)" [ $rc -eq 0 ]
t_ok=$(trace time "$WORK/noack.msg" received '^SIP/2.0 200 ')
t_bye=$(trace time "$WORK/noack.msg" received '^BYE ')
t_gbye=$(trace time "$WORK/gw_N.msg" received '^BYE ')
t_due=$(awk -v t="$t_ok" 'BEGIN { if (t != "") printf "%.6f", t + 32 }')
check "no ACK from the caller: BYEs 32 s (64*T1, +-1 s) after the 200 (200 at $t_ok, BYEs at $t_bye, $t_gbye)" \
    all_of within "$t_due" "$t_bye" 1 :: within "$t_bye" "$t_gbye" 0.15
check "no ACK from the caller: logged" grep -q 'ended: the caller never ACKed the 2xx' "$WORK/sipswitch.log"

check "clean shutdown" stop_switch
finish
