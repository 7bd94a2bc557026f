#!/usr/bin/env bash
# The transaction layer seen from the wire: a retransmitted INVITE gets the
# same final answer (same To tag) from its transaction, the final answer is
# retransmitted on resend_interval until the ACK, TCP never retransmits,
# CANCEL without a pending INVITE gets 481, a REGISTER's challenge keeps no
# transaction, and /metrics shows it all.
. "$(dirname "$0")/lib.sh"
# no [mapping]: every INVITE is refused 403 at once, before it becomes a call
# (a call gets its 100 Trying first), which is what these cases need
# the registrar, for a REGISTER's challenge (answered statelessly)
write_cfg "resend_interval = 0.1, 0.2, 0.4" "load = registrar"
printf '[registrar]\ndb =\n[account alice]\npassword = secret\n' >>"$WORK/sipswitch.cfg"
start_switch || { fail "start"; finish; }
export SIP_PORT WORK
request_msg INVITE >"$WORK/invite.tmpl"
request_msg OPTIONS >"$WORK/options.tmpl"
request_msg CANCEL >"$WORK/cancel.tmpl"
request_msg REGISTER "Contact: <sip:alice@127.0.0.1:5999>" | sed 's/sip:tester@/sip:alice@/; s/sip:switch@/sip:alice@/g' \
    >"$WORK/register.tmpl"

${PYTHON3:-python3} - <<'PY' >"$WORK/tx.out" 2>&1
import os, random, re, socket, time
port = int(os.environ["SIP_PORT"])
work = os.environ["WORK"]
def tmpl(name): return open(os.path.join(work, name), "rb").read()
def fill(t, s, transport, branch, callid):
    return (t.replace(b"$TRANSPORT", transport).replace(b"$LPORT", str(s.getsockname()[1]).encode())
             .replace(b"$BRANCH", branch).replace(b"$CALLID", callid))
def result(name, ok): print(("ok " if ok else "FAIL ") + name, flush=True)
def collect(s, seconds):
    got, end = [], time.time() + seconds
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            got.append(s.recv(65536))
        except socket.timeout:
            break
    return got
def code(m): return int(m.split(b" ", 2)[1])
def to_tag(m):
    r = re.search(rb"\r\nTo: [^\r]*;tag=([^;\r]+)", m)
    return r.group(1) if r else None
def fresh(): return b"z9hG4bK%x" % random.getrandbits(48), b"%x@tx-test" % random.getrandbits(48)

def udp():
    # one socket per scenario: a transaction's retransmissions stay on its own
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0)); s.connect(("127.0.0.1", port))
    return s

u = udp()

# an INVITE and its retransmission: the same 403 (same tag), no 100 before it
branch, callid = fresh()
inv = fill(tmpl("invite.tmpl"), u, b"UDP", branch, callid)
u.send(inv)
first = collect(u, 0.05)
u.send(inv)
again = collect(u, 0.05)
result("INVITE answered 403 at once, without a 100 first", [code(m) for m in first] == [403])
result("retransmitted INVITE gets the 403 again", again and code(again[0]) == 403)
result("with the same To tag", first and again and to_tag(first[0]) == to_tag(again[0]) and to_tag(first[0]))

# the 403 is retransmitted on resend_interval (0.1, 0.2, 0.4 s) until the ACK
u = udp()
branch, callid = fresh()
u.send(fill(tmpl("invite.tmpl"), u, b"UDP", branch, callid))
t0 = time.time()
got = collect(u, 0.45)
result("403 retransmitted at 0.1 and 0.3 s (%d sent)" % len(got), [code(m) for m in got] == [403, 403, 403])
ack = (fill(tmpl("invite.tmpl"), u, b"UDP", branch, callid).replace(b"INVITE sip:", b"ACK sip:", 1)
       .replace(b"CSeq: 1 INVITE", b"CSeq: 1 ACK")
       .replace(b"To: <sip:switch@127.0.0.1>", b"To: <sip:switch@127.0.0.1>;tag=" + to_tag(got[0])))
u.send(ack)
after = collect(u, 0.6)
result("the ACK stops the retransmissions (%d after it)" % len(after), after == [])

# OPTIONS retransmitted: the same 200
u = udp()
branch, callid = fresh()
opt = fill(tmpl("options.tmpl"), u, b"UDP", branch, callid)
u.send(opt); a = collect(u, 0.05)
u.send(opt); b = collect(u, 0.05)
result("retransmitted OPTIONS gets the very same 200", len(a) == 1 and a == b and code(a[0]) == 200)

# a REGISTER's challenge keeps no transaction (RFC 3261 8.2.7): the
# retransmission is challenged again, with the same To tag
u = udp()
branch, callid = fresh()
reg = fill(tmpl("register.tmpl"), u, b"UDP", branch, callid)
u.send(reg); a = collect(u, 0.05)
u.send(reg); b = collect(u, 0.05)
nonce = lambda m: re.search(rb'nonce="([^"]+)"', m).group(1)
result("REGISTER challenged 401, and again when retransmitted",
       [code(m) for m in a] == [401] and [code(m) for m in b] == [401])
result("both challenges carry the same To tag, each its own nonce",
       a and b and to_tag(a[0]) and to_tag(a[0]) == to_tag(b[0]) and nonce(a[0]) != nonce(b[0]))

# CANCEL matching no INVITE
branch, callid = fresh()
u.send(fill(tmpl("cancel.tmpl"), u, b"UDP", branch, callid))
got = collect(u, 0.1)
result("CANCEL without a pending INVITE gets 481", [code(m) for m in got] == [481])

# TCP: one 403, never retransmitted
t = socket.create_connection(("127.0.0.1", port))
branch, callid = fresh()
t.sendall(fill(tmpl("invite.tmpl"), t, b"TCP", branch, callid))
data, end = b"", time.time() + 0.5
while time.time() < end:
    t.settimeout(max(0.01, end - time.time()))
    try:
        c = t.recv(65536)
    except socket.timeout:
        break
    if not c: break
    data += c
result("TCP INVITE: exactly one 403 in 0.5 s (%d)" % data.count(b"SIP/2.0 403"), data.count(b"SIP/2.0 403") == 1)
t.close()
PY
while read -r line; do
    case "$line" in ok\ *) pass "${line#ok }" ;; FAIL\ *) fail "${line#FAIL }" ;; *) echo "$line" ;; esac
done <"$WORK/tx.out"
check "transaction checks ran (10)" [ "$(grep -cE '^(ok|FAIL) ' "$WORK/tx.out")" -eq 10 ]

http_get /metrics >/dev/null
# the two challenged REGISTERs left nothing behind; OPTIONS and CANCEL did (timer J)
check "metrics: the challenged REGISTERs keep no transaction" \
    grep -qE '^sipswitch_sip_transactions\{kind="server_non_invite"\} 2$' "$WORK/http.body"
check "metrics: live transactions by kind" grep -qE '^sipswitch_sip_transactions\{kind="server_invite"\} [0-9]+$' "$WORK/http.body"
check "metrics: retransmissions sent" grep -qE '^sipswitch_sip_retransmissions_total [1-9]' "$WORK/http.body"
check "metrics: retransmissions absorbed" grep -qE '^sipswitch_sip_retransmissions_absorbed_total [1-9]' "$WORK/http.body"
check "metrics: transaction timeouts counter" grep -qE '^sipswitch_sip_transaction_timeouts_total [0-9]+$' "$WORK/http.body"

# a reload with another schedule keeps answering
write_cfg "resend_interval = 0.5, 1"
kill -HUP "$SW_PID"
sleep 0.3
resp=$(options_msg | sip_udp - --template)
check "still answering after a reload of resend_interval" [ "$(first_code <<<"$resp")" = 200 ]
check "clean shutdown with live transactions" stop_switch
finish
