#!/usr/bin/env python3
"""PROTOS-style resilience cases for sipswitch: mutated INVITEs, by category.

In the spirit of the PROTOS c07-sip test suite (written from scratch here,
no PROTOS data): a valid INVITE is mutated one way at a time, each mutation
is a named case, and every case says what RFC 3261 allows the switch to do
with it. The generator is deterministic: the same --seed gives the same
cases, in the same order, with the same names.

  protos.py list [--seed N]            name, category, what is allowed, size
  protos.py show NAME [--seed N]       the bytes of one case (placeholders filled)
  protos.py dump DIR [--seed N]        one file per case (placeholders filled)
  protos.py run --switch HOST:PORT --gateway-port N [--transport udp,tcp] ...

`run` is the test driver of tests/integration/protos.sh. It plays three
parties on loopback: the caller sending each case from --case-source (a
fresh UDP socket or TCP connection per case), the prober sending a valid
INVITE from --probe-source after every case, and the carrier gateway the
route script sends accepted INVITEs to (it answers 486, and checks that what
the switch forwards is well formed). A case passes when the switch's answer
is one its expectation allows, the switch never answers 500 and never 2xx
to an INVITE, forwards nothing malformed, and the probe after it gets its
486 (relayed from the gateway) within --probe-timeout. When a probe goes
unanswered twice the run stops at once, naming the case sent just before.

Outcomes: "call" (the switch took the INVITE as a call: 100 Trying, then
the gateway's 486 relayed), "ok" (a 2xx: only for cases whose method is no
longer INVITE), "reject" (any other final answer, its code recorded), "drop"
(no answer; over TCP also a connection closed without an answer).
"""
import argparse
import errno
import json
import os
import random
import re
import selectors
import socket
import sys
import time

# ---- what a case may get -----------------------------------------------------

# Malformed per RFC 3261: refused (4xx-6xx) or dropped, never taken as a call.
BAD = frozenset({"reject", "drop"})
# Well formed: must become a call.
GOOD = frozenset({"call"})
# The grammar allows it or says nothing the switch has to enforce (fields the
# switch does not interpret, sizes RFC 3261 does not bound): anything but a
# crash, a hang, a 500 or something malformed forwarded.
ANY = frozenset({"call", "reject", "drop", "ok"})
# Malformed per the grammar, but in a part the switch does not route on (a
# display name, the caller's user part, an Expires or a Via parameter it
# ignores): RFC 4475 section 1 asks elements to be liberal there (its baddn
# and badaspec may be accepted). Parts the B-leg carries (the From display
# name and user) are passed on as received, in a B-leg that must still be
# well formed. Anything allowed, as for ANY; the report counts these apart
# when accepted.
LENIENT = frozenset(ANY | {"lenient"})
# Never answered (an ACK, keep-alive bytes).
DROP = frozenset({"drop"})


def codes(*cs):
    """Exactly these final codes (e.g. codes(505), codes(483))."""
    return frozenset(str(c) for c in cs)


# ---- the valid INVITE every case starts from ---------------------------------

# Placeholders, filled per send (a fresh socket each time): the transport, the
# sender's address, and unique branch / Call-ID / tag so no two sends ever
# match each other's transactions.
PLACEHOLDERS = (b"$TRANSPORT", b"$LHOST", b"$LPORT", b"$BRANCH", b"$CALLID", b"$TAG", b"$UNIQ")

SDP = (b"v=0\r\n"
       b"o=- 3261 3261 IN IP4 127.0.0.2\r\n"
       b"s=-\r\n"
       b"c=IN IP4 127.0.0.2\r\n"
       b"t=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0 8\r\n"
       b"a=rtpmap:0 PCMU/8000\r\n"
       b"a=rtpmap:8 PCMA/8000\r\n")

RURI_USER = b"1000"
RURI_HOST = b"127.0.0.1"


class Invite:
    """A request as fields, so a mutation changes one thing and the rest
    (Content-Length included, unless the case sets it) stays consistent."""

    def __init__(self):
        self.method = b"INVITE"
        self.ruri = b"sip:" + RURI_USER + b"@" + RURI_HOST
        self.version = b"SIP/2.0"
        self.start_line = None  # raw start line, overriding the three above
        self.headers = [
            [b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport"],
            [b"Max-Forwards", b"70"],
            [b"From", b'"PROTOS Caller" <sip:caller@$LHOST>;tag=$TAG'],
            [b"To", b'"Callee" <sip:1000@127.0.0.1>'],
            [b"Call-ID", b"$CALLID"],
            [b"CSeq", b"1 INVITE"],
            [b"Contact", b"<sip:caller@$LHOST:$LPORT>"],
            [b"Expires", b"180"],
            [b"User-Agent", b"protos.py"],
            [b"Content-Type", b"application/sdp"],
            [b"Content-Length", None],  # None: the body's length
        ]
        self.body = SDP
        self.eol = b"\r\n"
        self.lines = None  # raw header lines (bytes, no EOL), overriding headers

    # header helpers: names compare case-sensitively on the canonical names above
    def index(self, name):
        for i, h in enumerate(self.headers):
            if h[0] == name:
                return i
        raise KeyError(name)

    def get(self, name):
        return self.headers[self.index(name)][1]

    def set(self, name, value):
        self.headers[self.index(name)][1] = value
        return self

    def rename(self, name, new_name):
        self.headers[self.index(name)][0] = new_name
        return self

    def drop(self, name):
        del self.headers[self.index(name)]
        return self

    def insert_after(self, name, new_name, value):
        self.headers.insert(self.index(name) + 1, [new_name, value])
        return self

    def add(self, name, value):
        """Before Content-Type/Content-Length, so the body stays last."""
        self.headers.insert(self.index(b"Content-Type"), [name, value])
        return self

    def header_lines(self):
        if self.lines is not None:
            return list(self.lines)
        out = []
        for name, value in self.headers:
            if value is None:
                value = str(len(self.body)).encode()
            out.append(name + b": " + value)
        return out

    def to_bytes(self):
        start = self.start_line if self.start_line is not None else \
            self.method + b" " + self.ruri + b" " + self.version
        return self.eol.join([start] + self.header_lines()) + self.eol + self.eol + self.body


class Case:
    def __init__(self, name, category, data, allow, why, allow_tcp=None, method=b"INVITE", transports=("udp", "tcp")):
        self.name = name
        self.category = category
        self.data = data
        self.allow = allow
        self.allow_tcp = allow_tcp if allow_tcp is not None else allow
        self.why = why
        self.method = method  # what the start line asks for (a 2xx to an INVITE always fails)
        self.transports = transports

    def allowed(self, transport):
        return self.allow_tcp if transport == "tcp" else self.allow


def allow_text(allow):
    if allow == ANY:
        return "any"
    if allow == LENIENT:
        return "lenient"
    if allow == BAD:
        return "bad"
    if allow == GOOD:
        return "good"
    if allow == DROP:
        return "drop"
    return "|".join(sorted(allow))


# ---- the generator -------------------------------------------------------------


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.cases = []
        self.names = set()

    def add(self, name, category, msg, allow, why, **kw):
        data = msg.to_bytes() if isinstance(msg, Invite) else msg
        name = category + "/" + name
        if name in self.names:
            raise ValueError("duplicate case name " + name)
        self.names.add(name)
        self.cases.append(Case(name, category, data, allow, why, **kw))

    # -- overflows ---------------------------------------------------------------

    OVERFLOW_SIZES = (256, 2048, 16384, "fill")
    FILL_TOTAL = 65000  # under the 65507-byte UDP limit and max_message_size (65535)

    def overflow(self):
        # field -> (how to set a value of n filler characters, filler, allow for small, allow for large, why)
        def ruri_user(m, v): m.ruri = b"sip:" + v + b"@127.0.0.1"; m.set(b"To", b"<sip:" + v + b"@127.0.0.1>")

        def ruri_host(m, v): m.ruri = b"sip:1000@" + v + b".example"

        def ruri_param(m, v): m.ruri = b"sip:1000@127.0.0.1;x-" + v + b"=1"

        def ruri_pvalue(m, v): m.ruri = b"sip:1000@127.0.0.1;x-p=" + v

        def ruri_port(m, v): m.ruri = b"sip:1000@127.0.0.1:" + v

        def via_host(m, v): m.set(b"Via", b"SIP/2.0/$TRANSPORT " + v + b".example:$LPORT;branch=$BRANCH;rport")

        def via_branch(m, v): m.set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH" + v + b";rport")

        def via_param(m, v): m.set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport;x-p=" + v)

        def via_transport(m, v): m.set(b"Via", b"SIP/2.0/" + v + b" $LHOST:$LPORT;branch=$BRANCH;rport")

        def from_display(m, v): m.set(b"From", b'"' + v + b'" <sip:caller@$LHOST>;tag=$TAG')

        def from_user(m, v): m.set(b"From", b'"PROTOS Caller" <sip:' + v + b'@$LHOST>;tag=$TAG')

        def from_tag(m, v): m.set(b"From", b'"PROTOS Caller" <sip:caller@$LHOST>;tag=$TAG' + v)

        def to_display(m, v): m.set(b"To", b'"' + v + b'" <sip:1000@127.0.0.1>')

        def to_tag(m, v): m.set(b"To", b'"Callee" <sip:1000@127.0.0.1>;tag=' + v)

        def call_id(m, v): m.set(b"Call-ID", b"$CALLID" + v)

        def cseq_number(m, v): m.set(b"CSeq", v + b" INVITE")

        def cseq_method(m, v): m.set(b"CSeq", b"1 " + v)

        def max_forwards(m, v): m.set(b"Max-Forwards", v)

        def content_length(m, v): m.set(b"Content-Length", v)

        def content_type(m, v): m.set(b"Content-Type", b"application/" + v)

        def content_type_param(m, v): m.set(b"Content-Type", b"application/sdp;x-p=" + v)

        def expires(m, v): m.set(b"Expires", v)

        def header_name(m, v): m.add(b"X-" + v, b"1")

        def header_value(m, v): m.add(b"X-Long", v)

        def contact_uri(m, v): m.set(b"Contact", b"<sip:" + v + b"@$LHOST:$LPORT>")

        def user_agent(m, v): m.set(b"User-Agent", v)

        def sdp_line(m, v): m.body = SDP + b"a=x-" + v + b"\r\n"

        unbounded = "RFC 3261 puts no bound on its length: any answer but a crash or a malformed relay"
        fields = [
            ("ruri-user", ruri_user, b"1", GOOD, ANY, unbounded),
            ("ruri-host", ruri_host, b"a", ANY, ANY, "a single DNS label over 63 characters; unresolvable: any"),
            ("ruri-param", ruri_param, b"p", GOOD, ANY, unbounded),
            ("ruri-param-value", ruri_pvalue, b"v", GOOD, ANY, unbounded),
            ("ruri-port", ruri_port, b"9", ANY, ANY, "port = 1*DIGIT: unbounded in the grammar; unused for routing"),
            ("via-host", via_host, b"h", ANY, ANY, "answers go to the source (rport): any"),
            ("via-branch", via_branch, b"b", GOOD, ANY, unbounded),
            ("via-param", via_param, b"v", GOOD, ANY, unbounded),
            ("via-transport", via_transport, b"T", ANY, ANY, "an unknown transport token (other-transport)"),
            ("from-display", from_display, b"d", GOOD, ANY, unbounded),
            ("from-user", from_user, b"u", GOOD, ANY, unbounded),
            ("from-tag", from_tag, b"t", GOOD, ANY, unbounded),
            ("to-display", to_display, b"d", GOOD, ANY, unbounded),
            ("to-tag", to_tag, b"t", ANY, ANY, "a To tag makes it a re-INVITE of an unknown dialog: 481 or any"),
            ("call-id", call_id, b"c", GOOD, ANY, unbounded),
            ("cseq-number", cseq_number, b"9", BAD, BAD, "CSeq must be below 2^31 (RFC 3261 8.1.1.5)"),
            ("cseq-method", cseq_method, b"M", BAD, BAD, "the CSeq method must match the request's (8.1.1.5)"),
            ("max-forwards", max_forwards, b"9", BAD, BAD, "Max-Forwards is 0-255 (20.22)"),
            ("content-length", content_length, b"9", BAD, BAD, "a Content-Length past any message: framing error"),
            ("content-type", content_type, b"s", ANY, ANY, "not application/sdp: 415 or any"),
            ("content-type-param", content_type_param, b"v", GOOD, ANY, unbounded),
            ("expires", expires, b"9", ANY, ANY, "delta-seconds past 2^32-1 mean 2^32-1 (20.19); the switch ignores it"),
            ("header-name", header_name, b"n", GOOD, ANY, "an unknown header is ignored (7.3): " + unbounded),
            ("header-value", header_value, b"v", GOOD, ANY, "an unknown header is ignored (7.3): " + unbounded),
            ("contact-user", contact_uri, b"u", GOOD, ANY, unbounded),
            ("user-agent", user_agent, b"u", GOOD, ANY, unbounded),
            ("sdp-line", sdp_line, b"v", ANY, ANY, "the body is opaque to SIP: any"),
        ]
        base_len = len(Invite().to_bytes())
        for fname, setter, filler, allow_small, allow_large, why in fields:
            for size in self.OVERFLOW_SIZES:
                n = self.FILL_TOTAL - base_len if size == "fill" else size
                m = Invite()
                setter(m, filler * n)
                if size == "fill":
                    # trim to the target total (the setter may add a few bytes)
                    extra = len(m.to_bytes()) - self.FILL_TOTAL
                    m = Invite()
                    setter(m, filler * (n - max(0, extra)))
                allow = allow_small if size == 256 else allow_large
                self.add("%s-%s" % (fname, size), "overflow", m, allow, why)
        # past max_message_size: only a stream can carry it (a datagram tops at 65507)
        for fname, setter, filler in (("header-value", header_value, b"v"), ("from-display", from_display, b"d"),
                                      ("ruri-user", ruri_user, b"1")):
            m = Invite()
            setter(m, filler * 70000)
            self.add(fname + "-70000", "overflow", m, BAD, "larger than max_message_size: 400 and close, or 513",
                     transports=("tcp",))
        # many of one thing
        m = Invite()
        for i in range(2000):
            m.add(b"X-H%d" % i, b"1")
        self.add("headers-2000", "overflow", m, ANY, "2000 headers: a header-count limit may refuse it")
        m = Invite()
        m.set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport" + b";p" * 3000)
        self.add("via-params-3000", "overflow", m, ANY, "3000 Via parameters")
        m = Invite()
        m.ruri = b"sip:1000@127.0.0.1" + b";p" * 3000
        self.add("ruri-params-3000", "overflow", m, ANY, "3000 Request-URI parameters")
        m = Invite()
        m.set(b"From", m.get(b"From") + b";p" * 3000)
        self.add("from-params-3000", "overflow", m, ANY, "3000 From parameters")
        m = Invite()
        m.set(b"Contact", b", ".join([b"<sip:c%d@$LHOST>" % i for i in range(1500)]))
        self.add("contacts-1500", "overflow", m, LENIENT,
                 "1500 Contact values: an INVITE has exactly one (8.1.1.8); the B-leg has its own Contact")

    # -- integers ------------------------------------------------------------------

    INTEGERS = [
        ("minus-one", b"-1"), ("minus-zero", b"-0"), ("zero", b"0"), ("one", b"1"),
        ("leading-zeros", b"00000000001"), ("many-leading-zeros", b"0" * 300 + b"1"),
        ("2p31-1", b"2147483647"), ("2p31", b"2147483648"), ("2p32-1", b"4294967295"), ("2p32", b"4294967296"),
        ("2p63", b"9223372036854775808"), ("2p64-1", b"18446744073709551615"), ("2p64", b"18446744073709551616"),
        ("2p64+1", b"18446744073709551617"), ("30-digits", b"9" * 30),
        ("hex", b"0x10"), ("exponent", b"1e3"), ("decimal", b"1.5"), ("plus", b"+1"), ("trailing-alpha", b"12abc"),
        ("inner-space", b"1 2"), ("empty", b""), ("fullwidth-digit", "\uff11".encode()),
        ("arabic-digit", "\u0661".encode()), ("nul-digit", b"1\x002"),
    ]

    def integers(self):
        plain_digits = {"zero", "one", "leading-zeros", "many-leading-zeros", "2p31-1", "2p31", "2p32-1", "2p32",
                        "2p63", "2p64-1", "2p64", "2p64+1", "30-digits"}

        def value_of(vname, v):
            return int(v) if vname in plain_digits else None

        for vname, v in self.INTEGERS:
            n = value_of(vname, v)
            # CSeq: 1*DIGIT below 2^31 (8.1.1.5); the switch takes up to 2^32-1 as the grammar's 32 bits
            m = Invite().set(b"CSeq", v + b" INVITE")
            if n is not None and n < 2 ** 31:
                allow, why = GOOD, "CSeq below 2^31, leading zeros allowed (1*DIGIT)"
            elif n is not None and n < 2 ** 32:
                allow, why = LENIENT, ("CSeq 2^31..2^32-1: 8.1.1.5 has the UAC keep it below 2^31 and "
                                       "\"expressible as a 32-bit unsigned integer\": taken up to 2^32-1")
            else:
                allow, why = BAD, "not a CSeq number (1*DIGIT below 2^31)"
            self.add("cseq-" + vname, "integer", m, allow, why)

            m = Invite().set(b"Max-Forwards", v)
            if n == 0:
                allow, why = codes(483), "Max-Forwards 0 on an INVITE: 483 Too Many Hops (16.3)"
            elif n is not None and n <= 255:
                allow, why = GOOD, "Max-Forwards 1-255, leading zeros allowed"
            else:
                allow, why = BAD, "Max-Forwards is 0-255 (20.22)"
            self.add("max-forwards-" + vname, "integer", m, allow, why)

            m = Invite().set(b"Content-Length", v)
            blen = len(SDP)
            if n is not None and n == blen:
                allow, allow_tcp, why = GOOD, GOOD, "equals the body length"
            elif n is not None and n < blen:
                allow, allow_tcp, why = ANY, ANY, \
                    "shorter than the body: the datagram's extra octets are ignored (18.3); on TCP they are garbage"
            else:
                allow, allow_tcp, why = BAD, BAD, "longer than the message, negative or not a number: framing error"
            self.add("content-length-" + vname, "integer", m, allow, why, allow_tcp=allow_tcp)

            m = Invite().set(b"Expires", v)
            allow = GOOD if n is not None else LENIENT
            self.add("expires-" + vname, "integer", m, allow,
                     "Expires of an INVITE is advisory and unused by the switch; delta-seconds past 2^32-1 "
                     "mean 2^32-1 (20.19)" if n is not None else "a bad Expires the switch does not use: any")

            m = Invite().set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:" + v + b";branch=$BRANCH;rport")
            self.add("via-port-" + vname, "integer", m, ANY if n is not None else LENIENT,
                     "the answer goes to the source address (rport, force_rport): any but a crash")

            m = Invite()
            m.ruri = b"sip:1000@127.0.0.1:" + v
            self.add("ruri-port-" + vname, "integer", m, ANY if n is not None else BAD,
                     "the Request-URI port is not used to route: any but a crash" if n is not None
                     else "port = 1*DIGIT: a malformed Request-URI")

    # -- missing headers, empty values ----------------------------------------------

    def missing(self):
        for name, allow, why in (
                (b"Via", BAD, "mandatory (8.1.1): unanswerable, dropped"),
                (b"From", BAD, "mandatory (8.1.1)"),
                (b"To", BAD, "mandatory (8.1.1)"),
                (b"Call-ID", BAD, "mandatory (8.1.1)"),
                (b"CSeq", BAD, "mandatory (8.1.1)"),
                (b"Max-Forwards", LENIENT, "mandatory in RFC 3261 (8.1.1) but absent from RFC 2543 clients: "
                                           "taken as 70"),
                (b"Contact", LENIENT, "an INVITE must carry a Contact (8.1.1.8); 400, or accepted: a B2BUA's "
                                      "B-leg has its own Contact and answers go to the Via"),
                (b"Content-Type", BAD, "a body without Content-Type (20.15)"),
                (b"Expires", GOOD, "optional"),
                (b"User-Agent", GOOD, "optional")):
            self.add("no-" + name.decode().lower(), "missing", Invite().drop(name), allow, why)
        self.add("no-content-length", "missing", Invite().drop(b"Content-Length"), GOOD,
                 "optional on UDP (18.3); mandatory on TCP: framing error", allow_tcp=BAD)
        m = Invite().drop(b"Content-Type").drop(b"Content-Length")
        m.body = b""
        self.add("no-body-headers", "missing", m, GOOD, "no body, no Content-Type: a late-offer INVITE (UDP)",
                 allow_tcp=BAD)
        m = Invite()
        m.body = b""
        m.set(b"Content-Length", str(len(SDP)).encode())
        self.add("no-body-declared", "missing", m, BAD, "the declared body is missing")
        m = Invite()
        m.start_line = b""
        self.add("no-start-line", "missing", m, BAD, "the start line is empty")
        m = Invite()
        m.lines = []
        self.add("no-headers", "missing", m, BAD, "a start line and a body only")
        self.add("start-line-only", "missing", b"INVITE sip:1000@127.0.0.1 SIP/2.0\r\n\r\n", BAD, "no headers")
        self.add("empty-datagram-crlf", "missing", b"\r\n\r\n\r\n", DROP, "keep-alive line ends only: no answer",
                 allow_tcp=ANY)
        # each header present with an empty value
        for name, allow, why in (
                (b"Via", BAD, "an empty Via is unanswerable"), (b"From", BAD, "empty From (20.20)"),
                (b"To", BAD, "empty To (20.39)"), (b"Call-ID", BAD, "empty Call-ID (20.8)"),
                (b"CSeq", BAD, "empty CSeq"), (b"Max-Forwards", BAD, "empty Max-Forwards"),
                (b"Content-Type", BAD, "empty Content-Type with a body"),
                (b"Content-Length", BAD, "empty Content-Length"),
                (b"Contact", LENIENT, "empty Contact, not forwarded (the B-leg has its own)"),
                (b"Expires", LENIENT, "empty Expires, unused by the switch"),
                (b"User-Agent", LENIENT, "empty User-Agent, unused by the switch")):
            self.add("empty-" + name.decode().lower(), "missing", Invite().set(name, b""), allow, why)
        # a header line without a colon, with an empty name, a colon only
        m = Invite()
        m.lines = m.header_lines()
        m.lines.insert(3, b"X-No-Colon value")
        self.add("line-without-colon", "missing", m, BAD, "a header line is name HCOLON value (7.3)")
        m = Invite()
        m.lines = m.header_lines()
        m.lines.insert(3, b": value")
        self.add("empty-header-name", "missing", m, BAD, "a header name is a token (7.3)")
        m = Invite()
        m.lines = m.header_lines()
        m.lines.insert(3, b":")
        self.add("colon-only-line", "missing", m, BAD, "a header name is a token (7.3)")
        m = Invite()
        m.lines = [l.replace(b": ", b" ", 1) if l.startswith(b"CSeq") else l for l in m.header_lines()]
        self.add("cseq-without-colon", "missing", m, BAD, "CSeq's line has no colon: no CSeq")

    # -- repeated headers ---------------------------------------------------------------

    def repeated(self):
        rules = {
            b"Via": (GOOD, "several Via headers are normal (a proxy's and ours)"),
            b"From": (BAD, "From appears once (7.3.1, 20.20)"),
            b"To": (BAD, "To appears once (20.39)"),
            b"Call-ID": (BAD, "Call-ID appears once"),
            b"CSeq": (BAD, "CSeq appears once"),
            b"Max-Forwards": (BAD, "Max-Forwards appears once"),
            b"Content-Length": (BAD, "two Content-Length: no telling where the message ends"),
            b"Content-Type": (LENIENT, "Content-Type appears once; the switch may use the first"),
            b"Contact": (LENIENT, "one Contact in an INVITE (8.1.1.8); not forwarded"),
            b"Expires": (LENIENT, "Expires appears once; unused by the switch"),
            b"User-Agent": (LENIENT, "User-Agent is no comma list, so appears once (7.3); unused by the switch"),
        }
        alt = {
            b"Via": b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKother",
            b"From": b"<sip:other@192.0.2.1>;tag=other",
            b"To": b"<sip:2000@127.0.0.1>",
            b"Call-ID": b"other-call@192.0.2.1",
            b"CSeq": b"2 INVITE",
            b"Max-Forwards": b"69",
            b"Content-Length": b"0",
            b"Content-Type": b"text/plain",
            b"Contact": b"<sip:other@192.0.2.1>",
            b"Expires": b"60",
            b"User-Agent": b"other",
        }
        for name, (allow, why) in rules.items():
            lname = name.decode().lower()
            m = Invite()
            m.insert_after(name, name, m.get(name))
            self.add(lname + "-twice-same", "repeated", m, allow, why)
            m = Invite()
            m.insert_after(name, name, alt[name])
            self.add(lname + "-twice-different", "repeated", m, allow, why)
            if name != b"Content-Length":
                m = Invite()
                value = m.get(name)
                for _ in range(99):
                    m.insert_after(name, name, value)
                self.add(lname + "-100-times", "repeated", m, ANY if allow == GOOD else allow,
                         why + ("; 100 of them may hit a header limit" if allow == GOOD else ""))
            # the second copy at the far end of the header section
            m = Invite()
            m.headers.insert(len(m.headers) - 1, [name, alt[name]])
            self.add(lname + "-twice-apart", "repeated", m, allow, why)
        # comma-joined values in headers that take one
        for name, joined, allow, why in (
                (b"From", b"<sip:a@127.0.0.2>;tag=a, <sip:b@127.0.0.2>;tag=b", BAD, "From takes one address"),
                (b"To", b"<sip:1000@127.0.0.1>, <sip:2000@127.0.0.1>", BAD, "To takes one address"),
                (b"Call-ID", b"$CALLID, other@192.0.2.1", BAD, "a Call-ID is one word"),
                (b"CSeq", b"1 INVITE, 2 INVITE", BAD, "CSeq is one number and method"),
                (b"Max-Forwards", b"70, 70", BAD, "Max-Forwards is one number"),
                (b"Content-Length", b"229, 229", BAD, "Content-Length is one number"),
                (b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx",
                 GOOD, "Via takes a comma list (20.42)")):
            m = Invite().set(name, joined)
            self.add(name.decode().lower() + "-comma-list", "repeated", m, allow, why)
        # the compact and the long form of one header together
        for long_name, compact in ((b"From", b"f"), (b"To", b"t"), (b"Call-ID", b"i"), (b"Content-Length", b"l")):
            m = Invite()
            m.insert_after(long_name, compact, m.get(long_name) if long_name != b"Content-Length"
                           else str(len(SDP)).encode())
            self.add(long_name.decode().lower() + "-and-compact-" + compact.decode(), "repeated", m, BAD,
                     "the compact form is the same header (7.3.3): it appears twice")

    # -- %-escapes ------------------------------------------------------------------------

    ESCAPES = [
        ("lone-percent", b"%"), ("one-hex-digit", b"%4"), ("non-hex", b"%G1"), ("non-hex-2", b"%zz"),
        ("double-percent", b"%%"), ("percent-then-escape", b"%%41"), ("half-then-percent", b"%4%"),
        ("unicode-style", b"%u0041"), ("escaped-nul", b"%00"), ("escaped-ff", b"%ff"), ("escaped-at", b"%40"),
        ("escaped-space", b"%20"),
    ]
    VALID_ESCAPES = {"escaped-nul", "escaped-ff", "escaped-at", "escaped-space"}

    def escapes(self):
        for ename, e in self.ESCAPES:
            valid = ename in self.VALID_ESCAPES
            m = Invite()
            m.ruri = b"sip:xy" + e + b"zz@127.0.0.1"  # no hex digit next to the escape
            self.add("ruri-user-" + ename, "escape", m, GOOD if valid else BAD,
                     "escaped = \"%\" HEXDIG HEXDIG (25.1); %00 is a valid escape (RFC 4475 escnull)"
                     if valid else "an invalid escape in the Request-URI user: the callee cannot be decoded")
            m = Invite()
            m.ruri = b"sip:1000@127.0" + e + b".0.1"
            self.add("ruri-host-" + ename, "escape", m, BAD, "a host has no escapes (25.1 hostname)")
            m = Invite()
            m.ruri = b"sip:1000@127.0.0.1;x-p=z" + e + b"z"
            self.add("ruri-param-" + ename, "escape", m, GOOD if valid else BAD,
                     "a valid escape in a parameter" if valid else
                     "an invalid escape in a Request-URI parameter: a malformed Request-URI")
            m = Invite().set(b"To", b'"Callee" <sip:xy' + e + b'zz@127.0.0.1>')
            self.add("to-user-" + ename, "escape", m, GOOD if valid else LENIENT,
                     "a valid escape" if valid else "the To URI is not routed on nor forwarded")
            m = Invite().set(b"From", b'"PROTOS Caller" <sip:xy' + e + b'zz@$LHOST>;tag=$TAG')
            self.add("from-user-" + ename, "escape", m, GOOD if valid else LENIENT,
                     "a valid escape" if valid else "the caller's user is passed on as received")
            m = Invite().set(b"Contact", b"<sip:xy" + e + b"zz@$LHOST:$LPORT>")
            self.add("contact-user-" + ename, "escape", m, GOOD if valid else LENIENT,
                     "a valid escape" if valid else "the Contact is not forwarded (the B-leg has its own)")
            m = Invite().set(b"Call-ID", b"$CALLID" + e)
            self.add("call-id-" + ename, "escape", m, GOOD if b" " not in e else BAD,
                     "'%' is a word character: a Call-ID is not decoded (20.8)")
            m = Invite().set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH" + e + b";rport")
            self.add("via-branch-" + ename, "escape", m, GOOD if b" " not in e else LENIENT,
                     "'%' is a token character: the branch is opaque")
            m = Invite().set(b"From", b'"PROTOS ' + e + b' Caller" <sip:caller@$LHOST>;tag=$TAG')
            self.add("from-display-" + ename, "escape", m, GOOD, "a quoted string is not %-decoded")

    # -- control and high bytes ------------------------------------------------------------

    BYTES = [("nul", b"\x00"), ("cr", b"\r"), ("lf", b"\n"), ("esc", b"\x1b"), ("del", b"\x7f"), ("x80", b"\x80"),
             ("xff", b"\xff")]

    def control_bytes(self):
        def at(where, setter, allow, why, **per_byte):
            """allow for every byte, but those named in per_byte (by their
            short names: nul, cr, lf, esc, del, x80, xff)."""
            for bname, b in self.BYTES:
                m = Invite()
                setter(m, b)
                self.add("%s-%s" % (where, bname), "byte", m, per_byte.get(bname, allow), why)

        # a bare LF is taken as a line end by lenient parsers (ours and
        # libosip2's): where what follows it starts with whitespace it is a
        # fold, elsewhere it cuts the line; both readings are covered by the
        # labels below. An invalid UTF-8 byte in a text the switch does not
        # route on is tolerated (LENIENT); a control byte never is.
        high = {"x80": LENIENT, "xff": LENIENT}
        at("method", lambda m, b: setattr(m, "method", b"INV" + b + b"ITE") or m.set(b"CSeq", b"1 INV" + b + b"ITE"),
           BAD, "a method is a token")
        at("before-method", lambda m, b: setattr(m, "method", b + b"INVITE"), BAD,
           "CR/LF before the start line are skipped (7.5); anything else is not a token", cr=GOOD, lf=GOOD)
        at("ruri-user", lambda m, b: setattr(m, "ruri", b"sip:10" + b + b"00@127.0.0.1"), BAD,
           "unescaped in a URI user")
        at("ruri-host", lambda m, b: setattr(m, "ruri", b"sip:1000@127.0" + b + b".0.1"), BAD,
           "not a host character")
        at("ruri-end", lambda m, b: setattr(m, "ruri", b"sip:1000@127.0.0.1" + b), BAD, "not a URI character")
        at("version", lambda m, b: setattr(m, "version", b"SIP/2" + b + b".0"), BAD, "not a SIP-Version")
        at("after-version", lambda m, b: setattr(m, "version", b"SIP/2.0" + b), BAD,
           "the start line ends with CRLF (a bare CR before it: any)", cr=ANY)
        at("header-name", lambda m, b: m.rename(b"Max-Forwards", b"Max-" + b + b"Forwards"), BAD,
           "not a token: the Max-Forwards line is garbage (a high byte makes an unknown header, ignored, "
           "and no Max-Forwards)", **high)
        at("before-colon", lambda m, b: m.rename(b"Max-Forwards", b"Max-Forwards" + b), BAD,
           "only SP/HTAB may come before the colon (HCOLON)")
        at("after-colon", lambda m, b: m.set(b"Max-Forwards", b + b"70"), BAD, "not a Max-Forwards value")
        at("from-display", lambda m, b: m.set(b"From", b'"PROTOS' + b + b' Caller" <sip:caller@$LHOST>;tag=$TAG'),
           BAD, "qdtext excludes NUL/CR/CTL; a bare LF + SP is a fold; an invalid UTF-8 byte in a display name "
                "is tolerated", lf=LENIENT, **high)
        at("from-uri", lambda m, b: m.set(b"From", b'"PROTOS Caller" <sip:cal' + b + b'ler@$LHOST>;tag=$TAG'),
           BAD, "a control byte in the From URI (a bare LF cuts it); a high byte is tolerated", **high)
        at("from-tag", lambda m, b: m.set(b"From", b'"PROTOS Caller" <sip:caller@$LHOST>;tag=$TAG' + b + b"x"),
           BAD, "not a token character in the tag", **high)
        at("to-user", lambda m, b: m.set(b"To", b'"Callee" <sip:10' + b + b'00@127.0.0.1>'), BAD,
           "unescaped in the To URI", **high)
        at("call-id", lambda m, b: m.set(b"Call-ID", b"$CALLID" + b + b"x"), BAD,
           "not a word character in the Call-ID (a high byte: tolerated, the Call-ID is opaque)", **high)
        at("cseq-number", lambda m, b: m.set(b"CSeq", b"1" + b + b" INVITE"), BAD,
           "not a CSeq number (a bare LF + SP: a fold)", lf=LENIENT)
        at("cseq-method", lambda m, b: m.set(b"CSeq", b"1 INV" + b + b"ITE"), BAD, "the CSeq method does not match")
        at("via-branch", lambda m, b: m.set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH" + b + b"x;rport"),
           BAD, "not a token character in the branch (a high byte: tolerated, the branch is opaque)", **high)
        at("via-host", lambda m, b: m.set(b"Via", b"SIP/2.0/$TRANSPORT 127.0" + b + b".0.2:$LPORT;branch=$BRANCH;rport"),
           BAD, "not a host character (a bare LF leaves host 127.0 and a header named .0.2); answers go to "
                "the source", lf=LENIENT, **high)
        at("content-type", lambda m, b: m.set(b"Content-Type", b"application/s" + b + b"dp"), BAD,
           "not application/sdp any more: 415, or 400 for the broken line")
        at("user-agent", lambda m, b: m.set(b"User-Agent", b"protos" + b + b".py"), BAD,
           "a control byte in a header the switch does not use; a high byte is tolerated", **high)
        at("line-end", lambda m, b: setattr(m, "lines", [l + (b if l.startswith(b"Expires") else b"")
                                                          for l in m.header_lines()]),
           BAD, "a stray byte at the end of the Expires line (unused by the switch)", cr=ANY, lf=ANY, **high)

        def replace_eol_of(m, b, header):
            # the CRLF after `header` becomes the byte
            lines = m.header_lines()
            i = next(k for k, l in enumerate(lines) if l.startswith(header))
            lines[i:i + 2] = [lines[i] + b + lines[i + 1]]
            m.lines = lines

        at("eol-replaced", lambda m, b: replace_eol_of(m, b, b"Expires"), BAD,
           "Expires and User-Agent, both unused, run into one line (a bare LF may end it)", cr=ANY, lf=LENIENT,
           **high)
        at("eol-replaced-cseq", lambda m, b: replace_eol_of(m, b, b"CSeq"), BAD,
           "CSeq runs into the Contact line (a bare LF may end it)", cr=ANY, lf=LENIENT)

        def extra_line(m, b):
            lines = m.header_lines()
            lines.insert(5, b)
            m.lines = lines

        at("line-of-its-own", extra_line, BAD,
           "a header line that is just the byte (a bare CR or LF may end the headers early)", cr=ANY, lf=ANY)
        at("body-start", lambda m, b: setattr(m, "body", b + SDP), GOOD,
           "the body is opaque to SIP: a bad SDP is not a bad SIP message")
        at("body-middle", lambda m, b: setattr(m, "body", SDP[:40] + b + SDP[40:]), GOOD, "the body is opaque to SIP")
        at("body-end", lambda m, b: setattr(m, "body", SDP + b), GOOD, "the body is opaque to SIP")

        # a byte at seeded offsets in the header section
        template = Invite().to_bytes()
        head_end = template.index(b"\r\n\r\n")
        for bname, b, count, allow, why in (
                ("nul", b"\x00", 48, BAD, "a NUL is never valid in the start line or headers"),
                ("xff", b"\xff", 24, LENIENT, "a high byte replaces one: tolerated in some values, not in others"),
                ("cr", b"\r", 24, LENIENT, "a bare CR"), ("lf", b"\n", 24, LENIENT, "a bare LF"),
                ("tab", b"\t", 16, LENIENT, "a tab: whitespace in some places, an error in others")):
            offsets = self.rng.sample(range(1, head_end), count)
            for off in sorted(offsets):
                off = outside_placeholder(template, off)
                replace = bname in ("xff", "tab")
                data = template[:off] + b + template[off + (1 if replace else 0):]
                if data == template:
                    continue
                self.add("%s-at-%d" % (bname, off), "byte-sweep", data, allow, why)

    # -- Content-Length ---------------------------------------------------------------------

    def content_length(self):
        blen = len(SDP)
        for cname, v, allow, allow_tcp, why in (
                ("2p31", b"2147483648", BAD, BAD, "huge: framing error"),
                ("2p32", b"4294967296", BAD, BAD, "huge: framing error"),
                ("1e9", b"1000000000", BAD, BAD, "huge: framing error"),
                ("999999999", b"999999999", BAD, BAD, "past max_message_size"),
                ("65536", b"65536", BAD, BAD, "past max_message_size"),
                ("65535", b"65535", BAD, BAD, "longer than the datagram; on TCP never completes"),
                ("40-digits", b"9" * 40, BAD, BAD, "huge"),
                ("minus-one", b"-1", BAD, BAD, "negative (RFC 4475 ncl)"),
                ("minus-big", b"-4294967296", BAD, BAD, "negative"),
                ("plus", b"+%d" % blen, BAD, BAD, "a sign is not 1*DIGIT"),
                ("body-plus-1", b"%d" % (blen + 1), BAD, BAD, "one octet past the datagram (RFC 4475 clerr)"),
                ("body-plus-1000", b"%d" % (blen + 1000), BAD, BAD, "past the datagram"),
                ("body-times-2", b"%d" % (blen * 2), BAD, BAD, "past the datagram"),
                ("body-minus-1", b"%d" % (blen - 1), ANY, ANY,
                 "the extra datagram octet is ignored (18.3); on TCP it starts a garbage message"),
                ("half-body", b"%d" % (blen // 2), ANY, ANY, "a truncated SDP (a SIP-valid message)"),
                ("zero-with-body", b"0", ANY, ANY, "an INVITE without body; the rest is ignored (UDP) or garbage"),
                ("inner-space", b"1 2", BAD, BAD, "not a number"),
                ("comma", b"%d,%d" % (blen, blen), BAD, BAD, "not a number"),
                ("hex", b"0x%x" % blen, BAD, BAD, "not a number"),
                ("tab-padded", b"\t%d\t" % blen, GOOD, GOOD, "whitespace around the value is LWS"),
                ("leading-zeros", b"000%d" % blen, GOOD, GOOD, "1*DIGIT: leading zeros are allowed")):
            m = Invite().set(b"Content-Length", v)
            self.add(cname, "content-length", m, allow, why, allow_tcp=allow_tcp)
        for cname, body, allow, why in (
                ("body-shorter-by-half", SDP[:len(SDP) // 2], BAD, "the declared body is not all there"),
                ("body-shorter-by-1", SDP[:-1], BAD, "one octet missing"),
                ("body-longer-by-1", SDP + b"x", ANY, "one extra octet: ignored on UDP, garbage on TCP"),
                ("body-longer-by-4000", SDP + b"x" * 4000, ANY, "4000 extra octets")):
            m = Invite().set(b"Content-Length", str(len(SDP)).encode())
            m.body = body
            self.add(cname, "content-length", m, allow, why)
        m = Invite().rename(b"Content-Length", b"l")
        self.add("compact-l", "content-length", m, GOOD, "the compact form (7.3.3)")
        m = Invite().rename(b"Content-Length", b"content-length")
        self.add("lower-case-name", "content-length", m, GOOD, "header names are case-insensitive (7.3.1)")

    # -- truncation ------------------------------------------------------------------------------

    def truncation(self):
        template = Invite().to_bytes()
        offsets = set()
        pos = 0
        while True:
            nl = template.find(b"\n", pos)
            if nl < 0:
                break
            offsets.update((nl, nl + 1, (pos + nl) // 2))  # before the LF, after it, mid-line
            pos = nl + 1
        offsets.update(self.rng.sample(range(1, len(template)), 40))
        for off in sorted(offsets):
            off = outside_placeholder(template, off)
            if not 0 < off < len(template):
                continue
            name = "at-%d" % off
            if ("truncation/" + name) in self.names:
                continue
            self.add(name, "truncation", template[:off], BAD,
                     "cut short: no end of headers or less body than declared (UDP 400; TCP never completes)")

    # -- line folding -------------------------------------------------------------------------------

    def folding(self):
        def folded(name, value_with_folds, allow, why, header=None):
            m = Invite()
            if header is None:
                m.set(name, value_with_folds)
            else:
                m.add(name, value_with_folds)
            self.add(header or name.decode().lower(), "folding", m, allow, why)

        lws = "LWS may contain a line fold (7.3.1, 25.1)"
        folded(b"From", b'"PROTOS Caller"\r\n <sip:caller@$LHOST>;tag=$TAG', GOOD, lws)
        folded(b"To", b'\r\n\t"Callee"\r\n <sip:1000@127.0.0.1>', GOOD, lws)
        folded(b"Via", b"SIP/2.0/$TRANSPORT\r\n $LHOST:$LPORT\r\n ;branch=$BRANCH\r\n\t;rport", GOOD, lws)
        folded(b"CSeq", b"1\r\n INVITE", GOOD, lws)
        folded(b"Call-ID", b"\r\n $CALLID", GOOD, lws)
        folded(b"Max-Forwards", b"\r\n\t70", GOOD, lws)
        folded(b"Content-Length", b"\r\n %d" % len(SDP), GOOD, lws)
        folded(b"Expires", b"\r\n 180", GOOD, lws)
        folded(b"Contact", b"\r\n <sip:caller@$LHOST:$LPORT>", GOOD, lws)
        folded(b"Subject", b"folded\r\n subject\r\n\tline", GOOD, lws, header="subject")
        folded(b"Subject", b"a" + b"\r\n a" * 1000, ANY, "1000 continuation lines", header="subject-1000-folds")
        folded(b"Subject", b"a\r\n" + b" " * 4000 + b"b", ANY, "a 4000-space indent", header="subject-deep-indent")
        folded(b"Subject", b"a\r\n \r\n b", LENIENT, "a continuation line of blanks only", header="subject-blank-fold")
        folded(b"Subject", b"a\n b", LENIENT, "a fold with a bare LF", header="subject-lf-fold")
        folded(b"Subject", b"a\r b", LENIENT, "a fold with a bare CR", header="subject-cr-fold")
        m = Invite().set(b"From", b'"PROTOS\r\n Caller" <sip:caller@$LHOST>;tag=$TAG')
        self.add("inside-quoted-string", "folding", m, GOOD, "qdtext includes LWS (25.1)")
        m = Invite().set(b"CSeq", b"1 INV\r\n ITE")
        self.add("inside-cseq-method", "folding", m, BAD, "a fold splits the method token: CSeq mismatch")
        m = Invite().set(b"To", b"<sip:10\r\n 00@127.0.0.1>")
        self.add("inside-uri", "folding", m, BAD, "no whitespace inside a URI")
        m = Invite()
        m.lines = [l.replace(b"From: ", b"From\r\n : ", 1) for l in m.header_lines()]
        self.add("before-colon", "folding", m, BAD, "HCOLON = *( SP / HTAB ) \":\" SWS: no fold before the colon")
        m = Invite()
        m.lines = [l.replace(b"From", b"Fr\r\n om", 1) if l.startswith(b"From") else l for l in m.header_lines()]
        self.add("inside-header-name", "folding", m, BAD, "a fold inside a header name")
        m = Invite()
        m.start_line = b"INVITE\r\n sip:1000@127.0.0.1 SIP/2.0"
        self.add("start-line", "folding", m, BAD, "the start line cannot be folded")
        m = Invite()
        m.lines = [b" " + m.header_lines()[0]] + m.header_lines()[1:]
        self.add("first-header-indented", "folding", m, BAD, "a continuation of the start line")
        m = Invite()
        m.lines = [l.replace(b": ", b":\r\n ", 1) for l in m.header_lines()]
        self.add("every-header", "folding", m, GOOD, lws)
        m = Invite()
        m.lines = [l.replace(b": ", b": \r\n\t \r\n ", 1) for l in m.header_lines()]
        self.add("every-header-twice", "folding", m, LENIENT, "two folds in a row")
        m = Invite().add(b"Subject", b"a\r\n\r\n b")
        self.add("subject-crlf-crlf", "folding", m, BAD,
                 "an empty line ends the headers early: the rest is a body without Content-Type",
                 allow_tcp=BAD)
        m = Invite()
        m.lines = m.header_lines()
        m.lines[-1] += b"\r\n   "
        self.add("blank-fold-before-body", "folding", m, GOOD, "trailing LWS after Content-Length")
        m = Invite().set(b"Content-Type", b"application/\r\n sdp")
        self.add("content-type-around-slash", "folding", m, ANY,
                 "SLASH = SWS \"/\" SWS allows it; the switch may read it as another type (415)")
        m = Invite().set(b"Via", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport\r\n ,\r\n "
                                 b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfolded")
        self.add("via-list", "folding", m, GOOD, lws)

    # -- SIP-Version ------------------------------------------------------------------------------

    def version(self):
        for vname, v, allow, why in (
                ("2.1", b"SIP/2.1", codes(505), "another version: 505 (21.5.7)"),
                ("3.0", b"SIP/3.0", codes(505), "another version: 505"),
                ("1.0", b"SIP/1.0", codes(505), "another version: 505"),
                ("20.0", b"SIP/20.0", codes(505), "another version: 505"),
                ("huge-major", b"SIP/99999999999999999999.0", codes(505, 400), "another version, a huge number"),
                ("lower-case", b"sip/2.0", ANY, "literal strings are case-insensitive in the ABNF (RFC 2234), "
                                                 "7.1 says the version is case-insensitive: 505 is wrong but harmless"),
                ("mixed-case", b"Sip/2.0", ANY, "as lower-case"),
                ("leading-zero", b"SIP/02.0", ANY, "1*DIGIT: version 2.0 with a leading zero (or 505)"),
                ("two-decimals", b"SIP/2.00", ANY, "1*DIGIT: 2.00"),
                ("no-minor", b"SIP/2", BAD, "not a SIP-Version"),
                ("no-number", b"SIP/", BAD, "not a SIP-Version"),
                ("bare-sip", b"SIP", BAD, "not a SIP-Version"),
                ("empty", b"", BAD, "a start line of two parts"),
                ("http", b"HTTP/1.1", BAD, "not SIP"),
                ("via-style", b"SIP/2.0/UDP", BAD, "not a SIP-Version"),
                ("negative", b"SIP/-2.0", BAD, "not a SIP-Version"),
                ("backslash", b"SIP\\2.0", BAD, "not a SIP-Version"),
                ("space-after-slash", b"SIP/ 2.0", BAD, "a start line of four parts"),
                ("space-before-slash", b"SIP /2.0", BAD, "a start line of four parts"),
                ("twice", b"SIP/2.0 SIP/2.0", BAD, "a start line of four parts"),
                ("trailing-space", b"SIP/2.0 ", LENIENT, "a trailing SP: strictly malformed, harmless"),
                ("trailing-tab", b"SIP/2.0\t", LENIENT, "a trailing HTAB: strictly malformed, harmless"),
                ("long", b"SIP/2.0" + b"0" * 2000, ANY, "2.000...0 (1*DIGIT) or garbage")):
            m = Invite()
            m.version = v
            self.add(vname, "version", m, allow, why)

    # -- methods -----------------------------------------------------------------------------------

    def methods(self):
        unknown = codes(501, 400)
        for mname, method, cseq_method, allow, why in (
                ("lower-case", b"invite", b"invite", unknown, "methods are case-sensitive (7.1): unknown, 501"),
                ("capitalised", b"Invite", b"Invite", unknown, "unknown method: 501"),
                ("suffix", b"INVITEX", b"INVITEX", unknown, "unknown method: 501"),
                ("dash", b"INV-ITE", b"INV-ITE", unknown, "unknown method: 501"),
                ("token-chars", b"!%*_+`'~", b"!%*_+`'~", unknown, "a token of every token symbol: 501"),
                ("digit-first", b"1NVITE", b"1NVITE", unknown, "unknown method: 501"),
                ("long", b"I" * 4000, b"I" * 4000, unknown, "a 4000-character unknown method: 501"),
                ("http-get", b"GET", b"GET", unknown, "an HTTP method: 501"),
                ("semicolon", b"INVITE;x", b"INVITE;x", BAD, "';' is no token character"),
                ("colon", b"INVITE:", b"INVITE:", BAD, "':' is no token character"),
                ("slash", b"IN/VITE", b"IN/VITE", BAD, "'/' is no token character"),
                ("quote", b'"INVITE"', b'"INVITE"', BAD, "'\"' is no token character"),
                ("cseq-mismatch", b"INVITE", b"OPTIONS", BAD, "CSeq method differs (8.1.1.5; RFC 4475 mismatch01)"),
                ("cseq-lower", b"INVITE", b"invite", BAD, "CSeq method differs in case"),
                ("options", b"OPTIONS", b"OPTIONS", codes(200), "a valid OPTIONS: 200"),
                ("ack", b"ACK", b"ACK", DROP, "an ACK matching no transaction: absorbed, never answered"),
                ("bye", b"BYE", b"BYE", codes(481), "no such dialog: 481"),
                ("cancel", b"CANCEL", b"CANCEL", codes(481), "no such transaction: 481"),
                ("prack", b"PRACK", b"PRACK", codes(481), "no such dialog: 481"),
                ("update", b"UPDATE", b"UPDATE", codes(481), "no such dialog: 481"),
                ("info", b"INFO", b"INFO", codes(481), "no such dialog: 481"),
                ("register", b"REGISTER", b"REGISTER", codes(405), "no registrar loaded: 405"),
                ("message", b"MESSAGE", b"MESSAGE", codes(405), "not handled: 405"),
                ("subscribe", b"SUBSCRIBE", b"SUBSCRIBE", codes(405), "not handled: 405"),
                ("notify", b"NOTIFY", b"NOTIFY", codes(405), "not handled: 405"),
                ("refer", b"REFER", b"REFER", codes(405), "not handled: 405"),
                ("publish", b"PUBLISH", b"PUBLISH", codes(405), "not handled: 405")):
            m = Invite()
            m.method = method
            m.set(b"CSeq", b"1 " + cseq_method)
            self.add(mname, "method", m, allow, why, method=method)
        for mname, start, allow, why in (
                ("empty", b" sip:1000@127.0.0.1 SIP/2.0", BAD, "no method"),
                ("two-spaces", b"INVITE  sip:1000@127.0.0.1 SIP/2.0", BAD, "SP is exactly one space (7.1)"),
                ("tab-separated", b"INVITE\tsip:1000@127.0.0.1\tSIP/2.0", BAD, "SP is a space, not a tab"),
                ("leading-space", b" INVITE sip:1000@127.0.0.1 SIP/2.0", BAD, "the start line starts with a method"),
                ("http-request", b"GET / HTTP/1.0", BAD, "an HTTP request line"),
                ("method-only", b"INVITE", BAD, "a start line of one part"),
                ("four-parts", b"INVITE sip:1000@127.0.0.1 SIP/2.0 extra", BAD, "a start line of four parts"),
                ("response-line", b"SIP/2.0 200 OK", ANY, "a response with an INVITE's headers: dropped (no "
                                                        "client transaction), never answered")):
            m = Invite()
            m.start_line = start
            self.add(mname, "method", m, allow, why)

    # -- Request-URI --------------------------------------------------------------------------------

    def request_uri(self):
        for rname, ruri, allow, why in (
                ("angle-brackets", b"<sip:1000@127.0.0.1>", BAD, "RFC 4475 ltgtruri"),
                ("scheme-only", b"sip:", BAD, "no host"),
                ("no-host", b"sip:1000@", BAD, "no host"),
                ("empty-user", b"sip:@127.0.0.1", BAD, "'@' with an empty user"),
                ("at-only", b"sip:@", BAD, "no user, no host"),
                ("two-at", b"sip:1000@127.0.0.1@x", BAD, "a second '@' is not a host character"),
                ("empty-port", b"sip:1000@127.0.0.1:", BAD, "port = 1*DIGIT"),
                ("two-ports", b"sip:1000@127.0.0.1:5060:5060", BAD, "a second port"),
                ("ipv6", b"sip:1000@[::1]", GOOD, "an IPv6 reference"),
                ("ipv6-unclosed", b"sip:1000@[::1", BAD, "an unclosed IPv6 reference"),
                ("ipv6-bare", b"sip:1000@::1", BAD, "an IPv6 address needs brackets"),
                ("ipv4-256", b"sip:1000@256.256.256.256", ANY, "1*3DIGIT allows 256; unroutable: any"),
                ("sips", b"sips:1000@127.0.0.1", LENIENT,
                 "a SIPS URI over UDP/TCP breaks 26.2.2 on the sender's side; the B-leg goes the gateway's way"),
                ("tel", b"tel:+15551234", GOOD, "tel URIs are routed (RFC 3966)"),
                ("tel-empty", b"tel:", LENIENT, "an empty tel number: refused, or a call to nobody (not SIP grammar)"),
                ("tel-visual-separators", b"tel:+1-555-(123).4567", GOOD, "visual separators (RFC 3966)"),
                ("tel-local-number", b"tel:*72#1;phone-context=example.com", GOOD, "a local number (RFC 3966)"),
                ("tel-with-at", b"tel:1@h:5", BAD, "'@' and ':' are not phonedigits (RFC 3966)"),
                ("tel-with-angle", b"tel:1>2", BAD, "'>' is not a phonedigit"),
                ("http-scheme", b"http://127.0.0.1/", codes(416), "an unsupported scheme: 416"),
                ("mailto", b"mailto:a@127.0.0.1", codes(416), "an unsupported scheme: 416"),
                ("urn", b"urn:service:sos", codes(416), "an unsupported scheme: 416"),
                ("upper-case-scheme", b"SIP:1000@127.0.0.1", GOOD, "schemes are case-insensitive (19.1.1)"),
                ("password", b"sip:1000:secret@127.0.0.1", GOOD, "userinfo may carry a password"),
                ("user-with-semicolon", b"sip:1000;isub=1@127.0.0.1", GOOD, "';' is a user-unreserved character"),
                ("escaped-digit", b"sip:%31000@127.0.0.1", GOOD, "an escaped '1'"),
                ("transport-param", b"sip:1000@127.0.0.1;transport=tcp", GOOD, "a URI parameter"),
                ("empty-param", b"sip:1000@127.0.0.1;", BAD, "pname = 1*paramchar"),
                ("empty-param-name", b"sip:1000@127.0.0.1;=x", BAD, "pname = 1*paramchar"),
                ("double-semicolon", b"sip:1000@127.0.0.1;;lr", BAD, "pname = 1*paramchar"),
                ("headers", b"sip:1000@127.0.0.1?Subject=x", BAD, "headers in a Request-URI (RFC 4475 escruri)"),
                ("space-in-user", b"sip:10 00@127.0.0.1", BAD, "a start line of four parts"),
                ("closing-angle", b"sip:1000@127.0.0.1>", BAD, "'>' is no URI character"),
                ("star", b"*", BAD, "'*' is only for REGISTER's Contact"),
                ("hash-in-user", b"sip:*72#1000@127.0.0.1", LENIENT,
                 "'#' must be escaped, but PBXs dial feature codes with it raw"),
                ("host-leading-dash", b"sip:1000@-h-.example", LENIENT, "a label starts alphanumeric; unroutable"),
                ("host-empty-label", b"sip:1000@a..example", LENIENT, "an empty label; unroutable"),
                ("host-underscore", b"sip:1000@a_b.example", LENIENT, "'_' is not a hostname character; unroutable"),
                ("lr-twice", b"sip:1000@127.0.0.1;lr;lr", ANY, "a repeated parameter")):
            m = Invite()
            m.ruri = ruri
            self.add(rname, "request-uri", m, allow, why)

    # -- Via ------------------------------------------------------------------------------------------

    def via(self):
        for vname, v, allow, why in (
                ("no-branch", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;rport", ANY,
                 "an RFC 2543 client: matched the old way (17.2.3), or refused"),
                ("branch-no-cookie", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$UNIQ;rport", GOOD,
                 "an RFC 2543 branch (17.2.3)"),
                ("cookie-only", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=z9hG4bK;rport", BAD,
                 "the magic cookie alone (RFC 4475 badbranch)"),
                ("empty-branch", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=;rport", BAD, "branch = token"),
                ("branch-without-value", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch;rport", LENIENT,
                 "via-branch needs a value; a generic-param does not"),
                ("other-transport", b"SIP/2.0/XYZ $LHOST:$LPORT;branch=$BRANCH;rport", ANY,
                 "other-transport = token: answered over the transport it came on"),
                ("no-transport", b"SIP/2.0 $LHOST:$LPORT;branch=$BRANCH;rport", BAD, "sent-protocol has three parts"),
                ("version-3", b"SIP/3.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport", ANY,
                 "protocol-version = token"),
                ("no-sent-by", b"SIP/2.0/$TRANSPORT ;branch=$BRANCH;rport", BAD, "no sent-by"),
                ("port-only", b"SIP/2.0/$TRANSPORT :$LPORT;branch=$BRANCH;rport", BAD, "no host"),
                ("rport-value", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport=abc", LENIENT, "rport=abc"),
                ("received-garbage", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;received=x.y.z", LENIENT,
                 "received is overwritten by the receiver"),
                ("ttl-999", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;ttl=999", LENIENT, "ttl is 0-255"),
                ("maddr-empty", b"SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;maddr=", LENIENT, "empty maddr"),
                ("comma-only", b",", BAD, "no Via value"),
                ("ipv6", b"SIP/2.0/$TRANSPORT [::1]:$LPORT;branch=$BRANCH;rport", GOOD,
                 "an IPv6 sent-by; the answer goes to the source (rport)"),
                ("ipv6-unclosed", b"SIP/2.0/$TRANSPORT [::1:$LPORT;branch=$BRANCH;rport", LENIENT,
                 "a broken sent-by; the answer goes to the source"),
                ("lower-case", b"sip/2.0/udp $LHOST:$LPORT;branch=$BRANCH;rport", GOOD,
                 "tokens are case-insensitive"),
                ("spaces-around-slashes", b"SIP / 2.0 / $TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport", GOOD,
                 "SLASH = SWS \"/\" SWS")):
            m = Invite().set(b"Via", v)
            self.add(vname, "via", m, allow, why)
        m = Invite().rename(b"Via", b"v")
        self.add("compact-v", "via", m, GOOD, "the compact form (7.3.3)")

    # -- From / To ----------------------------------------------------------------------------------

    def address(self):
        for aname, header, v, allow, why in (
                ("from-unbalanced-quote", b"From", b'"PROTOS Caller <sip:caller@$LHOST>;tag=$TAG', BAD,
                 "RFC 4475 quotbal"),
                ("from-unclosed-angle", b"From", b'"PROTOS Caller" <sip:caller@$LHOST;tag=$TAG', BAD,
                 "an unclosed '<'"),
                ("from-empty-angles", b"From", b"<>;tag=$TAG", BAD, "no URI"),
                ("from-addr-spec", b"From", b"sip:caller@$LHOST;tag=$TAG", GOOD, "an addr-spec with a tag"),
                ("from-no-uri", b"From", b"caller;tag=$TAG", BAD, "no URI"),
                ("from-two-tags", b"From", b"<sip:caller@$LHOST>;tag=$TAG;tag=other", LENIENT, "two tags"),
                ("from-tag-with-space", b"From", b"<sip:caller@$LHOST>;tag=a b", BAD, "a tag is a token"),
                ("from-no-tag", b"From", b"<sip:caller@$LHOST>", GOOD,
                 "RFC 2543 clients send no From tag; a UAS accepts it"),
                ("from-empty-tag", b"From", b"<sip:caller@$LHOST>;tag=", BAD, "tag = token (dropped: a 400 "
                                                                               "would echo it)"),
                ("from-trailing-semicolon", b"From", b"<sip:caller@$LHOST>;tag=$TAG;", BAD, "an empty parameter"),
                ("from-escaped-quote", b"From", b'"PROTOS \\"Caller\\"" <sip:caller@$LHOST>;tag=$TAG', GOOD,
                 "quoted-pair"),
                ("from-backslash-at-end", b"From", b'"PROTOS Caller\\" <sip:caller@$LHOST>;tag=$TAG', BAD,
                 "the escaped quote leaves the string unclosed"),
                ("from-unquoted-display", b"From", b"PROTOS Caller <sip:caller@$LHOST>;tag=$TAG", GOOD,
                 "display-name = *(token LWS)"),
                ("from-empty-display", b"From", b'"" <sip:caller@$LHOST>;tag=$TAG', GOOD, "an empty quoted string"),
                ("from-tel", b"From", b"<tel:+15550000>;tag=$TAG", GOOD, "a tel URI"),
                ("from-tel-visual", b"From", b"<tel:+1-555-000.0000>;tag=$TAG", GOOD,
                 "visual separators (RFC 3966)"),
                ("from-tel-with-at", b"From", b"<tel:1@h:5>;tag=$TAG", BAD,
                 "'@' and ':' are not phonedigits (RFC 3966); the caller's number is passed on"),
                ("from-tel-addr-spec-with-at", b"From", b"tel:1@h:5;tag=$TAG", BAD, "the same as an addr-spec"),
                ("from-utf8-display", b"From", '"Caller \u00e9\u4e2d" <sip:caller@$LHOST>;tag=$TAG'.encode(), GOOD,
                 "UTF8-NONASCII in qdtext"),
                ("to-with-tag", b"To", b"<sip:1000@127.0.0.1>;tag=unknown", codes(481),
                 "a re-INVITE for a dialog that does not exist: 481 (12.2.2)"),
                ("to-addr-spec", b"To", b"sip:1000@127.0.0.1", GOOD, "an addr-spec"),
                ("to-tel", b"To", b"<tel:+15551234>", GOOD, "a tel URI"),
                ("to-tel-with-at", b"To", b"<tel:1@h:5>", BAD, "'@' and ':' are not phonedigits (RFC 3966)"),
                ("to-unbalanced-quote", b"To", b'"Callee <sip:1000@127.0.0.1>', BAD, "an unclosed quoted string"),
                ("to-empty-angles", b"To", b"<>", BAD, "no URI"),
                ("to-empty-param", b"To", b"<sip:1000@127.0.0.1>;;x", BAD, "an empty parameter"),
                ("to-headers-outside-angles", b"To", b"sip:1000@127.0.0.1?Subject=x", BAD,
                 "URI headers outside <> (RFC 4475 regbadct)")):
            m = Invite().set(header, v)
            self.add(aname, "address", m, allow, why)
        for short, long_name in ((b"f", b"From"), (b"t", b"To"), (b"i", b"Call-ID"), (b"m", b"Contact"),
                                 (b"c", b"Content-Type")):
            m = Invite().rename(long_name, short)
            self.add("compact-" + short.decode(), "address", m, GOOD, "the compact form (7.3.3)")
        for lname, fn in (("upper-case-names", bytes.upper), ("lower-case-names", bytes.lower)):
            m = Invite()
            for h in m.headers:
                h[0] = fn(h[0])
            self.add(lname, "address", m, GOOD, "header names are case-insensitive (7.3.1)")
        m = Invite()
        m.lines = [l.replace(b": ", b" \t : ", 1) for l in m.header_lines()]
        self.add("space-before-colon", "address", m, GOOD, "HCOLON = *( SP / HTAB ) \":\" SWS")
        m = Invite()
        m.lines = [l.replace(b": ", b":", 1) for l in m.header_lines()]
        self.add("no-space-after-colon", "address", m, GOOD, "SWS is optional")
        m = Invite()
        m.eol = b"\n"
        m.body = SDP.replace(b"\r\n", b"\n")
        self.add("lf-line-ends", "address", m, LENIENT, "bare LF line ends: tolerated or refused")
        m = Invite()
        m.eol = b"\r"
        self.add("cr-line-ends", "address", m, BAD, "bare CR line ends: no line ends at all")
        self.add("leading-crlf", "address", b"\r\n\r\n" + Invite().to_bytes(), GOOD,
                 "CRLFs before the start line are ignored (7.5)")

    def all(self):
        for part in (self.overflow, self.integers, self.missing, self.repeated, self.escapes, self.control_bytes,
                     self.content_length, self.truncation, self.folding, self.version, self.methods,
                     self.request_uri, self.via, self.address):
            part()
        return self.cases


def outside_placeholder(data, off):
    """Moves an offset that falls inside a placeholder ("$BRANCH") to its start,
    so every mutation leaves the placeholders whole."""
    for p in PLACEHOLDERS:
        start = data.rfind(p, 0, off)
        while start >= 0:
            if start < off < start + len(p):
                return start
            start = data.rfind(p, 0, start)
    return off


def generate(seed):
    return Generator(seed).all()


# ---- filling placeholders ---------------------------------------------------------


def fill(data, transport, lhost, lport, uniq):
    subst = {
        b"$TRANSPORT": transport.upper().encode(),
        b"$LHOST": lhost.encode(),
        b"$LPORT": str(lport).encode(),
        b"$BRANCH": b"z9hG4bK-protos-" + uniq,
        b"$CALLID": b"protos-" + uniq + b"@" + lhost.encode(),
        b"$TAG": b"p" + uniq,
        b"$UNIQ": uniq,
    }
    for k, v in subst.items():
        data = data.replace(k, v)
    return data


# ---- SIP text helpers for the driver ----------------------------------------------


class Msg:
    """A message received from the switch (or forwarded by it)."""

    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t") and self.headers:
                self.headers[-1][1] += b" " + line.strip()
                continue
            name, _, value = line.partition(b":")
            self.headers.append([name.strip(), value.strip()])
        parts = self.first.split(b" ", 2)
        self.is_response = parts[0] == b"SIP/2.0"
        self.code = int(parts[1]) if self.is_response and len(parts) > 1 and parts[1].isdigit() else None
        self.method = None if self.is_response else parts[0]

    def all(self, name):
        aliases = {b"via": b"v", b"from": b"f", b"to": b"t", b"call-id": b"i", b"content-length": b"l",
                   b"contact": b"m", b"content-type": b"c"}
        want = {name.lower(), aliases.get(name.lower(), name.lower())}
        return [v for n, v in self.headers if n.lower() in want]

    def one(self, name):
        v = self.all(name)
        return v[0] if v else None

    def cseq_method(self):
        cseq = self.one(b"CSeq") or b""
        parts = cseq.split()
        return parts[1] if len(parts) > 1 else None


TOKEN_RE = re.compile(rb"^[A-Za-z0-9.!%*_+`'~-]+$")
CONTROL_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# A SIP URI as the switch should build one: [user@]host[:port][;params], a
# single '@', digits for a port, no brackets, quotes or whitespace.
SIP_URI_RE = re.compile(rb"^sips?:([^@<>\"\s:;]+(:[^@<>\"\s;]*)?@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d+)?(;[^<>\"\s]*)?$")
ADDRESS_URI_RE = re.compile(rb"<([^<>]*)>")
QUOTED_PAIR_RE = re.compile(rb"\\[\x00-\x7f]")  # a quoted-pair may escape one (RFC 4475 intmeth)


def forwarded_problems(raw):
    """What is wrong with a request the switch sent to the gateway: it built
    it, so it must be well formed whatever the caller sent."""
    problems = []
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return ["no end of headers"]
    lines = head.split(b"\r\n")
    if any(CONTROL_RE.search(QUOTED_PAIR_RE.sub(b"", l)) for l in lines):
        problems.append("a control character (NUL, bare CR/LF, ESC, DEL...) in the headers")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"SIP/2.0" or not TOKEN_RE.match(parts[0]) or b":" not in parts[1]:
        problems.append("bad start line %r" % lines[0][:80])
    counts = {}
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not TOKEN_RE.match(name.strip()):
            problems.append("bad header line %r" % line[:80])
            continue
        counts[name.strip().lower()] = counts.get(name.strip().lower(), 0) + 1
    for name, compact in ((b"from", b"f"), (b"to", b"t"), (b"call-id", b"i"), (b"cseq", None),
                          (b"max-forwards", None), (b"content-length", b"l")):
        n = counts.get(name, 0) + counts.get(compact, 0)
        if n != 1:
            problems.append("%d %s headers" % (n, name.decode()))
    if counts.get(b"via", 0) + counts.get(b"v", 0) < 1:
        problems.append("no Via")
    m = Msg(raw)
    for what, uri in [("Request-URI", parts[1] if len(parts) == 3 else b"")] + \
            [(h, (ADDRESS_URI_RE.search(m.one(h.encode()) or b"") or [b"", b""])[1]) for h in ("From", "To")]:
        if not SIP_URI_RE.match(uri):
            problems.append("the %s is no well-formed SIP URI: %r" % (what, uri[:80]))
    cl = m.one(b"Content-Length")
    if cl is not None and (not cl.isdigit() or int(cl) != len(body)):
        problems.append("Content-Length %r for a %d-byte body" % (cl, len(body)))
    return problems


def build_response(req, code, reason, to_tag):
    """The gateway's answer to a request the switch forwarded."""
    out = [b"SIP/2.0 %d %s" % (code, reason)]
    for name, value in req.headers:
        if name.lower() in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq"):
            out.append(name + b": " + value)
        elif name.lower() in (b"to", b"t"):
            out.append(name + b": " + value + (b";tag=" + to_tag if b"tag=" not in value else b""))
    out.append(b"Content-Length: 0")
    return b"\r\n".join(out) + b"\r\n\r\n"


def build_ack(resp, ruri):
    """The ACK of a non-2xx final answer to an INVITE (17.1.1.3), from the
    answer's own headers: same top Via (branch), From, To (with tag), Call-ID."""
    via = resp.all(b"Via")
    cseq = (resp.one(b"CSeq") or b"1").split()
    if not via or not cseq:
        return None
    lines = [b"ACK " + ruri + b" SIP/2.0", b"Via: " + via[0], b"Max-Forwards: 70",
             b"From: " + (resp.one(b"From") or b""), b"To: " + (resp.one(b"To") or b""),
             b"Call-ID: " + (resp.one(b"Call-ID") or b""), b"CSeq: " + cseq[0] + b" ACK", b"Content-Length: 0"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def split_stream(buf):
    """Complete messages at the head of a TCP buffer, and the rest."""
    out = []
    while True:
        while buf.startswith(b"\r\n"):
            buf = buf[2:]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        head = buf[:end]
        m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
        length = int(m.group(1)) if m else 0
        total = end + 4 + length
        if len(buf) < total:
            return out, buf
        out.append(buf[:total])
        buf = buf[total:]


# ---- the driver ------------------------------------------------------------------------------


class Peer:
    """One socket of ours and what arrived on it."""

    def __init__(self, sock, stream):
        self.sock = sock
        self.stream = stream
        self.buf = b""
        self.msgs = []
        self.closed = False

    def finals(self):
        return [m for m in self.msgs if m.is_response and m.code is not None and m.code >= 200]


# A 503 means overload (the switch's own protection, not a verdict on the
# message): pause, then send again, at most this many times.
OVERLOAD_RETRIES = 3
OVERLOAD_PAUSE = 0.3


class Driver:
    def __init__(self, args):
        self.switch = (args.switch.rsplit(":", 1)[0], int(args.switch.rsplit(":", 1)[1]))
        self.case_source = args.case_source
        self.probe_source = args.probe_source
        self.probe_timeout = args.probe_timeout
        self.answer_timeout = args.answer_timeout
        self.sel = selectors.DefaultSelector()
        self.counter = 0
        self.forward_problems = []  # (case name, problems)
        self.forwarded = 0
        self.current = "(start)"
        gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gw.bind(("127.0.0.1", args.gateway_port))
        self.gateway = Peer(gw, False)
        self.sel.register(gw, selectors.EVENT_READ, self.gateway)
        self.probe_udp = None
        self.probe_tcp = None
        self.overload_waits = 0  # 503s waited out (probes and cases)

    def uniq(self):
        self.counter += 1
        return b"%d-%x" % (self.counter, random.getrandbits(32))

    # -- sockets ---------------------------------------------------------------------

    def open_peer(self, transport, source):
        if transport == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            s.connect(self.switch)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.bind((source, 0))
            s.settimeout(self.probe_timeout)
            s.connect(self.switch)
        s.setblocking(False)
        peer = Peer(s, transport == "tcp")
        self.sel.register(s, selectors.EVENT_READ, peer)
        return peer

    def close_peer(self, peer):
        try:
            self.sel.unregister(peer.sock)
        except (KeyError, ValueError):
            pass
        peer.sock.close()

    def send(self, peer, data):
        """False when the data could not be sent (the switch closed the stream)."""
        try:
            if not peer.stream:
                peer.sock.send(data)
                return True
            peer.sock.setblocking(True)
            peer.sock.settimeout(self.probe_timeout)
            peer.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False
        except OSError as e:
            if e.errno == errno.EMSGSIZE:
                raise  # the caller skips a case UDP cannot carry
            return False
        finally:
            peer.sock.setblocking(False)

    def pump(self, until, timeout):
        """Reads every socket, answering as the gateway, until until() holds
        or timeout seconds pass (a timeout of 0 reads what is there).
        Returns until()."""
        end = time.monotonic() + timeout
        while not until():
            left = end - time.monotonic()
            for key, _ in self.sel.select(max(0.0, min(left, 0.05))):
                self.read(key.data)
            if left <= 0:
                break
        return until()

    def read(self, peer):
        try:
            data, sender = peer.sock.recvfrom(262144)
        except (BlockingIOError, InterruptedError):
            return
        except (ConnectionResetError, ConnectionRefusedError, OSError):
            data = b""
            if not peer.stream:
                return  # ICMP port unreachable on a UDP socket: nothing to read
        if peer.stream:
            if not data:
                peer.closed = True
                self.sel.unregister(peer.sock)
                return
            msgs, peer.buf = split_stream(peer.buf + data)
        else:
            msgs = [data]
        for raw in msgs:
            m = Msg(raw)
            if peer is self.gateway:
                self.on_gateway(m, raw, sender)
            else:
                peer.msgs.append(m)

    def on_gateway(self, m, raw, sender):
        if m.is_response:
            return
        if m.method == b"INVITE":
            self.forwarded += 1
            problems = forwarded_problems(raw)
            if problems:
                self.forward_problems.append((self.current, problems))
            answer = build_response(m, 486, b"Busy Here", b"gw%d" % self.forwarded)
        elif m.method == b"ACK":
            return
        else:
            answer = build_response(m, 200, b"OK", b"gw")
        self.gateway.sock.sendto(answer, sender)

    # -- probes ----------------------------------------------------------------------

    def probe_message(self, transport, peer):
        lhost, lport = peer.sock.getsockname()
        u = self.uniq()
        return fill(b"INVITE sip:probe@127.0.0.1 SIP/2.0\r\n"
                    b"Via: SIP/2.0/$TRANSPORT $LHOST:$LPORT;branch=$BRANCH;rport\r\n"
                    b"Max-Forwards: 70\r\n"
                    b"From: <sip:prober@$LHOST>;tag=$TAG\r\n"
                    b"To: <sip:probe@127.0.0.1>\r\n"
                    b"Call-ID: $CALLID\r\n"
                    b"CSeq: 1 INVITE\r\n"
                    b"Contact: <sip:prober@$LHOST:$LPORT>\r\n"
                    b"Content-Length: 0\r\n\r\n", transport, lhost, lport, u), b"protos-" + u + b"@" + lhost.encode()

    def probe(self, transport):
        """A valid INVITE from the mapped probe source: True when its final
        answer (the gateway's 486, relayed) arrives in time. A 503 is the
        switch shedding load (its signaling thread fell behind: a loaded
        machine): waited out and asked again, a few times."""
        attempt = 0
        overloaded = 0
        while attempt < 2:
            attempt += 1
            peer = self.probe_udp if transport == "udp" else self.probe_tcp
            if peer is None or peer.closed:
                if peer is not None:
                    self.close_peer(peer)
                try:
                    peer = self.open_peer(transport, self.probe_source)
                except OSError:
                    peer = None
                if transport == "udp":
                    self.probe_udp = peer
                else:
                    self.probe_tcp = peer
                if peer is None:
                    continue
            data, call_id = self.probe_message(transport, peer)
            peer.msgs = []
            if not self.send(peer, data):
                peer.closed = True
                continue

            def answered():
                return any(m.code is not None and m.code >= 200 and m.one(b"Call-ID") == call_id
                           for m in peer.msgs) or peer.closed

            self.pump(answered, self.probe_timeout)
            finals = [m for m in peer.finals() if m.one(b"Call-ID") == call_id]
            if finals:
                ack = build_ack(finals[0], b"sip:probe@127.0.0.1")
                if ack and finals[0].code >= 300:
                    self.send(peer, ack)
                if finals[0].code == 486:
                    return True, None
                if finals[0].code == 503 and overloaded < OVERLOAD_RETRIES:
                    overloaded += 1
                    self.overload_waits += 1
                    attempt -= 1
                    time.sleep(OVERLOAD_PAUSE)
                    continue
                return False, "the probe got %d, not the gateway's 486" % finals[0].code
            sys.stderr.write("probe over %s after %s: no answer (attempt %d)\n" % (transport, self.current, attempt))
        return False, "no answer to the probe INVITE within %.1f s, twice" % self.probe_timeout

    # -- one case --------------------------------------------------------------------

    def run_case(self, case, transport):
        self.current = case.name
        peer = self.open_peer(transport, self.case_source)
        lhost, lport = peer.sock.getsockname()
        data = fill(case.data, transport, lhost, lport, self.uniq())
        try:
            # a stream the switch closed early (past max_message_size) is
            # judged by what it answered before closing
            self.send(peer, data)
        except OSError:
            self.close_peer(peer)
            return None  # a datagram too large for UDP: not sendable
        ok, why = self.probe(transport)
        if not ok:
            self.close_peer(peer)
            return {"probe_failed": why}

        def has_final():
            return bool(peer.finals()) or peer.closed

        def took_call():
            return any(m.code in (100, 486) for m in peer.msgs)

        self.pump(lambda: False, 0)  # what is already there (the probe's wait read most of it)
        if took_call() and not peer.finals():
            self.pump(has_final, self.answer_timeout)
        if peer.stream and not peer.closed and not peer.finals():
            # whatever the switch answered to what it read is written before it
            # reads our FIN; it then closes its side
            try:
                peer.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.pump(lambda: peer.closed, self.answer_timeout)
            if not peer.closed:
                self.close_peer(peer)
                return {"hang": "the connection stayed open %.1f s after our FIN" % self.answer_timeout,
                        "msgs": peer.msgs}
        for f in peer.finals():
            if f.code >= 300 and f.cseq_method() == b"INVITE":
                ack = build_ack(f, b"sip:1000@127.0.0.1")
                if ack:
                    self.send(peer, ack)
        self.close_peer(peer)
        return {"msgs": peer.msgs}

    def close(self):
        for p in (self.probe_udp, self.probe_tcp, self.gateway):
            if p is not None:
                self.close_peer(p)


def outcome_of(msgs):
    """(label, codes) of what the switch sent back for one case."""
    codes_seen = [m.code for m in msgs if m.is_response and m.code is not None]
    finals = [c for c in codes_seen if c >= 200]
    if 100 in codes_seen or 486 in finals:
        return "call", codes_seen
    if any(200 <= c < 300 for c in finals):
        return "ok", codes_seen
    if finals:
        return "reject", codes_seen
    return "drop", codes_seen


def judge(case, transport, label, codes_seen):
    """None when allowed, else why not."""
    finals = [c for c in codes_seen if c >= 200]
    if 500 in finals:
        return "answered 500 (an internal error)"
    if case.method == b"INVITE" and any(200 <= c < 300 for c in finals):
        return "a 2xx to an INVITE that is malformed"
    allow = case.allowed(transport)
    if label in allow:
        return None
    if label == "reject" and finals and str(finals[-1]) in allow:
        return None
    if label == "ok" and finals and str(finals[-1]) in allow:
        return None
    return "got %s %s, allowed %s" % (label, codes_seen or "", allow_text(allow))


def cmd_run(args):
    cases = generate(args.seed)
    if args.only:
        rx = re.compile(args.only)
        cases = [c for c in cases if rx.search(c.name)]
    driver = Driver(args)
    results = []
    failures = []
    started = time.monotonic()
    stop = None
    for transport in args.transport.split(","):
        ok, why = driver.probe(transport)
        if not ok:
            stop = "the switch does not answer the first %s probe: %s" % (transport, why)
            break
        for case in cases:
            if transport not in case.transports:
                continue
            n_problems = len(driver.forward_problems)
            for _ in range(OVERLOAD_RETRIES + 1):
                r = driver.run_case(case, transport)
                if r is None or "msgs" not in r or 503 not in [m.code for m in r["msgs"]]:
                    break
                driver.overload_waits += 1
                time.sleep(OVERLOAD_PAUSE)
            if r is None:
                continue
            if "probe_failed" in r:
                stop = "the switch stopped answering after %s over %s: %s" % (case.name, transport,
                                                                              r["probe_failed"])
                break
            label, codes_seen = outcome_of(r["msgs"])
            verdict = judge(case, transport, label, codes_seen)
            if "hang" in r:
                verdict = r["hang"]
            if len(driver.forward_problems) > n_problems:
                verdict = "forwarded a malformed INVITE: " + "; ".join(driver.forward_problems[-1][1])
            status = "pass"
            if verdict is not None:
                status = "FAIL"
                failures.append("%s over %s: %s" % (case.name, transport, verdict))
            results.append({"transport": transport, "case": case.name, "category": case.category,
                            "allow": allow_text(case.allowed(transport)), "outcome": label,
                            "codes": codes_seen, "status": status, "verdict": verdict or ""})
        if stop:
            break
    elapsed = time.monotonic() - started
    driver.close()
    write_report(args, results, failures, stop, elapsed, driver.forwarded, driver.overload_waits)
    if stop:
        print("STOP: " + stop)
        return 2
    return 1 if failures else 0


def write_report(args, results, failures, stop, elapsed, forwarded, overload_waits):
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            f.write("transport\tcase\tallowed\toutcome\tcodes\tstatus\tverdict\n")
            for r in results:
                f.write("%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (r["transport"], r["case"], r["allow"], r["outcome"],
                                                          ",".join(map(str, r["codes"])), r["status"], r["verdict"]))
    summary = {}
    for r in results:
        s = summary.setdefault((r["category"], r["transport"]),
                               {"cases": 0, "400": 0, "other": {}, "drop": 0, "call": 0, "tolerated": 0, "ok": 0,
                                "fail": 0})
        s["cases"] += 1
        finals = [c for c in r["codes"] if c >= 200]
        if r["outcome"] == "reject":
            if finals[-1] == 400:
                s["400"] += 1
            else:
                s["other"][finals[-1]] = s["other"].get(finals[-1], 0) + 1
        elif r["outcome"] in ("call", "ok") and r["allow"] == "lenient":
            s["tolerated"] += 1
        else:
            s[r["outcome"]] += 1
        if r["status"] == "FAIL":
            s["fail"] += 1
    row = "%-14s %-3s %5s %5s %-30s %5s %6s %6s %4s %4s"
    lines = [row % ("category", "tp", "cases", "400", "other rejects (code:count)", "drop", "valid", "tolerd",
                    "2xx", "FAIL")]
    keys = ("cases", "400", "drop", "call", "tolerated", "ok", "fail")
    tot = dict.fromkeys(keys + ("other",), 0)
    for (cat, tp), s in sorted(summary.items(), key=lambda kv: (kv[0][1] != "udp", kv[0][0])):
        other = " ".join("%d:%d" % kv for kv in sorted(s["other"].items())) or "-"
        lines.append(row % ((cat, tp, s["cases"], s["400"], other) + tuple(s[k] for k in keys[2:])))
        for k in keys:
            tot[k] += s[k]
        tot["other"] += sum(s["other"].values())
    lines.append(row % (("total", "", tot["cases"], tot["400"], tot["other"]) + tuple(tot[k] for k in keys[2:])))
    lines.append("valid: accepted (became a call) and well formed; tolerd: accepted though the grammar "
                 "refuses it, in a part the switch does not route on (LENIENT cases)")
    lines.append("%d INVITEs forwarded to the gateway, %.1f s, %d overload 503s waited out" %
                 (forwarded, elapsed, overload_waits))
    text = "\n".join(lines) + "\n"
    for f in failures[:200]:
        text += "FAIL " + f + "\n"
    if stop:
        text += "STOP " + stop + "\n"
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            f.write(text)
        with open(args.summary + ".json", "w", encoding="utf-8") as f:
            json.dump({"elapsed": elapsed, "forwarded": forwarded, "overload_waits": overload_waits, "totals": tot,
                       "by_category": {"%s/%s" % k: v for k, v in summary.items()}}, f, default=str)
    sys.stdout.write(text)


# ---- the other commands ----------------------------------------------------------------


def filled_for_file(case):
    return fill(case.data, "udp", "127.0.0.2", 5062, b"1")


def cmd_list(args):
    cases = generate(args.seed)
    for c in cases:
        print("%s\t%s\t%s\t%d\t%s" % (c.name, allow_text(c.allow), allow_text(c.allow_tcp), len(c.data), c.why))
    sys.stderr.write("%d cases\n" % len(cases))
    return 0


def cmd_show(args):
    for c in generate(args.seed):
        if c.name == args.name:
            sys.stdout.buffer.write(filled_for_file(c))
            return 0
    sys.stderr.write("no case named %s\n" % args.name)
    return 1


def cmd_dump(args):
    os.makedirs(args.dir, exist_ok=True)
    for c in generate(args.seed):
        with open(os.path.join(args.dir, c.name.replace("/", "--") + ".sip"), "wb") as f:
            f.write(filled_for_file(c))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=3261)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    p = sub.add_parser("show")
    p.add_argument("name")
    p = sub.add_parser("dump")
    p.add_argument("dir")
    p = sub.add_parser("run")
    p.add_argument("--switch", required=True, help="HOST:PORT of the switch (UDP and TCP)")
    p.add_argument("--gateway-port", type=int, required=True, help="UDP port on 127.0.0.1 the cfg's gateway uses")
    p.add_argument("--case-source", default="127.0.0.2")
    p.add_argument("--probe-source", default="127.0.0.1")
    p.add_argument("--transport", default="udp,tcp")
    p.add_argument("--only", help="regex: only the cases whose name matches")
    p.add_argument("--probe-timeout", type=float, default=2.0)
    p.add_argument("--answer-timeout", type=float, default=2.0)
    p.add_argument("--results", help="write one TSV line per case here")
    p.add_argument("--summary", help="write the per-category summary here (and .json)")
    args = ap.parse_args()
    return {"list": cmd_list, "show": cmd_show, "dump": cmd_dump, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
