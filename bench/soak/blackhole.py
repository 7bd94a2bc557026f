#!/usr/bin/env python3
"""A gateway that never answers, for bench/soak/run.sh: reads and discards
every UDP datagram sent to HOST:PORT. On SIGTERM it prints what it swallowed
(datagrams, INVITEs among them, distinct INVITE Call-IDs) and exits 0.

    blackhole.py HOST PORT
"""
import signal
import socket
import sys


def call_id(datagram):
    """The Call-ID header's value (long or compact form), or None."""
    for line in datagram.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return value.strip()
    return None


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # a large buffer so the kernel does not drop what a burst of INVITEs
    # sends while this process waits for a CPU (drops would not change the
    # switch's view, but they would make the counts below wrong)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, port))
    datagrams = invites = 0
    call_ids = set()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    sock.settimeout(0.2)
    while not stopping:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        datagrams += 1
        if data.startswith(b"INVITE "):
            invites += 1
            cid = call_id(data)
            if cid is not None:
                call_ids.add(cid)
    print(f"datagrams {datagrams} invites {invites} invite_call_ids {len(call_ids)}", flush=True)


if __name__ == "__main__":
    main()
