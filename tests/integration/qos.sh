#!/usr/bin/env bash
# SS_QOS_SIGNAL reaches the wire: the ToS byte of the switch's SIP packets
# (UDP and TCP), read off the loopback interface, and a reload changes it.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then
    echo "# SKIP: sniffing loopback needs root"; exit 77
fi
write_cfg "SS_QOS_SIGNAL = 0x28"
start_switch || { fail "start"; finish; }
export SIP_PORT WORK

# tos_of PROTO: sends one OPTIONS over PROTO and prints the ToS byte of the
# switch's answer as seen on lo
tos_of() {
    options_msg >"$WORK/opt.tmpl"
    ${PYTHON3:-python3} - "$1" <<'PY'
import os, socket, struct, sys, time
proto = sys.argv[1]
port = int(os.environ["SIP_PORT"])
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
sniff.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20) # other traffic on lo must not crowd ours out
sniff.bind(("lo", 0x0800))
sniff.settimeout(0.2)
tmpl = open(os.environ["WORK"] + "/opt.tmpl", "rb").read()
if proto == "udp":
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.bind(("127.0.0.1", 0))
else:
    c = socket.create_connection(("127.0.0.1", port))
msg = (tmpl.replace(b"$TRANSPORT", proto.upper().encode()).replace(b"$LPORT", str(c.getsockname()[1]).encode())
          .replace(b"$BRANCH", b"z9hG4bKqos").replace(b"$CALLID", b"qos@test"))
c.sendto(msg, ("127.0.0.1", port)) if proto == "udp" else c.sendall(msg)
ipproto = 17 if proto == "udp" else 6
end = time.time() + 5
while time.time() < end:
    try:
        pkt = sniff.recv(70000)
    except socket.timeout:
        continue
    ihl = (pkt[0] & 0x0F) * 4
    if pkt[9] != ipproto or len(pkt) < ihl + 4:
        continue
    sport = struct.unpack("!H", pkt[ihl:ihl + 2])[0]
    payload = pkt[ihl + (8 if proto == "udp" else (pkt[ihl + 12] >> 4) * 4):]
    if sport == port and payload.startswith(b"SIP/2.0 200") and b"qos@test" in payload:
        print("0x%02x" % pkt[1]); sys.exit(0)
print("none")
PY
}
got=$(tos_of udp); check "UDP responses carry ToS 0x28 (got $got)" [ "$got" = 0x28 ]
got=$(tos_of tcp); check "TCP responses carry ToS 0x28 (got $got)" [ "$got" = 0x28 ]
sed -i 's/^SS_QOS_SIGNAL = 0x28/SS_QOS_SIGNAL = 0xb8/' "$WORK/sipswitch.cfg"
code=$(http_post /api/v1/reload)
check "reload with a new SS_QOS_SIGNAL: 200" [ "$code" = 200 ]
got=$(tos_of udp); check "after reload, UDP responses carry ToS 0xb8 (got $got)" [ "$got" = 0xb8 ]
check "clean shutdown" stop_switch
finish
