#!/usr/bin/env python3
"""Reads the trace of a sipp carrier registrar (-trace_msg) facing the
switch's outbound registration, and prints one line per message:

  <seconds since the first message> <recv|sent> REGISTER cseq=N expires=E auth=none|ok|bad:<why> [nc=N]
  <seconds since the first message> recv REGISTER cseq=N retransmission
  <seconds since the first message> <recv|sent> <status code>

auth=ok (followed by alg=MD5 or alg=SHA-256) means the Authorization
answers the last challenge of its algorithm the registrar sent before it
(same realm, nonce and opaque), with the right digest for
--user/--password (MD5 or SHA-256, qop=auth with cnonce and nc, or none),
the Request-URI as uri, and a nonce count above the last one used with that
nonce. Lines "error: ..." report what breaks RFC 3261 10.2.4 (the Call-ID
changes, the CSeq does not grow); the exit status is 1 when there is one.

  registrar_outbound_trace.py TRACE --user 4420 --password secret
"""
import argparse
import datetime
import hashlib
import re
import sys


def messages(path):
    text = open(path, encoding="latin-1").read()
    out = []
    for block in re.split(r"^-{20,} ", text, flags=re.M)[1:]:
        m = re.match(r"(\S+ \S+)\n\S+ message (sent|received)[^\n]*\n\n", block)
        if not m:
            continue
        when = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        out.append((when, "recv" if m.group(2) == "received" else "sent", block[m.end():].replace("\r", "")))
    return out


def headers(msg, name):
    out = []
    for line in msg.split("\n\n", 1)[0].split("\n")[1:]:
        n, _, v = line.partition(":")
        if n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def header(msg, name):
    values = headers(msg, name)
    return values[0] if values else None


def digest_params(value):
    return dict((m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3))
                for m in re.finditer(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))', value or ""))


def h(alg, text):
    return (hashlib.sha256 if alg.upper() == "SHA-256" else hashlib.md5)(text.encode()).hexdigest()


def check_auth(msg, challenges, user, password, used_nc):
    value = header(msg, "Authorization") or header(msg, "Proxy-Authorization")
    if not value:
        return "none", None
    if not value.startswith("Digest "):
        return "bad:not-digest", None
    a = digest_params(value)
    alg = a.get("algorithm", "MD5")
    offered = [digest_params(v) for v in challenges]
    c = next((o for o in offered if o.get("algorithm", "MD5").upper() == alg.upper()), None)
    if not c:
        return "bad:no-such-challenge-before", None
    ruri = msg.split("\n", 1)[0].split(" ")[1]
    for key in ("realm", "nonce", "opaque"):
        if a.get(key) != c.get(key):
            return "bad:%s" % key, None
    if a.get("username") != user:
        return "bad:username", None
    if a.get("uri") != ruri:
        return "bad:uri", None
    ha1 = h(alg, "%s:%s:%s" % (user, a["realm"], password))
    ha2 = h(alg, "REGISTER:%s" % a["uri"])
    nc = None
    if "qop" in c:
        if a.get("qop") != "auth" or not a.get("cnonce") or not re.fullmatch(r"[0-9a-f]{8}", a.get("nc", "")):
            return "bad:qop", None
        nc = int(a["nc"], 16)
        if nc <= used_nc.get(a["nonce"], 0):
            return "bad:nc-not-increasing", nc
        used_nc[a["nonce"]] = nc
        want = h(alg, ":".join([ha1, a["nonce"], a["nc"], a["cnonce"], "auth", ha2]))
    else:
        want = h(alg, ":".join([ha1, a["nonce"], ha2]))
    return ("ok alg=%s" % alg if a.get("response") == want else "bad:response"), nc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    args = ap.parse_args()
    msgs = messages(args.trace)
    if not msgs:
        print("error: no message in %s" % args.trace)
        return 1
    t0 = msgs[0][0]
    challenges, used_nc, call_id, cseq, branch, errors = [], {}, None, 0, None, 0
    for when, direction, msg in msgs:
        first = msg.split("\n", 1)[0]
        stamp = "%.3f %s" % (when - t0, direction)
        if first.startswith("SIP/2.0 "):
            code = first.split(" ")[1]
            if code in ("401", "407"):
                challenges = headers(msg, "WWW-Authenticate" if code == "401" else "Proxy-Authenticate")
            print("%s %s" % (stamp, code))
            continue
        method = first.split(" ")[0]
        if method != "REGISTER":
            print("%s %s" % (stamp, method))
            continue
        n = int((header(msg, "CSeq") or "0").split(" ")[0])
        via = header(msg, "Via")
        if n == cseq and via == branch:
            print("%s REGISTER cseq=%d retransmission" % (stamp, n))
            continue
        if call_id is not None and header(msg, "Call-ID") != call_id:
            print("error: the Call-ID changed at CSeq %d" % n)
            errors += 1
        if n <= cseq:
            print("error: CSeq %d after %d" % (n, cseq))
            errors += 1
        call_id, cseq, branch = header(msg, "Call-ID"), n, via
        auth, nc = check_auth(msg, challenges, args.user, args.password, used_nc)
        print("%s REGISTER cseq=%d expires=%s auth=%s%s" % (stamp, n, header(msg, "Expires"), auth,
                                                           " nc=%d" % nc if nc else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
