#!/usr/bin/env bash
# nat_keepalive in a running switch (doc/modules/nat_keepalive.md), with
# bindings from the test-only tests/modules/fake_registrar and a UDP sink
# (python3, one socket per device, bounded in time) that records every
# heartbeat:
#  1. 5,000 NAT bindings at a 2 s period, with a batch too small for them
#     (VOS3000's weakness): each device gets exactly one heartbeat per
#     period (consecutive ones a period apart) over four periods, the first
#     within the first period, spread evenly over the period, the payload
#     HELLO from the socket the device registered through (the first UDP
#     socket for the synthetic ones, the second for 50 devices that
#     REGISTERed through it); the pace raised, warned once, counted;
#  2. an empty message turns it off; a reload turns it on at a new period;
#  3. a device on TCP gets CRLF CRLF on its connection;
#  4. OPTIONS mode: answered pings keep 20 devices; once the sink stops
#     answering they are dropped after keepalive_max_missed periods, through
#     the registrar's bindings API;
#  5. with the real registrar: phones REGISTER with digest from behind NAT;
#     one gets its HELLOs, one in OPTIONS mode that never answers loses its
#     registration, one not behind NAT gets nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh" # all_of
SW_MODULE_PATH="$top_builddir/modules:$top_builddir/tests/modules"
PY=${PYTHON3:-python3}
SIP_PORT2=$(free_port)

cat >"$WORK/sink.py" <<'PY'
"""A UDP sink standing in for NAT devices: one socket per device on
127.0.0.1, consecutive ports. Records every datagram (arrival time, source,
payload), optionally REGISTERs some devices through the switch first and
answers OPTIONS for a while; runs for a fixed time and writes a JSON
report."""
import json, os, random, re, selectors, socket, sys, time

args = dict(a.split("=", 1) for a in sys.argv[1:])
count = int(args["count"])            # devices of the synthetic bindings
registered = int(args.get("register", "0"))  # more devices, REGISTERed through register_to
duration = float(args["duration"])
answer_for = float(args.get("answer_for", "0"))  # answer OPTIONS this long after the first one
answer_after = float(args.get("answer_after", "1e9"))  # and again from then on (retransmissions included)
total = count + registered

# consecutive free ports, none the switch's: try a few random bases
# (bounded); or the ports given
avoid = [int(p) for p in args.get("avoid", "").split(",") if p]
socks = []
if "ports" in args:
    ports = [int(p) for p in args["ports"].split(",")]
    for p in ports:
        socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        socks[-1].bind(("127.0.0.1", p))
        socks[-1].setblocking(False)
    base = ports[0]
if not socks:
    for attempt in range(50):
        base = random.randrange(20000, 60000 - total)
        if any(base <= p < base + total for p in avoid):
            continue
        try:
            for i in range(total):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
                s.setblocking(False)
            break
        except OSError:
            for s in socks:
                s.close()
            socks = []
    else:
        sys.exit("no %d consecutive free ports" % total)
with open(args["base_file"] + ".tmp", "w") as f:
    f.write(str(base))
os.rename(args["base_file"] + ".tmp", args["base_file"])

sel = selectors.DefaultSelector()
for i, s in enumerate(socks):
    sel.register(s, selectors.EVENT_READ, i)

arrivals = [[] for _ in range(total)]   # times of heartbeats
sources = [{}, {}]                      # heartbeat source -> count: synthetic devices, registered ones
bad_payload = 0
options = [set() for _ in range(total)]  # Call-IDs of the OPTIONS (retransmissions are not pings)
options_answered = 0
options_bad = []
first_options = None
start = time.monotonic()
deadline = start + duration
register_sent = False


def register(i):
    port = base + i
    msg = ("REGISTER sip:127.0.0.1:%s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-reg%d;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:reg%d@fake.invalid>;tag=r%d\r\nTo: <sip:reg%d@fake.invalid>\r\n"
           "Call-ID: reg%d-%d\r\nCSeq: 1 REGISTER\r\nContact: <sip:reg%d@10.9.9.9:5060>\r\nExpires: 600\r\n"
           "Content-Length: 0\r\n\r\n") % (args["register_to"], port, i, i, i, i, i, port, i)
    socks[i].sendto(msg.encode(), ("127.0.0.1", int(args["register_to"])))


def answer(sock, data, src):
    text = data.decode("latin-1")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [h for h in head[1:] if re.match(r"(?i)(via|from|to|call-id|cseq)\s*:", h)]
    reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
    sock.sendto(reply.encode(), src)


while True:
    now = time.monotonic()
    if now >= deadline:
        break
    if registered and not register_sent and os.path.exists(args["go_file"]):
        for i in range(count, total):
            register(i)
        register_sent = True
    for key, _ in sel.select(timeout=min(0.2, deadline - now)):
        s, i = key.fileobj, key.data
        while True:
            try:
                data, src = s.recvfrom(65535)
            except BlockingIOError:
                break
            t = time.monotonic()
            if data.startswith(b"SIP/2.0 "):
                continue  # the answer to our REGISTER
            if data.startswith(b"OPTIONS "):
                call_id = re.search(rb"\r\nCall-ID: *([^\r]+)", data)
                options[i].add(call_id.group(1) if call_id else b"")
                first_options = first_options or t
                if "ports" not in args and not re.match(rb"OPTIONS sip:dev%d@192\.168\.\d+\.\d+:5060 SIP/2.0\r\n" % i, data) or \
                        not re.search(rb"\r\nTo: <sip:dev%d@fake.invalid>\r\n" % i, data):
                    options_bad.append(data[:200].decode("latin-1"))
                if t - first_options < answer_for or t - first_options >= answer_after:
                    answer(s, data, src)
                    options_answered += 1
                continue
            if data != args.get("payload", "HELLO").encode():
                bad_payload += 1
            arrivals[i].append(t)
            group = sources[0 if i < count else 1]
            group["%s:%d" % src] = group.get("%s:%d" % src, 0) + 1

synthetic = arrivals[:count]
heard = [a for a in synthetic if a]
first = min(a[0] for a in heard) if heard else 0
gaps = [b - a for a in synthetic for a, b in zip(a, a[1:])]
period = float(args.get("period", "2"))
# the phase of every heartbeat in the period, in 10 bins, over whole periods
last = max((a[-1] for a in heard), default=0)
end = first + int((last - first) / period) * period
bins = [0] * 10
for a in synthetic:
    for t in a:
        if t < end:
            bins[int(((t - first) % period) / period * 10) % 10] += 1
report = {
    "base": base,
    "packets": sum(len(a) for a in arrivals),
    "packets_synthetic": sum(len(a) for a in synthetic),
    "packets_registered": sum(len(a) for a in arrivals[count:]),
    "devices_heard": len(heard),
    "min_count": min((len(a) for a in synthetic), default=0),
    "max_count": max((len(a) for a in synthetic), default=0),
    "min_gap": min(gaps, default=0),
    "max_gap": max(gaps, default=0),
    "first_spread": max((a[0] - first for a in heard), default=0),
    "bins": bins,
    "bad_payload": bad_payload,
    "sources": sources[0],
    "registered_sources": sources[1],
    "registered_heard": sum(1 for a in arrivals[count:] if a),
    "registered_min_count": min((len(a) for a in arrivals[count:]), default=0),
    "counts": [len(a) for a in arrivals],
    "options_per_device": [len(n) for n in options],
    "options_devices": sum(1 for n in options if n),
    "options_total": sum(len(n) for n in options),
    "options_answered": options_answered,
    "options_bad": options_bad[:3],
}
with open(args["report"], "w") as f:
    json.dump(report, f)
PY

# start_sink NAME ARGS...: the sink in the background; waits for its ports
start_sink() {
    local name=$1; shift
    rm -f "$WORK/$name.base" "$WORK/$name.json" "$WORK/go"
    $PY "$WORK/sink.py" base_file="$WORK/$name.base" report="$WORK/$name.json" go_file="$WORK/go" \
        avoid="$SIP_PORT,$SIP_PORT2,$HTTP_PORT" "$@" \
        >"$WORK/$name.sink.log" 2>&1 &
    SINK_PID=$!
    local i
    for i in $(seq 1 100); do [ -s "$WORK/$name.base" ] && break; sleep 0.1; done
    BASE=$(cat "$WORK/$name.base" 2>/dev/null)
    [ -n "$BASE" ] || { fail "$name: the sink did not start: $(cat "$WORK/$name.sink.log")"; return 1; }
}
wait_sink() { wait "$SINK_PID"; }
# field NAME FIELD: a value of the sink's report
field() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v)' "$WORK/$1.json" "$2"; }
metric() {
    http_get /metrics >/dev/null
    awk -v k="sipswitch_$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$WORK/http.body"
}
le() { $PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$1" "$2"; }
between() { le "$2" "$1" && le "$1" "$3"; }

# keepalive_cfg LINES...: both modules, a 2 s period, a second UDP socket
keepalive_cfg() {
    write_cfg "load = fake_registrar, nat_keepalive" "[nat_keepalive]" "period = 2" "send_interval = 100ms" \
        "allow_short_intervals = On" "$@"
    sed -i -e "s/^listen = .*/listen = udp:127.0.0.1:$SIP_PORT, tcp:127.0.0.1:$SIP_PORT, udp:127.0.0.1:$SIP_PORT2/" \
        -e 's/^log_level = .*/log_level = info/' "$WORK/sipswitch.cfg"
}
started() { start_switch || { fail "the switch did not start"; finish; }; }

# ---- 1. 5,000 devices, one heartbeat each per period, batch too small -------------------------
N=5000 REG=50
start_sink raw count=$N register=$REG register_to=$SIP_PORT2 duration=9.5 period=2 || finish
keepalive_cfg "batch = 100" "[fake_registrar]" "count = $N" "source = 127.0.0.1:$BASE" "ports_per_ip = $N" \
    "answer_register = On"
started
touch "$WORK/go"
wait_sink
check "every one of the $N devices got heartbeats" [ "$(field raw devices_heard)" = $N ]
# the switch ran ~9 s at a 2 s period: none starved, none served twice as often as another
check "each device got at least 3 heartbeats, all within one of each other ($(field raw min_count)..$(field raw max_count))" \
    all_of le 3 "$(field raw min_count)" :: between "$(field raw max_count)" "$(field raw min_count)" \
    $(($(field raw min_count) + 1))
check "consecutive heartbeats of a device are one period apart: $(field raw min_gap) .. $(field raw max_gap) s" \
    all_of between "$(field raw min_gap)" 1.6 2.4 :: between "$(field raw max_gap)" 1.6 2.4
check "every device had its first heartbeat within the first period ($(field raw first_spread) s)" \
    le "$(field raw first_spread)" 2.3
bins=$(field raw bins)
check "sends spread evenly over the period: $bins per tenth" $PY -c '
import sys; b = eval(sys.argv[1]); m = sum(b) / len(b)
sys.exit(0 if all(abs(x - m) <= 0.25 * m for x in b) else 1)' "$bins"
check "every payload was HELLO" [ "$(field raw bad_payload)" = 0 ]
check "the synthetic devices' heartbeats all came from the first UDP socket ($(field raw sources))" \
    [ "$(field raw sources)" = "{'127.0.0.1:$SIP_PORT': $(field raw packets_synthetic)}" ]
check "the $REG devices that REGISTERed through the second socket got theirs from it" \
    [ "$(field raw registered_sources)" = "{'127.0.0.1:$SIP_PORT2': $(field raw packets_registered)}" ]
check "all $REG registered devices heard, at least 3 times each" \
    all_of [ "$(field raw registered_heard)" = $REG ] :: le 3 "$(field raw registered_min_count)"
check "devices gauge = $((N + REG))" [ "$(metric nat_keepalive_devices)" = $((N + REG)) ]
check "heartbeats_last_pass = $((N + REG)): one per device" \
    [ "$(metric nat_keepalive_heartbeats_last_pass)" = $((N + REG)) ]
check "last_pass_ms is the period ($(metric nat_keepalive_last_pass_ms))" \
    between "$(metric nat_keepalive_last_pass_ms)" 1900 2300
check "the pace was raised (20 turns x 100 < $N) and counted" le 1 "$(metric nat_keepalive_pace_raised_total)"
check "the pace warning was given once, at warn level" \
    all_of [ "$(grep -c 'pace raised' "$WORK/sipswitch.log")" = 1 ] :: \
    [ "$(grep -c ' warn .*\[nat_keepalive\] .*pace raised' "$WORK/sipswitch.log")" = 1 ]
check "turns every $(metric nat_keepalive_send_interval_ms) ms (< 100)" le "$(metric nat_keepalive_send_interval_ms)" 99
check "no send errors" [ "$(metric nat_keepalive_send_errors_total)" = 0 ]
stop_switch || fail "clean stop"

# ---- 2. an empty message turns it off; a reload turns it on, at a new period ----------------
start_sink off count=200 duration=6 period=1 || finish
keepalive_cfg "message =" "[fake_registrar]" "count = 200" "source = 127.0.0.1:$BASE" "ports_per_ip = 200"
started
sleep 2.5
check "message empty: no heartbeat sent in two periods" [ "$(metric 'nat_keepalive_heartbeats_total{kind="udp"}')" = 0 ]
check "message empty: the 200 devices are still known" [ "$(metric nat_keepalive_devices)" = 200 ]
check "message empty: the log says keep-alives are off" grep -q "keep-alives are off" "$WORK/sipswitch.log"
sed -i -e 's/^message =.*/message = HELLO/' -e 's/^period = 2/period = 1/' "$WORK/sipswitch.cfg"
check "reload with message = HELLO and period = 1 accepted" [ "$(http_post /api/v1/reload)" = 200 ]
wait_sink
# the sink ran ~3 s after the reload: the devices respread over 1 s
check "after the reload every device gets heartbeats, a period apart ($(field off min_count) each at least)" \
    all_of [ "$(field off devices_heard)" = 200 ] :: le 2 "$(field off min_count)" :: \
    between "$(field off min_gap)" 0.7 1.3 :: between "$(field off max_gap)" 0.7 1.3
stop_switch || fail "clean stop"

# ---- 3. a device on TCP gets CRLF CRLF on its connection --------------------------------------
keepalive_cfg "[fake_registrar]" "answer_register = On"
started
tcp_out=$($PY - "$SIP_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
c = socket.create_connection(("127.0.0.1", port), timeout=5)
me = "127.0.0.1:%d" % c.getsockname()[1]
c.sendall(("REGISTER sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-tcp1;rport\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:tcp1@fake.invalid>;tag=t1\r\nTo: <sip:tcp1@fake.invalid>\r\n"
           "Call-ID: tcp1\r\nCSeq: 1 REGISTER\r\nContact: <sip:tcp1@10.1.1.1:5060;transport=tcp>\r\n"
           "Expires: 600\r\nContent-Length: 0\r\n\r\n" % (port, me)).encode())
buf, deadline = b"", time.monotonic() + 5.5
c.settimeout(0.2)
while time.monotonic() < deadline:
    try:
        d = c.recv(4096)
    except socket.timeout:
        continue
    if not d:
        break
    buf += d
head, _, rest = buf.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), rest.count(b"\r\n\r\n"), len(rest.replace(b"\r\n", b"")))
PY
)
set -- $tcp_out
check "TCP device: REGISTER answered ($tcp_out)" [ "${1:-} ${2:-}" = "SIP/2.0 200" ]
check "TCP device: 2 or 3 CRLF CRLF keep-alives in 5.5 s on its connection" between "${4:-0}" 2 3
check "TCP device: nothing but CRLFs after the 200" [ "${5:-1}" = 0 ]
check "heartbeats_total{kind=tcp} counted" le 2 "$(metric 'nat_keepalive_heartbeats_total{kind="tcp"}')"
stop_switch || fail "clean stop"

# ---- 4. OPTIONS mode: silence drops the binding after keepalive_max_missed --------------------
D=20
# from 9.5 s on the sink answers again, retransmissions included, so that
# no OPTIONS transaction is left pending at the stop: the core leaks the
# context of a request_send still pending at shutdown (core/call/uac.c),
# which fails the ASan build
start_sink opt count=$D duration=15 period=2 answer_for=3 answer_after=9.5 || finish
keepalive_cfg "registrar_module = fake_registrar" "[account pbx]" "keepalive_mode = options" \
    "keepalive_max_missed = 2" "[fake_registrar]" "count = $D" "source = 127.0.0.1:$BASE" "ports_per_ip = $D" \
    "account = pbx"
started
# the sink answers for 3 s after the first ping: the last answered ping of a
# device is 1-3 s in, its first miss counted 4 s later, the drop 2 s after that
sleep 2.5
check "OPTIONS answered: no failure, nothing dropped" \
    [ "$(metric nat_keepalive_options_failures_total) $(metric nat_keepalive_bindings_dropped_total)" = "0 0" ]
check "OPTIONS answered: $D devices kept" [ "$(metric nat_keepalive_devices)" = $D ]
sleep 4
check "silent for less than 2 periods after a miss: nothing dropped yet" \
    [ "$(metric nat_keepalive_bindings_dropped_total)" = 0 ]
wait_sink
check "every device was pinged with OPTIONS ($(field opt options_devices))" [ "$(field opt options_devices)" = $D ]
check "OPTIONS: the contact as Request-URI, the AOR in To ($(field opt options_bad))" \
    [ "$(field opt options_bad)" = "[]" ]
check "options mode sends no raw heartbeat" [ "$(field opt packets)" = 0 ]
check "$D silent devices dropped after 2 missed ($(metric nat_keepalive_bindings_dropped_total))" \
    [ "$(metric nat_keepalive_bindings_dropped_total)" = $D ]
check "the registrar was asked to remove them ($(metric fake_registrar_removed_total))" \
    [ "$(metric fake_registrar_removed_total)" = $D ]
check "devices gauge back to 0" [ "$(metric nat_keepalive_devices)" = 0 ]
check "two failures counted per device ($(metric nat_keepalive_options_failures_total))" \
    [ "$(metric nat_keepalive_options_failures_total)" = $((2 * D)) ]
check "each drop logged" [ "$(grep -c 'unanswered: binding dropped' "$WORK/sipswitch.log")" = $D ]
check "no ping after a drop: 3 or 4 OPTIONS per device ($(field opt options_total) Call-IDs in all)" \
    between "$(field opt options_total)" $((3 * D)) $((4 * D))
stop_switch || fail "clean stop"

# ---- 5. with the real registrar: REGISTER with digest from behind NAT ---------------------------
UA="$PY $top_srcdir/tests/integration/registrar_ua.py --server 127.0.0.1:$SIP_PORT"
write_cfg "load = registrar, nat_keepalive"
cat >>"$WORK/sipswitch.cfg" <<CFG
[registrar]
db =
[nat_keepalive]
period = 2
send_interval = 100ms
allow_short_intervals = On
[account 1001]
password = secret1001
[account 1002]
password = secret1002
[account 1003]
password = secret1003
keepalive_mode = options
keepalive_max_missed = 1
CFG
sed -i 's/^log_level = .*/log_level = info/' "$WORK/sipswitch.cfg"
started
P1=$(free_port) P2=$(free_port) P3=$(free_port)
$UA --user 1002 --password secret1002 --bind "127.0.0.1:$P1" --via-host 192.168.1.20 --via-port 5060 \
    --expires 600 >"$WORK/reg1002.out" 2>&1
check "1002 registered from behind NAT" grep -q "^SIP/2.0 200" "$WORK/reg1002.out"
$UA --user 1003 --password secret1003 --bind "127.0.0.1:$P2" --via-host 192.168.1.30 --via-port 5060 \
    --expires 600 >"$WORK/reg1003.out" 2>&1
check "1003 (options mode) registered from behind NAT" grep -q "^SIP/2.0 200" "$WORK/reg1003.out"
$UA --user 1001 --password secret1001 --bind "127.0.0.1:$P3" --expires 600 >"$WORK/reg1001.out" 2>&1
check "1001 registered, not behind NAT" grep -q "^SIP/2.0 200" "$WORK/reg1001.out"
check "nat_keepalive keeps the two NAT bindings" [ "$(metric nat_keepalive_devices)" = 2 ]
# the sink answers 1003's retransmissions once it has been dropped (the
# core's leak at shutdown, part 4)
start_sink real ports="$P1,$P2,$P3" count=3 duration=7 period=2 answer_after=3 || finish
wait_sink
counts=$(field real counts) pings=$(field real options_per_device)
check "1002 got its HELLOs at its NAT address, the others none ($counts)" $PY -c '
import sys; c = eval(sys.argv[1]); sys.exit(0 if 3 <= c[0] <= 4 and c[1] == 0 and c[2] == 0 else 1)' "$counts"
check "1003 got OPTIONS, the others none ($pings)" $PY -c '
import sys; c = eval(sys.argv[1]); sys.exit(0 if c[0] == 0 and c[1] >= 1 and c[2] == 0 else 1)' "$pings"
check "1003 left its ping unanswered: the registrar removed its binding" \
    grep -q "1003: binding .* removed by nat_keepalive" "$WORK/sipswitch.log"
http_get /api/v1/registrations >/dev/null
check "the registrar lists 1001 and 1002 only" $PY -c '
import json, sys; d = json.load(open(sys.argv[1]))
sys.exit(0 if sorted(r["account"] for r in d["registrations"]) == ["1001", "1002"] else 1)' "$WORK/http.body"
check "one binding dropped, one device left" \
    [ "$(metric nat_keepalive_bindings_dropped_total) $(metric nat_keepalive_devices)" = "1 1" ]
stop_switch || fail "clean stop"
finish
