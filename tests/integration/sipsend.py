#!/usr/bin/env python3
"""Raw SIP sender for the integration tests.

Sends one message (a file, exact bytes, or stdin) to the switch over UDP or
TCP from a fresh socket on 127.0.0.1 and prints the response it gets back
(or nothing). Exit status: 0 = a response arrived, 3 = nothing arrived
within the timeout, 4 = the TCP connection was closed by the switch.

  sipsend.py --udp 127.0.0.1:5060 [--timeout 2] [--expect 200] FILE|-
  sipsend.py --tcp 127.0.0.1:5060 ... FILE|-
Placeholders in the message ($LPORT, $LHOST, $CALLID, $BRANCH) are replaced
only with --template, so torture files are sent byte for byte.
"""
import argparse
import os
import random
import socket
import sys
import time


def parse_addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def first_line(data):
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def status_of(data):
    parts = first_line(data).split(" ")
    if len(parts) >= 2 and parts[0] == "SIP/2.0" and parts[1].isdigit():
        return int(parts[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--udp")
    g.add_argument("--tcp")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--expect", type=int, help="fail (exit 5) unless this status code arrives")
    ap.add_argument("--template", action="store_true")
    ap.add_argument("--all", action="store_true", help="keep reading until the timeout, print every response")
    ap.add_argument("file")
    a = ap.parse_args()

    data = sys.stdin.buffer.read() if a.file == "-" else open(a.file, "rb").read()
    target = parse_addr(a.udp or a.tcp)
    if a.udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    lhost, lport = s.getsockname()
    if a.template:
        subst = {
            b"$LPORT": str(lport).encode(),
            b"$LHOST": lhost.encode(),
            b"$CALLID": ("%x@test" % random.getrandbits(64)).encode(),
            b"$BRANCH": ("z9hG4bK%x" % random.getrandbits(48)).encode(),
            b"$TRANSPORT": b"UDP" if a.udp else b"TCP",
        }
        for k, v in subst.items():
            data = data.replace(k, v)
        if b"\r\n" not in data:
            data = data.replace(b"\n", b"\r\n")
    s.settimeout(a.timeout)
    got = []
    deadline = time.time() + a.timeout
    try:
        if a.udp:
            s.sendto(data, target)
        else:
            s.connect(target)
            s.sendall(data)
        buf = b""
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            if a.udp:
                chunk, _ = s.recvfrom(65536)
                got.append(chunk)
            else:
                chunk = s.recv(65536)
                if not chunk:
                    if not got and not buf:
                        print("CLOSED")
                        return 4
                    break
                buf += chunk
                # split complete messages by Content-Length: 0 framing (responses have no body here)
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    if head.strip():
                        got.append(head + b"\r\n\r\n")
            if got and not a.all:
                # a provisional response may be followed by a final one
                if status_of(got[-1]) is not None and status_of(got[-1]) >= 200:
                    break
    except socket.timeout:
        pass
    except ConnectionResetError:
        if not got:
            print("CLOSED")
            return 4
    finally:
        s.close()
    for m in got:
        sys.stdout.write(m.decode("latin-1"))
        sys.stdout.write("\n----\n")
    if not got:
        return 3
    if a.expect is not None:
        codes = [status_of(m) for m in got]
        if a.expect not in codes:
            sys.stderr.write("expected %d, got %s\n" % (a.expect, codes))
            return 5
    return 0


if __name__ == "__main__":
    sys.exit(main())
