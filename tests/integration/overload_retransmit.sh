#!/usr/bin/env bash
# Overload shedding refuses new INVITEs, never a call it already accepted:
# an INVITE whose retransmission waited in the kernel while the signaling
# thread was stopped (older than overload_message_age) is answered by its
# transaction again (100 Trying), not 503; a new INVITE of the same age is
# shed with 503 + Retry-After. (The soak found calls answered 200 and 503
# for one INVITE; the caller then BYEd with the 503's tag and got 481.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port)
write_cfg "overload_message_age = 100ms" "[mapping customer]" "source = 127.0.0.1" \
    "[gateway A]" "address = 127.0.0.1:$GW_A"
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call) return { "A" } end
LUA
start_switch || { fail "start"; finish; }
listen A # the gateway never answers: the call stays pending
export SIP_PORT SW_PID
${PYTHON3:-python3} - >"$WORK/retransmit.out" 2>&1 <<'PY'
import os, signal, socket, time
port, pid = int(os.environ["SIP_PORT"]), int(os.environ["SW_PID"])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); lport = s.getsockname()[1]
def invite(n):
    return ("INVITE sip:4420@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKretx%d;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=f%d\r\nTo: <sip:4420@127.0.0.1>\r\n"
            "Call-ID: retx-%d@test\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:%d>\r\n"
            "Content-Length: 0\r\n\r\n" % (port, lport, n, n, n, lport)).encode()
def answers(seconds):
    out, end = [], time.time() + seconds
    s.settimeout(0.1)
    while time.time() < end:
        try:
            d = s.recv(65536).decode("latin-1")
        except socket.timeout:
            continue
        status = d.split("\r\n", 1)[0]
        cid = [l for l in d.split("\r\n") if l.lower().startswith("call-id:")][0].split(":", 1)[1].strip()
        retry = any(l.lower().startswith("retry-after:") for l in d.split("\r\n"))
        out.append((cid, status, retry))
    return out
s.sendto(invite(1), ("127.0.0.1", port))
first = answers(1.0)
print("first:", first)
os.kill(pid, signal.SIGSTOP)
try:
    s.sendto(invite(1), ("127.0.0.1", port))  # the caller retransmits
    s.sendto(invite(2), ("127.0.0.1", port))  # and a new call arrives
    time.sleep(0.5)
finally:
    os.kill(pid, signal.SIGCONT)
later = answers(1.5)
print("later:", later)
def codes(cid, lst): return [st.split(" ")[1] for c, st, r in lst if c == cid]
print("ok" if codes("retx-1@test", first) == ["100"] else "FAIL", "first INVITE: 100 Trying")
c1 = codes("retx-1@test", later)
print("ok" if c1 and "503" not in c1 and set(c1) == {"100"} else "FAIL",
      "its retransmission, older than overload_message_age: answered 100 again by its transaction, not 503 (%s)" % c1)
c2 = [(st, r) for c, st, r in later if c == "retx-2@test"]
print("ok" if c2 and c2[0][0].startswith("SIP/2.0 503") and c2[0][1] else "FAIL",
      "a new INVITE as old: shed with 503 and Retry-After (%s)" % c2)
PY
while read -r line; do
    case "$line" in ok\ *) pass "${line#ok }" ;; FAIL\ *) fail "${line#FAIL }" ;; *) echo "# $line" ;; esac
done <"$WORK/retransmit.out"
check "the three checks ran" [ "$(grep -cE '^(ok|FAIL) ' "$WORK/retransmit.out")" -eq 3 ]
http_get /metrics >/dev/null
check "metrics: exactly one INVITE shed for its age" grep -q '^sipswitch_sip_overload_rejected_total 1$' "$WORK/http.body"
heard A >/dev/null
check "clean shutdown" stop_switch
finish
