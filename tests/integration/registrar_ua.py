#!/usr/bin/env python3
"""A registering device for the registrar tests (sipp's [authentication]
knows only MD5, and these tests need SHA-256, a chosen Via/Contact to play a
device behind NAT, and every header of every answer).

  registrar_ua.py --server 127.0.0.1:5060 [--udp|--tcp] [--bind IP:PORT]
      --user 1001 [--password secret] [--alg SHA-256|MD5] [--auth-header Authorization]
      [--contact '<sip:1001@192.168.1.20:5060>;q=0.5' ...] [--star] [--expires N]
      [--via-host 192.168.1.20] [--via-port 5060] [--call-id X] [--cseq N]
      [--method REGISTER] [--timeout 2] [--replay]

Sends the request; when challenged and given a password, answers the
challenge of the chosen algorithm (default SHA-256 when offered, else MD5).
Prints every response received, each followed by a line '----'. Exit status:
0 when the last response is 2xx, 1 for another final response, 3 when
nothing came back. --replay sends the authenticated request a second time
with the same nonce count (a replay) and prints that answer too.
"""
import argparse
import hashlib
import random
import re
import socket
import sys
import time


def parse_addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def challenges(resp, header):
    out = []
    for line in resp.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == header.lower() and value.strip().lower().startswith("digest"):
            params = dict((m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3))
                          for m in re.finditer(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]+))', value))
            out.append(params)
    return out


def status_of(resp):
    m = re.match(r"SIP/2\.0 (\d{3})", resp)
    return int(m.group(1)) if m else 0


class Device:
    def __init__(self, a):
        self.a = a
        self.server = parse_addr(a.server)
        kind = socket.SOCK_DGRAM if a.udp else socket.SOCK_STREAM
        self.s = socket.socket(socket.AF_INET, kind)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(parse_addr(a.bind) if a.bind else ("127.0.0.1", 0))
        self.lhost, self.lport = self.s.getsockname()
        if not a.udp:
            self.s.connect(self.server)
        self.s.settimeout(a.timeout)
        self.call_id = a.call_id or "%x@registrar-test" % random.getrandbits(64)
        self.cseq = a.cseq
        self.buf = b""
        self.from_tag = "%x" % random.getrandbits(32)
        self.branch = None

    def build(self, auth=None):
        a = self.a
        transport = "UDP" if a.udp else "TCP"
        via_host = a.via_host or self.lhost
        via_port = a.via_port or self.lport
        ruri = a.ruri or "sip:%s:%d" % self.server
        self.branch = "z9hG4bK%x" % random.getrandbits(48)
        lines = ["%s %s SIP/2.0" % (a.method, ruri),
                 "Via: SIP/2.0/%s %s:%d;branch=%s;rport" % (transport, via_host, via_port, self.branch),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (a.user, a.domain, self.from_tag),
                 "To: <sip:%s@%s>" % (a.to_user or a.user, a.domain),
                 "Call-ID: %s" % self.call_id,
                 "CSeq: %d %s" % (self.cseq, a.method),
                 "User-Agent: registrar-test"]
        if a.star:
            lines.append("Contact: *")
        for c in a.contact or ([] if a.star or a.no_contact else
                               ["<sip:%s@%s:%d>" % (a.user, via_host, via_port)]):
            lines.append("Contact: %s" % c)
        if a.expires is not None:
            lines.append("Expires: %d" % a.expires)
        if auth:
            lines.append(auth)
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode(), ruri

    def ack(self, resp):
        """ACKs a final non-2xx answer to an INVITE (RFC 3261 17.1.1.3), so
        that the switch stops retransmitting it."""
        a = self.a
        if a.method != "INVITE" or status_of(resp) < 300:
            return
        to = re.search(r"^To:(.*)$", resp, re.M | re.I).group(1).strip()
        via_host = a.via_host or self.lhost
        via_port = a.via_port or self.lport
        lines = ["ACK %s SIP/2.0" % (a.ruri or "sip:%s:%d" % self.server),
                 "Via: SIP/2.0/%s %s:%d;branch=%s;rport" % ("UDP" if a.udp else "TCP", via_host, via_port,
                                                             self.branch),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (a.user, a.domain, self.from_tag),
                 "To: %s" % to,
                 "Call-ID: %s" % self.call_id,
                 "CSeq: %d ACK" % self.cseq,
                 "Content-Length: 0", "", ""]
        self.send("\r\n".join(lines).encode())

    def send(self, data):
        if self.a.udp:
            self.s.sendto(data, self.server)
        else:
            self.s.sendall(data)

    def receive(self):
        """The next final response (provisional ones printed and skipped), or None."""
        deadline = time.time() + self.a.timeout
        while time.time() < deadline:
            try:
                if self.a.udp:
                    data, _ = self.s.recvfrom(65536)
                    text = data.decode("latin-1")
                else:
                    while b"\r\n\r\n" not in self.buf:
                        chunk = self.s.recv(65536)
                        if not chunk:
                            return None
                        self.buf += chunk
                    head, _, rest = self.buf.partition(b"\r\n\r\n")
                    m = re.search(rb"\r\nContent-Length:\s*(\d+)", head, re.I)
                    n = int(m.group(1)) if m else 0
                    text = (head + b"\r\n\r\n" + rest[:n]).decode("latin-1")
                    self.buf = rest[n:]
            except socket.timeout:
                return None
            print(text.replace("\r\n", "\n").rstrip("\n"))
            print("----")
            sys.stdout.flush()
            if status_of(text) >= 200:
                self.ack(text)
                return text
        return None

    def authorization(self, resp, ruri):
        a = self.a
        code = status_of(resp)
        header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
        offered = challenges(resp, header)
        if not offered:
            return None
        want = a.alg
        ch = None
        for c in offered:
            if want is None or c.get("algorithm", "MD5").upper() == want.upper():
                ch = c
                break
        if ch is None:
            return None
        alg = ch.get("algorithm", "MD5").upper()
        h = (lambda s: hashlib.sha256(s.encode()).hexdigest()) if alg == "SHA-256" else \
            (lambda s: hashlib.md5(s.encode()).hexdigest())
        ha1 = h("%s:%s:%s" % (a.auth_user or a.user, ch["realm"], a.password))
        ha2 = h("%s:%s" % (a.method, ruri))
        cnonce = "%x" % random.getrandbits(32)
        nc = "00000001"
        if "qop" in ch and not a.no_qop:
            response = h("%s:%s:%s:%s:auth:%s" % (ha1, ch["nonce"], nc, cnonce, ha2))
            extra = ', qop=auth, nc=%s, cnonce="%s"' % (nc, cnonce)
        else:
            response = h("%s:%s:%s" % (ha1, ch["nonce"], ha2))
            extra = ""
        name = a.auth_header or ("Authorization" if code == 401 else "Proxy-Authorization")
        return '%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s%s' % (
            name, a.auth_user or a.user, ch["realm"], ch["nonce"], ruri, response, alg, extra)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--udp", action="store_true", default=True)
    g.add_argument("--tcp", dest="udp", action="store_false")
    ap.add_argument("--bind")
    ap.add_argument("--user", required=True)
    ap.add_argument("--to-user")
    ap.add_argument("--auth-user")
    ap.add_argument("--domain", default="example.com")
    ap.add_argument("--password")
    ap.add_argument("--alg")
    ap.add_argument("--auth-header")
    ap.add_argument("--no-qop", action="store_true")
    ap.add_argument("--contact", action="append")
    ap.add_argument("--no-contact", action="store_true")
    ap.add_argument("--star", action="store_true")
    ap.add_argument("--expires", type=int)
    ap.add_argument("--via-host")
    ap.add_argument("--via-port", type=int)
    ap.add_argument("--call-id")
    ap.add_argument("--cseq", type=int, default=1)
    ap.add_argument("--method", default="REGISTER")
    ap.add_argument("--ruri")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--replay", action="store_true")
    a = ap.parse_args()

    d = Device(a)
    data, ruri = d.build()
    d.send(data)
    resp = d.receive()
    if resp is None:
        return 3
    if status_of(resp) in (401, 407) and a.password is not None:
        auth = d.authorization(resp, ruri)
        if auth is None:
            print("no challenge of the wanted algorithm", file=sys.stderr)
            return 1
        for _ in range(2 if a.replay else 1):
            d.cseq += 1
            data, _ = d.build(auth)
            d.send(data)
            resp = d.receive()
            if resp is None:
                return 3
    return 0 if 200 <= status_of(resp) < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
