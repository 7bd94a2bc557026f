#!/usr/bin/env bash
# RFC 4475 torture messages, byte for byte, over UDP: each gets the answer
# ../shared/testdata/rfc4475/EXPECTED.md names ("none" = must be dropped;
# a|b = either is acceptable there), and the switch is still up and
# answering after all of them; then all of them again over TCP.
. "$(dirname "$0")/lib.sh"
DIR="${SW_TESTDATA:?}/rfc4475"
[ -f "$DIR/EXPECTED.md" ] || { fail "torture messages not found in $DIR"; finish; }
write_cfg "allow_unknown_sources = On"
start_switch || { fail "start"; finish; }

# file -> expected code(s); INVITEs that pass every check get 404 (no route yet),
# REGISTER 405 (no registrar loaded), OPTIONS 200 (the switch is the UAS);
# wsinv's folded To carries a tag, so 481 (no such dialog) is right too.
declare -A want=(
  [wsinv]="404|481" [intmeth]=501 [esc01]=404 [escnull]=405 [esc02]=501 [lwsdisp]=200
  [longreq]=404 [dblreq]=405 [semiuri]=200 [transports]=200 [mpart01]=405
  [unreason]=none [noreason]=none
  [badinv01]=400 [clerr]=400 [ncl]=400 [scalar02]=400 [scalarlg]=none [quotbal]=400
  [ltgtruri]=400 [lwsruri]=400 [lwsstart]="400|404" [trws]="400|200" [escruri]="400|404"
  [baddate]="400|404" [regbadct]="400|405" [badaspec]="400|200" [baddn]="400|200"
  [badvers]=505 [mismatch01]=400 [mismatch02]="501|400" [bigcode]=none
  [badbranch]="400|200"
  [insuf]="400|none" [unkscm]=416 [novelsc]=416 [unksm2]="405|400" [bext01]=420 [invut]=415
  [regaut01]=405 [multi01]=400 [mcl01]=400 [bcast]=none [zeromf]=200 [cparam01]=405
  [cparam02]=405 [regescrt]=405 [sdp01]="406|400"
  [inv2543]=404
)
count=0
for f in "$DIR"/*.sip; do
    name=$(basename "$f" .sip)
    exp=${want[$name]:-}
    if [ -z "$exp" ]; then fail "$name: no expectation in this test"; continue; fi
    count=$((count + 1))
    resp=$(sip_udp "$f" --timeout 1.0)
    # the answer is the final response (an INVITE that became a call got its 100 Trying first)
    got=$(grep -oE '^SIP/2.0 [2-6][0-9][0-9]' <<<"$resp" | tail -n1 | cut -c9-)
    [ -n "$got" ] || got=$(first_code <<<"$resp")
    [ -n "$got" ] || got=none
    if [[ "|$exp|" == *"|$got|"* ]]; then
        pass "$name: $got (expected $exp)"
    else
        fail "$name: got $got, expected $exp"
        printf '%s\n' "$resp" | head -n 5
    fi
    if [ "$got" != none ] && [ "$got" -ge 200 ] 2>/dev/null; then
        # a final response must be well formed: Via, From, To with tag, Call-ID, CSeq, Content-Length
        for h in Via From To Call-ID CSeq Content-Length; do
            grep -q "^$h: " <<<"$resp" || fail "$name: response lacks $h"
        done
        grep -qiE '^(To|t) *:.*;[ \t]*tag[ \t]*=' <<<"$resp" || fail "$name: To without a tag"
    fi
done
check "all 49 torture messages were sent ($count)" [ "$count" -eq 49 ]
check "switch still running after the UDP torture set" alive
resp=$(options_msg | sip_udp - --template)
check "still answering OPTIONS after the UDP torture set" [ "$(first_code <<<"$resp")" = 200 ]

# the same bytes over TCP: every message gets an answer or the connection closed, never a crash
for f in "$DIR"/*.sip "$DIR"/extra/test.sip; do
    sip_tcp "$f" --timeout 0.5 >/dev/null
done
check "switch still running after the TCP torture set" alive
resp=$(options_msg | sip_tcp - --template)
check "still answering OPTIONS over TCP after the torture set" [ "$(first_code <<<"$resp")" = 200 ]
resp=$(sip_udp "$DIR/extra/test.sip" --timeout 0.5)
check "extra/test.sip (invalid) gets 400 or nothing" [ "$(first_code <<<"$resp")" = 400 -o -z "$resp" ]
check "clean shutdown after the torture set" stop_switch
finish
