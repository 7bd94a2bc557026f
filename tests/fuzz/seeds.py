#!/usr/bin/env python3
"""Seed corpora for the fuzz targets of tests/fuzz/, written into OUTDIR/<target>/.

Usage: seeds.py OUTDIR SRCDIR [TESTDATA]

Nothing here is committed: the corpora are generated from what the tree (and
the shared test data) already hold, every time tests/fuzz/run.sh runs:
  fuzz_sip_message  the RFC 4475 torture messages (TESTDATA/rfc4475/*.sip),
                    the messages of the sipp scenarios of
                    tests/integration/scenarios (keywords filled in), a few
                    sequences ("##next##" between datagrams: INVITE then
                    CANCEL, ACK, retransmission), whole calls with the
                    gateway's side ("##gw##" datagrams answering the B-leg
                    through the harness's placeholders) and responses to
                    the harness's client transactions (branches
                    z9hG4bKfuzzinv and z9hG4bKfuzzopt)
  fuzz_sip_stream   those messages back to back with CRLF keep-alives, with
                    the target's trailing chunk plan
  fuzz_cfg          cfg/*.cfg, cfg/examples, the ini blocks of doc/, the bad
                    cfgs of tests/integration/check_cfg.sh
  fuzz_prefix       scripts/examples/*.csv and small hand-made tables
  fuzz_lua_args     one input per argument spec of the target's table
  fuzz_cdr_record   valid journal encodings (the format of
                    modules/cdr/cdr_record.c, version 1)
"""
import glob
import hashlib
import os
import random
import re
import shlex
import struct
import sys

SEP = b"\n##next##\n"


def write(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- SIP messages ------------------------------------------------------------------------

KEYWORDS = {
    "local_ip": "127.0.0.1", "local_port": "5070", "remote_ip": "127.0.0.1", "remote_port": "5060",
    "transport": "UDP", "service": "15551234567", "media_ip": "127.0.0.1", "media_port": "6000",
    "pid": "4242", "call_number": "1", "call_id": "1-4242@127.0.0.1", "code": "486",
    "next_url": "sip:sipswitch@127.0.0.1:5060",
}
LAST = {
    "Via": "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfuzzinv;rport",
    "From": "From: <sip:switch@127.0.0.1>;tag=fuzzfrom",
    "To": "To: <sip:callee@127.0.0.1>;tag=gw1",
    "Call-ID": "Call-ID: fuzz-client-invite@127.0.0.1",
    "CSeq": "CSeq: 1 INVITE",
    "Record-Route": "Record-Route: <sip:127.0.0.1;lr>",
}


def render(template, branch_no):
    text = template.strip("\n")
    lines = [ln.strip() for ln in text.split("\n")]
    # headers up to the first empty line, body after it
    try:
        blank = lines.index("")
    except ValueError:
        blank = len(lines)
    head, body = lines[:blank], lines[blank + 1:]
    body_text = "".join(ln + "\r\n" for ln in body if ln)

    def sub(m):
        key = m.group(1)
        if key.startswith("last_"):
            return LAST.get(key[5:].rstrip(":"), "")
        if key == "branch":
            return "z9hG4bK-fuzz-%d" % branch_no
        if key == "len":
            return str(len(body_text.encode("latin-1", "replace")))
        return KEYWORDS.get(key, "1")

    body_text = re.sub(r"\[([A-Za-z_:0-9.-]+)\]", sub, body_text)
    out = []
    for ln in head:
        ln = re.sub(r"\[([A-Za-z_:0-9.-]+)\]", sub, ln)
        if ln:
            out.append(ln)
    msg = "\r\n".join(out) + "\r\n\r\n" + body_text
    return msg.encode("latin-1", "replace")


def sipp_messages(srcdir):
    msgs = []
    n = 0
    for xml in sorted(glob.glob(os.path.join(srcdir, "tests/integration/scenarios/*.xml"))):
        text = open(xml, encoding="latin-1").read()
        for block in re.findall(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", text, re.S):
            n += 1
            msgs.append(render(block, n))
    return msgs


def sip_corpora(outdir, srcdir, testdata):
    torture = []
    for path in sorted(glob.glob(os.path.join(testdata, "rfc4475", "*.sip")) +
                       glob.glob(os.path.join(testdata, "rfc4475", "extra", "*.sip"))):
        torture.append(open(path, "rb").read())
    scenario = sipp_messages(srcdir)
    for m in torture + scenario:
        write(outdir, "fuzz_sip_message", m)

    invite = [m for m in scenario if m.startswith(b"INVITE ")]
    if invite:
        inv = invite[0]
        cancel = re.sub(rb"^INVITE ", b"CANCEL ", inv)
        cancel = re.sub(rb"CSeq: 1 INVITE", b"CSeq: 1 CANCEL", cancel)
        cancel = cancel.split(b"\r\n\r\n")[0].replace(b"Content-Type: application/sdp\r\n", b"")
        cancel = re.sub(rb"Content-Length: \d+", b"Content-Length: 0", cancel) + b"\r\n\r\n"
        ack = cancel.replace(b"CANCEL ", b"ACK ", 1).replace(b"1 CANCEL", b"1 ACK")
        ack = ack.replace(b"To: <sip:15551234567@127.0.0.1:5060>",
                          b"To: <sip:15551234567@127.0.0.1:5060>;tag=sw0123456789abcdef")
        bye = ack.replace(b"ACK ", b"BYE ", 1).replace(b"1 ACK", b"2 BYE")
        for seq in ([inv, inv], [inv, cancel], [inv, cancel, ack], [inv, ack], [inv, bye], [bye, bye],
                    [cancel, inv, cancel]):
            write(outdir, "fuzz_sip_message", SEP.join(seq))
    # whole calls: the caller's datagrams (##next##) and the gateway's (##gw##),
    # with the harness's placeholders for what the switch chose at random
    gw_resp = ("SIP/2.0 %s\r\nVia: $V\r\nFrom: $F\r\nTo: $T%s\r\nCall-ID: $I\r\nCSeq: $C\r\n"
               "Contact: <sip:gw@127.0.0.1:5080>\r\n%s")
    sdp = ("v=0\r\no=gateway 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 7000 RTP/AVP 0\r\n")

    def gw(status, tag=";tag=gw1", body=None, extra=""):
        if body is None:
            tail = extra + "Content-Length: 0\r\n\r\n"
        else:
            tail = extra + "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        return (gw_resp % (status, tag, tail)).encode()

    def caller_req(method, cseq, ruri="$m", to_tag=";tag=$t", branch="z9hG4bK-fuzz-c%d"):
        return ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=%s;rport\r\n"
                "From: \"Alice\" <sip:1001@127.0.0.1:5070>;tag=4242SIPpTag001\r\n"
                "To: <sip:15551234567@127.0.0.1:5060>%s\r\nCall-ID: 1-4242@127.0.0.1\r\nCSeq: %d %s\r\n"
                "Contact: <sip:1001@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                % (method, ruri, branch % cseq if "%" in branch else branch, to_tag, cseq, method)).encode()

    gw_bye = (b"BYE $M SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKgwbye1\r\n"
              b"From: $T;tag=gw1\r\nTo: $F\r\nCall-ID: $I\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n"
              b"Content-Length: 0\r\n\r\n")
    GW = b"\n##gw##\n"
    if invite:
        inv = invite[0]
        inv_branch = re.search(rb"branch=([^;\r]+)", inv).group(1).decode()
        cancel_a = caller_req("CANCEL", 1, ruri="sip:15551234567@127.0.0.1:5060", to_tag="", branch=inv_branch)
        flows = [
            # answered, the caller hangs up, the gateway confirms the BYE
            [inv, GW, gw("100 Trying", tag=""), GW, gw("180 Ringing"), GW, gw("200 OK", body=sdp),
             SEP, caller_req("ACK", 1), SEP, caller_req("BYE", 2), GW, gw("200 OK")],
            # answered, the gateway hangs up
            [inv, GW, gw("200 OK", body=sdp), SEP, caller_req("ACK", 1), GW, gw_bye],
            # gw unavailable, failover to gw2 which answers
            [inv, GW, gw("503 Service Unavailable"), GW, gw("200 OK", tag=";tag=gw2", body=sdp),
             SEP, caller_req("ACK", 1)],
            # busy: the switching rules stop there
            [inv, GW, gw("100 Trying", tag=""), GW, gw("486 Busy Here")],
            # ringing, then the caller cancels; the gateway answers the CANCEL, then 487
            [inv, GW, gw("180 Ringing"), SEP, cancel_a, GW, gw("200 OK"), GW,
             gw("487 Request Terminated").replace(b"CSeq: $C", b"CSeq: 1 INVITE")],
            # early media, then a retransmitted INVITE, then 503 and 408
            [inv, GW, gw("183 Session Progress", body=sdp), SEP, inv, GW, gw("503 Service Unavailable"),
             GW, gw("408 Request Timeout")],
            # answered, then a re-INVITE and an INFO from the caller inside the dialog
            [inv, GW, gw("200 OK", body=sdp), SEP, caller_req("ACK", 1), SEP, caller_req("INVITE", 2),
             SEP, caller_req("INFO", 3), GW, gw("200 OK")],
            # reliable provisional: 183 with RSeq, then PRACK from the caller
            [inv, GW, gw("183 Session Progress", body=sdp, extra="Require: 100rel\r\nRSeq: 1\r\n"),
             SEP, caller_req("PRACK", 2, to_tag=";tag=$t").replace(b"Content-Length", b"RAck: 1 1 INVITE\r\nContent-Length")],
        ]
        for flow in flows:
            write(outdir, "fuzz_sip_message", b"".join(flow))

    # responses to the harness's own client transactions
    for code, reason, method, branch in ((100, "Trying", "INVITE", "z9hG4bKfuzzinv"),
                                         (180, "Ringing", "INVITE", "z9hG4bKfuzzinv"),
                                         (200, "OK", "INVITE", "z9hG4bKfuzzinv"),
                                         (486, "Busy Here", "INVITE", "z9hG4bKfuzzinv"),
                                         (200, "OK", "OPTIONS", "z9hG4bKfuzzopt"),
                                         (503, "Service Unavailable", "OPTIONS", "z9hG4bKfuzzopt")):
        resp = ("SIP/2.0 %d %s\r\n"
                "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s;rport=5060\r\n"
                "From: <sip:switch@127.0.0.1>;tag=fuzzfrom\r\n"
                "To: <sip:callee@127.0.0.1>;tag=gw1\r\n"
                "Call-ID: fuzz-client-%s@127.0.0.1\r\n"
                "CSeq: 1 %s\r\n"
                "Contact: <sip:callee@127.0.0.1:5080>\r\n"
                "Content-Length: 0\r\n\r\n" % (code, reason, branch, method.lower(), method)).encode()
        write(outdir, "fuzz_sip_message", resp)
        if code >= 200:
            write(outdir, "fuzz_sip_message", resp + SEP + resp)  # a retransmitted final

    # streams: messages with a Content-Length, back to back, keep-alives between
    framed = [m for m in scenario + torture if re.search(rb"(?im)^(content-length|l)\s*:", m)]
    rnd = random.Random(4475)
    for i in range(60):
        parts = rnd.sample(framed, k=min(len(framed), rnd.randint(1, 4)))
        stream = b""
        for p in parts:
            stream += rnd.choice([b"", b"\r\n", b"\r\n\r\n"]) + p
        sizes = bytes(rnd.choice([1, 2, 7, 64, 200, 255]) for _ in range(rnd.randint(0, 6)))
        pick = rnd.choice([0, 0, 0, 200, 255])
        write(outdir, "fuzz_sip_stream", stream + bytes([pick]) + sizes + bytes([len(sizes)]))


# ---- cfg ---------------------------------------------------------------------------------

def cfg_corpus(outdir, srcdir):
    for path in (glob.glob(os.path.join(srcdir, "cfg", "*.cfg")) +
                 glob.glob(os.path.join(srcdir, "cfg", "examples", "*.cfg"))):
        write(outdir, "fuzz_cfg", open(path, "rb").read())
    for md in glob.glob(os.path.join(srcdir, "doc", "**", "*.md"), recursive=True):
        text = open(md, encoding="utf-8", errors="replace").read()
        for block in re.findall(r"```ini\n(.*?)```", text, re.S):
            write(outdir, "fuzz_cfg", block.encode())
    check = os.path.join(srcdir, "tests", "integration", "check_cfg.sh")
    if os.path.exists(check):
        for line in open(check, encoding="utf-8"):
            if line.startswith("bad_cfg "):
                try:
                    words = shlex.split(line.rstrip("\\\n"))
                except ValueError:
                    continue
                write(outdir, "fuzz_cfg", ("\n".join(words[2:]) + "\n").encode())
    write(outdir, "fuzz_cfg", b"[core]\nlisten = udp:127.0.0.1:5060, tcp:[::1]:5061\n"
                              b"SS_SIP_RESEND_INTERVAL = 0.5,1,2,4\n[mapping customerA]\n"
                              b"address = 192.0.2.0/24, [2001:db8::1]:5060\n[gateway carrierA]\n"
                              b"address = 192.0.2.1:5060\ninvite_timeout = 3s\nstop_switch_codes = 403,\n    404\n"
                              b"[gw_switch]\nSS_GATEWAY_SWITCH_LIMIT = 3\n[mod]\nflag = On\nwaits = 1,2ms\n"
                              b"[account dev1]\nsecret = x\nwords = a, b\n[registration up]\ncolour = Must On\n")


# ---- prefix tables -----------------------------------------------------------------------

def prefix_corpus(outdir, srcdir):
    for path in glob.glob(os.path.join(srcdir, "scripts", "**", "*.csv"), recursive=True):
        write(outdir, "fuzz_prefix", open(path, "rb").read())
    for text in (b"prefix,gateway\n1,a\n12,b\n123,c\n+44,uk\n4420,london\n",
                 b"\xef\xbb\xbfprefix,value\r\n33,fr\r\n# comment\r\n\r\n  331 , paris , x\r\n",
                 b"1,a\n1,b\n",
                 b"12345678901234567890123456789012,long\n123456789012345678901234567890123,too long\n",
                 b"1900,BARRED\nabc,def\n",
                 b"0,zero\n00,double\n000,triple\n",
                 b"+,x\n",
                 b"\n".join(b"%d,v%d" % (i * 7919 % 100000, i % 5) for i in range(200)) + b"\n"):
        write(outdir, "fuzz_prefix", text)


# ---- Lua arguments -----------------------------------------------------------------------

def lua_args_corpus(outdir):
    rnd = random.Random(5)
    for spec_index in range(22):
        for _ in range(3):
            # consumed from the end: mode, entry point, nresults, nargs, then per argument its
            # type and payload; strings come from the front
            front = bytes(rnd.randrange(32, 127) for _ in range(rnd.randint(0, 40)))
            tail = bytes(rnd.randrange(256) for _ in range(rnd.randint(4, 40)))
            write(outdir, "fuzz_lua_args", front + tail + bytes([spec_index]))
    write(outdir, "fuzz_lua_args", b"si|b*\x00\x00\x00\x80")
    write(outdir, "fuzz_lua_args", b"s**\x00\x00\x00\x80")


# ---- CDR journal records -----------------------------------------------------------------

def cdr_string(s):
    if s is None:
        return struct.pack("<I", 0xFFFFFFFF)
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def cdr_record(seq, strings, times, ints, attempts, fields):
    out = bytes([1]) + struct.pack("<Q", seq)
    out += b"".join(cdr_string(s) for s in strings)
    out += b"".join(struct.pack("<q", t) for t in times)
    out += b"".join(struct.pack("<I", i & 0xFFFFFFFF) for i in ints)
    out += struct.pack("<I", len(attempts))
    for gw, callee, outcome, reason, code, t0, t1, t2 in attempts:
        out += cdr_string(gw) + cdr_string(callee) + cdr_string(outcome) + cdr_string(reason)
        out += struct.pack("<I", code) + struct.pack("<qqq", t0, t1, t2)
    out += struct.pack("<I", len(fields))
    for name, value in fields:
        out += cdr_string(name) + cdr_string(value)
    return out


def cdr_corpus(outdir):
    t = 1763726400000
    write(outdir, "fuzz_cdr_record", cdr_record(
        1, ["1-4242@127.0.0.1", "1001", "15551234567", "1001", "15551234567", "customerA", "192.0.2.10",
            "carrierA"], [t, t + 1200, t + 3000, t + 63000, 60000], [1, 1, 200],
        [("carrierB", "15551234567", "response", "Busy Here", 486, t + 10, t + 40, t + 900),
         ("carrierA", "15551234567", "answered", None, 200, t + 901, t + 1200, t + 3000)],
        [("account", "A-17"), ("note", "a,b \"quoted\"|pipe\r\n")]))
    write(outdir, "fuzz_cdr_record", cdr_record(2, [None] * 8, [0] * 5, [5, 3, 404], [], []))
    write(outdir, "fuzz_cdr_record", cdr_record(
        3, ["x" * 1100] + [""] * 7, [-1, 2 ** 62, 0, 1, 0], [99, 0, 0],
        [("g%d" % i, "", "invite_timeout", "", 0, 0, 0, 0) for i in range(130)],
        [("f%d" % i, str(i)) for i in range(70)]))
    write(outdir, "fuzz_cdr_record", b"\x01")
    write(outdir, "fuzz_cdr_record", b"\x02" + b"\x00" * 64)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    outdir, srcdir = sys.argv[1], sys.argv[2]
    testdata = sys.argv[3] if len(sys.argv) > 3 else os.path.join(srcdir, "..", "shared", "testdata")
    os.makedirs(outdir, exist_ok=True)
    sip_corpora(outdir, srcdir, testdata)
    cfg_corpus(outdir, srcdir)
    prefix_corpus(outdir, srcdir)
    lua_args_corpus(outdir)
    cdr_corpus(outdir)


if __name__ == "__main__":
    main()
