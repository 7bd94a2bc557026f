#!/usr/bin/env bash
# The front door's limits and silent drops (doc/robustness.md, "Overload and
# flood protection"): scanner User-Agents get no answer while a normal one
# does; an oversize message, too many headers and too many TCP connections
# from one address are refused and counted; with drop_unknown_sources an
# address that is no [mapping] source nor [gateway] gets nothing at all.
# Senders bind to other loopback addresses (127.0.0.x) to play other hosts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_PORT=$(free_port)
write_cfg "max_headers = 30" "max_message_size = 4096" "max_tcp_connections_per_ip = 3" \
    "[mapping customer]" "source = 127.0.0.1" "[gateway carrier]" "address = 127.0.0.9:$GW_PORT"
start_switch || { fail "start"; finish; }
export SIP_PORT WORK

# run_checks NAME: the python checks of stdin, their "ok"/"FAIL" lines as results
run_checks() {
    ${PYTHON3:-python3} - >"$WORK/$1.out" 2>&1
    local line
    while read -r line; do
        case "$line" in ok\ *) pass "${line#ok }" ;; FAIL\ *) fail "${line#FAIL }" ;; *) echo "$line" ;; esac
    done <"$WORK/$1.out"
}
cat >"$WORK/sip.py" <<'PY'
import os, socket, time, uuid
port = int(os.environ["SIP_PORT"])
def result(name, ok): print(("ok " if ok else "FAIL ") + name, flush=True)
def request(method="OPTIONS", host="127.0.0.1", transport="UDP", extra=(), lport=0, body=b""):
    cid = uuid.uuid4().hex
    head = ("%s sip:100@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:t@%s>;tag=%s\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: %s@test\r\n"
            "CSeq: 1 %s\r\n" % (method, port, transport, host, lport, cid[:12], host, cid[12:20], cid, method))
    for h in extra: head += h + "\r\n"
    return (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
def udp(host, msg_fn, timeout=1.0):
    """sends from host, returns the first answer's status line or None"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((host, 0)); s.settimeout(timeout)
    s.sendto(msg_fn(s.getsockname()[1]), ("127.0.0.1", port))
    try:
        return s.recv(65536).split(b"\r\n", 1)[0].decode()
    except socket.timeout:
        return None
    finally:
        s.close()
def tcp(host, msg_fn, timeout=1.0):
    """sends over a new connection from host: (status line or None, closed by the switch)"""
    s = socket.socket(); s.bind((host, 0)); s.connect(("127.0.0.1", port)); s.settimeout(timeout)
    s.sendall(msg_fn(s.getsockname()[1]))
    data, closed, end = b"", False, time.time() + timeout
    while b"\r\n\r\n" not in data and time.time() < end:
        try:
            c = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True; break
        if not c:
            closed = True; break
        data += c
    if data and not closed:
        s.settimeout(0.5)
        try:
            closed = s.recv(100) == b""
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
    s.close()
    return (data.split(b"\r\n", 1)[0].decode() if data else None), closed
PY

run_checks front <<'PY'
import os; exec(open(os.environ["WORK"] + "/sip.py").read())
ua = lambda agent: (lambda lp: request(extra=["User-Agent: " + agent], lport=lp))
# scanners: nothing comes back, UDP or TCP; a normal agent is answered
for agent in ("friendly-scanner", "SIPVicious 0.3.4", "sipcli/v1.8", "VaxSIPUserAgent/3.1"):
    result("UDP, User-Agent %s: no answer" % agent, udp("127.0.0.1", ua(agent)) is None)
r, closed = tcp("127.0.0.1", lambda lp: request(transport="TCP", extra=["User-Agent: friendly-scanner"], lport=lp))
result("TCP, a scanner's User-Agent: no answer (%s)" % r, r is None)
r = udp("127.0.0.1", ua("Asterisk PBX 20.5"))
result("UDP, a normal User-Agent: 200 (%s)" % r, r is not None and r.startswith("SIP/2.0 200"))
r = udp("127.0.0.1", lambda lp: request(lport=lp))
result("UDP, no User-Agent: 200 (%s)" % r, r is not None and r.startswith("SIP/2.0 200"))

# oversize: max_message_size = 4096
big = lambda t: (lambda lp: request(transport=t, lport=lp, extra=["Content-Type: text/plain"], body=b"x" * 5000))
r = udp("127.0.0.1", big("UDP"))
result("UDP, 5 kB over max_message_size 4096: 513 (%s)" % r, r is not None and r.startswith("SIP/2.0 513"))
r, closed = tcp("127.0.0.1", big("TCP"))
result("TCP, 5 kB over max_message_size: 400 and closed (%s, closed %s)" % (r, closed),
       r is not None and r.startswith("SIP/2.0 400") and closed)
fits = lambda lp: request(lport=lp, extra=["Content-Type: text/plain"], body=b"x" * 3000)
r = udp("127.0.0.1", fits)
result("UDP, 3 kB: answered (%s)" % r, r is not None and not r.startswith("SIP/2.0 513"))

# header count: max_headers = 30 (the request has 7 of its own)
many = lambda n, t: (lambda lp: request(transport=t, lport=lp, extra=["X-Filler-%d: y" % i for i in range(n)]))
r = udp("127.0.0.1", many(40, "UDP"))
result("UDP, 47 header fields over max_headers 30: 400 (%s)" % r, r is not None and r.startswith("SIP/2.0 400") and "header" in r)
r, closed = tcp("127.0.0.1", many(40, "TCP"))
result("TCP, 47 header fields: 400 (%s)" % r, r is not None and r.startswith("SIP/2.0 400"))
r = udp("127.0.0.1", many(20, "UDP"))
result("UDP, 27 header fields: 200 (%s)" % r, r is not None and r.startswith("SIP/2.0 200"))

# TCP connections per IP: max_tcp_connections_per_ip = 3
held = []
for i in range(3):
    c = socket.socket(); c.bind(("127.0.0.6", 0)); c.connect(("127.0.0.1", port)); held.append(c)
time.sleep(0.3)
extra = socket.socket(); extra.bind(("127.0.0.6", 0)); extra.connect(("127.0.0.1", port)); extra.settimeout(2)
try:
    refused = extra.recv(10) == b""
except ConnectionResetError:
    refused = True
except socket.timeout:
    refused = False
extra.close()
result("a 4th TCP connection from 127.0.0.6 (max_tcp_connections_per_ip 3) is closed at once", refused)
r, closed = tcp("127.0.0.7", lambda lp: request(host="127.0.0.7", transport="TCP", lport=lp))
result("another address still connects and is answered (%s)" % r, r is not None and r.startswith("SIP/2.0 200"))
c = held[0]
c.sendall(request(host="127.0.0.6", transport="TCP", lport=c.getsockname()[1])); c.settimeout(2)
try:
    r = c.recv(65536).split(b"\r\n", 1)[0].decode()
except socket.timeout:
    r = None
result("the 3 held connections still work (%s)" % r, r is not None and r.startswith("SIP/2.0 200"))
for c in held: c.close()
time.sleep(0.3)
r, closed = tcp("127.0.0.6", lambda lp: request(host="127.0.0.6", transport="TCP", lport=lp))
result("once they closed, 127.0.0.6 connects again (%s)" % r, r is not None and r.startswith("SIP/2.0 200"))

# an unknown address is answered while drop_unknown_sources is Off
r = udp("127.0.0.5", lambda lp: request(host="127.0.0.5", lport=lp))
result("drop_unknown_sources Off: 127.0.0.5 (no mapping) gets 200 for OPTIONS (%s)" % r,
       r is not None and r.startswith("SIP/2.0 200"))
PY

http_get /metrics >/dev/null
cp "$WORK/http.body" "$WORK/metrics.1"
m() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/metrics.1"; }
check "metrics: 5 scanner messages dropped ($(m 'sipswitch_sip_dropped_total{reason="scanner"}'))" \
    [ "$(m 'sipswitch_sip_dropped_total{reason="scanner"}')" = 5 ]
check "metrics: the message size limit hit twice ($(m 'sipswitch_sip_limit_hits_total{limit="message_size"}'))" \
    [ "$(m 'sipswitch_sip_limit_hits_total{limit="message_size"}')" = 2 ]
check "metrics: the header limit hit twice ($(m 'sipswitch_sip_limit_hits_total{limit="headers"}'))" \
    [ "$(m 'sipswitch_sip_limit_hits_total{limit="headers"}')" = 2 ]
check "metrics: one connection over the per-IP limit, counted as a limit hit and a drop" all_of \
    [ "$(m 'sipswitch_sip_limit_hits_total{limit="tcp_connections_per_ip"}')" = 1 ] :: \
    [ "$(m 'sipswitch_sip_dropped_total{reason="tcp_per_ip_limit"}')" = 1 ]

# drop_unknown_sources: reloaded On
sed -i 's/^max_headers = 30/max_headers = 30\ndrop_unknown_sources = On/' "$WORK/sipswitch.cfg"
code=$(http_post /api/v1/reload)
check "reload with drop_unknown_sources = On: 200 ($code)" [ "$code" = 200 ]
run_checks unknown <<'PY'
import os; exec(open(os.environ["WORK"] + "/sip.py").read())
r = udp("127.0.0.5", lambda lp: request(host="127.0.0.5", lport=lp))
result("drop_unknown_sources On: OPTIONS from 127.0.0.5 gets no answer (%s)" % r, r is None)
r = udp("127.0.0.5", lambda lp: request(method="INVITE", host="127.0.0.5", lport=lp))
result("drop_unknown_sources On: INVITE from 127.0.0.5 gets no answer, not even 403 (%s)" % r, r is None)
r, closed = tcp("127.0.0.5", lambda lp: request(host="127.0.0.5", transport="TCP", lport=lp))
result("drop_unknown_sources On: a TCP connection from 127.0.0.5 is closed unanswered (%s, closed %s)" % (r, closed),
       r is None and closed)
r = udp("127.0.0.1", lambda lp: request(lport=lp))
result("drop_unknown_sources On: the mapping's address 127.0.0.1 gets 200 (%s)" % r,
       r is not None and r.startswith("SIP/2.0 200"))
r = udp("127.0.0.9", lambda lp: request(host="127.0.0.9", lport=lp))
result("drop_unknown_sources On: the gateway's address 127.0.0.9 (any port) gets 200 (%s)" % r,
       r is not None and r.startswith("SIP/2.0 200"))
PY
http_get /metrics >/dev/null
n=$(awk '$1 == "sipswitch_sip_dropped_total{reason=\"unknown_source\"}" { print $2 }' "$WORK/http.body")
check "metrics: 3 messages from unknown sources dropped ($n)" [ "${n:-0}" = 3 ]

# both unknown-source switches On is a cfg error
printf '[core]\nallow_unknown_sources = On\ndrop_unknown_sources = On\nscript = %s\n' "$WORK/route.lua" >"$WORK/both.cfg"
out=$("$SW_BIN" --check -c "$WORK/both.cfg" 2>&1); rc=$?
check "--check refuses allow_unknown_sources with drop_unknown_sources (exit $rc)" all_of \
    [ $rc -ne 0 ] :: grep -q 'both.cfg:3: drop_unknown_sources' <<<"$out"
check "guard checks ran (23)" [ "$(cat "$WORK/front.out" "$WORK/unknown.out" | grep -cE '^(ok|FAIL) ')" -eq 23 ]
check "clean shutdown" stop_switch
finish
