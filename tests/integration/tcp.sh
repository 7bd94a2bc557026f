#!/usr/bin/env bash
# SIP over TCP: pipelined and split messages, CRLF keep-alive, framing
# errors close the connection, the connection limit and the idle timeout.
. "$(dirname "$0")/lib.sh"
write_cfg "max_tcp_connections = 3" "tcp_idle_timeout = 2"
start_switch || { fail "start"; finish; }
export SIP_PORT WORK
options_msg >"$WORK/opt.tmpl"

${PYTHON3:-python3} - <<'PY' >"$WORK/tcp.out" 2>&1
import os, socket, time, random
port = int(os.environ["SIP_PORT"])
tmpl = open(os.environ["WORK"] + "/opt.tmpl", "rb").read()
def msg(s, cid):
    return (tmpl.replace(b"$TRANSPORT", b"TCP").replace(b"$LPORT", str(s.getsockname()[1]).encode())
                .replace(b"$BRANCH", b"z9hG4bK%d" % cid).replace(b"$CALLID", b"tcp-%d@test" % cid))
def read_responses(s, n, timeout=3.0):
    s.settimeout(timeout); buf = b""; end = time.time() + timeout
    while buf.count(b"\r\n\r\n") < n and time.time() < end:
        try:
            c = s.recv(65536)
        except socket.timeout:
            break
        if not c: break
        buf += c
    return buf
def result(name, ok): print(("ok " if ok else "FAIL ") + name)

# two requests in one segment
s = socket.create_connection(("127.0.0.1", port))
s.sendall(msg(s, 1) + msg(s, 2))
r = read_responses(s, 2)
result("pipelined: two 200s", r.count(b"SIP/2.0 200 OK") == 2 and b"tcp-1@test" in r and b"tcp-2@test" in r)
# one request split in three writes
m = msg(s, 3)
for part in (m[:10], m[10:100], m[100:]):
    s.sendall(part); time.sleep(0.05)
r = read_responses(s, 1)
result("split across writes: 200", b"SIP/2.0 200 OK" in r and b"tcp-3@test" in r)
# RFC 5626 keep-alive ping
s.sendall(b"\r\n\r\n"); s.settimeout(2)
pong = s.recv(16)
result("CRLF CRLF ping gets a CRLF pong", pong == b"\r\n")
s.close()

# no Content-Length on a stream: 400 and the connection is closed
s = socket.create_connection(("127.0.0.1", port))
bad = msg(s, 4).replace(b"Content-Length: 0\r\n", b"")
s.sendall(bad)
r = read_responses(s, 1)
result("missing Content-Length: 400", r.startswith(b"SIP/2.0 400"))
s.settimeout(2)
try:
    rest = s.recv(100)
except Exception:
    rest = b"x"
result("missing Content-Length: connection closed", rest == b"")
s.close()

# connection limit: 3 allowed, the 4th is closed at once
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
time.sleep(0.2)
extra = socket.create_connection(("127.0.0.1", port)); extra.settimeout(2)
try:
    closed = extra.recv(10) == b""
except ConnectionResetError:
    closed = True
except socket.timeout:
    closed = False
result("4th connection over max_tcp_connections=3 is closed", closed)
extra.close()
# the 3 allowed still work
c = conns[0]; c.sendall(msg(c, 5))
result("connections under the limit still answered", b"SIP/2.0 200" in read_responses(c, 1))
# idle timeout: 2 s without a message closes the connection
c2 = conns[1]; c2.settimeout(5); t0 = time.time()
try:
    data = c2.recv(10)
except Exception:
    data = b"?"
result("idle connection closed after tcp_idle_timeout (%.1f s)" % (time.time() - t0), data == b"" and 1.0 < time.time() - t0 < 4.5)
for c in conns: c.close()
time.sleep(0.3)
# after closing, new connections are accepted again
s = socket.create_connection(("127.0.0.1", port)); s.sendall(msg(s, 6))
result("new connection after others closed: 200", b"SIP/2.0 200" in read_responses(s, 1))
s.close()
PY
while read -r line; do
    case "$line" in ok\ *) pass "${line#ok }" ;; FAIL\ *) fail "${line#FAIL }" ;; *) echo "$line" ;; esac
done <"$WORK/tcp.out"
check "tcp checks ran (9)" [ "$(grep -cE '^(ok|FAIL) ' "$WORK/tcp.out")" -eq 9 ]
http_get /metrics >/dev/null
check "metrics count refused TCP connections" grep -qE '^sipswitch_sip_dropped_total\{reason="tcp_limit"\} [1-9]' "$WORK/http.body"
check "clean shutdown" stop_switch
finish
