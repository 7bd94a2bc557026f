#!/usr/bin/env bash
# The privacy module on real calls (PARAMETERS.md section 3,
# doc/modules/privacy.md): a sipp customer calls through the switch to a
# sipp gateway, and each case asserts the identity the gateway actually
# received: Privacy, From (anonymous or not, its display name), P-Asserted-
# Identity and P-Preferred-Identity. The caller's source picks the trust:
# 127.0.0.1 is [mapping trusted] (support_privacy On), 127.0.0.2 [mapping
# untrusted] (Off), 127.0.0.3 no mapping (a user: SS_SIP_USER_AGENT_PRIVACY).
# The number called picks the gateway, each with its own settings; all share
# sipp's port. [core] passthrough_headers lists the identity headers, so
# every "absent" below proves the module removed what the core copied.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
GW_A=$(free_port)

cat >"$WORK/route.lua" <<'LUA'
local by_number = { ["1"] = "none", ["2"] = "pass", ["3"] = "asserted", ["4"] = "built", ["5"] = "answered" }
function on_invite(call)
  if call.callee == "9" then  -- the caller number through a dial plan, then to "none"
    call:set_caller(sw.dialplan.apply("e164", call.caller))
    return { "none" }
  end
  local gw = by_number[call.callee]
  if not gw then return {} end
  local privacy, pai, ppi, plan = sw.privacy.gateway(gw)
  sw.log("info", string.format("gateway %s: privacy %s, pai %s, ppi %s, caller_dial_plan '%s'", gw, privacy, pai,
                               ppi, plan))
  return { gw }
end
LUA

# privacy_cfg [LINE]...: the cfg, each LINE in [privacy]
privacy_cfg() {
    local gw="address = 127.0.0.1:$GW_A"
    write_cfg "passthrough_headers = Privacy, P-Asserted-Identity, P-Preferred-Identity, X-*" \
        "allow_unknown_sources = On" "load = privacy" \
        "[privacy]" "$@" \
        "[dialplan e164]" "rule = if prefix 00 strip 2 stop" "rule = replace ^0 44" "rule = add +" \
        "[mapping trusted]" "source = 127.0.0.1" "support_privacy = On" \
        "[mapping untrusted]" "source = 127.0.0.2" \
        "[gateway none]" "$gw" \
        "[gateway pass]" "$gw" "privacy = Passthrough" "pai = Passthrough" "ppi = Passthrough" \
        "[gateway asserted]" "$gw" "privacy = Id" "pai = Caller" "caller_dial_plan = e164" \
        "[gateway built]" "$gw" "pai = Caller" "ppi = Caller" "caller_dial_plan = e164" \
        "[gateway answered]" "$gw" "privacy = Id"
}
# setup [LINE]...: privacy_cfg, then a reload
setup() {
    privacy_cfg "$@"
    if alive; then
        local code; code=$(http_post /api/v1/reload)
        [ "$code" = 200 ] || { fail "reload with $* answered $code: $(cat "$WORK/http.body")"; return 1; }
    fi
}

# call IP NUMBER DISPLAY [HEADER]...: from IP, a call to NUMBER whose From
# has the display name DISPLAY ("" for none) and whose INVITE carries these
# header lines; the gateway refuses it with 486. The INVITE the gateway got
# is left in $WORK/inv.txt. Fails when the caller did not get the 486.
call() {
    local ip=$1 number=$2 display=$3; shift 3
    ${PYTHON3:-python3} - "$SC/privacy_uac.xml" "$WORK/privacy_uac.xml" "$display" "$@" <<'PY'
import sys
src, dst, display = sys.argv[1:4]
text = open(src, encoding="latin-1").read()
text = text.replace("[from_display]", '"%s" ' % display if display else "")
text = text.replace("[identity_headers]\n", "".join(h + "\n" for h in sys.argv[4:]))
open(dst, "w", encoding="latin-1").write(text.replace("[code]", "486"))
PY
    gateway A "$REJECT"
    sleep 0.3
    (cd "$WORK" && timeout 30 "$SIPP" -sf "$WORK/privacy_uac.xml" -i "$ip" -p "$(free_port)" -m 1 -nostdin \
        -s "$number" -trace_msg -message_file caller.msg -trace_err -error_file caller.err \
        "127.0.0.1:$SIP_PORT" >"$WORK/caller.out" 2>&1) </dev/null
    local rc=$?
    wait_gw A
    trace_first "$WORK/gw_A.msg" received '^INVITE ' >"$WORK/inv.txt"
    [ $rc -eq 0 ] || { echo "  the caller did not get 486 (sipp $rc): $(tail -n 3 "$WORK/caller.out")"; return 1; }
}
# hdr NAME: the values of header NAME in $WORK/inv.txt (or in $2), one a line
hdr() {
    awk -v n="$1" 'NF == 0 { exit }
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == tolower(n)) {
            v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }' "${2:-$WORK/inv.txt}"
}
# has NAME WANT: the header's values, joined by " | ", are WANT ("" = absent)
has() {
    local got; got=$(hdr "$1" | awk 'NR > 1 { printf " | " } { printf "%s", $0 }')
    [ "$got" = "$2" ] || { echo "  $1: got '$got', want '$2'"; return 1; }
}
# from_is WANT [FILE]: the From header without its tag
from_is() {
    local got; got=$(hdr From "${2:-}" | sed 's/;tag=.*//')
    [ "$got" = "$1" ] || { echo "  From: got '$got', want '$1'"; return 1; }
}
metric() {
    http_get /metrics >/dev/null
    awk -v k="sipswitch_privacy_$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$WORK/http.body"
}

ALICE='"Alice" <sip:02079460000@127.0.0.1>'
ANON='"Anonymous" <sip:anonymous@anonymous.invalid>'
CALLER_PAI='<sip:02079460000@customer.example>'
CALLER_PPI='<sip:alice@customer.example>'
BUILT='<sip:+442079460000@127.0.0.1>'
ALL=("Privacy: id" "P-Asserted-Identity: $CALLER_PAI" "P-Preferred-Identity: $CALLER_PPI")

setup
REJECT=$(rejecting 486)
start_switch || { fail "start"; finish; }

# 1. A gateway with the defaults (privacy, pai, ppi None) gets no identity
# header, though the caller sent all three and passthrough_headers lists
# them; the From is the caller's, not anonymous (nothing says id to it).
s0=$(metric 'identity_headers_stripped_total{header="P-Asserted-Identity"}')
call 127.0.0.1 1 Alice "${ALL[@]}"; rc=$?
check "None: the call reached the gateway and failed with its 486" [ $rc -eq 0 ]
check "None: no Privacy, no PAI, no PPI; From \"Alice\" <sip:02079460000@...>" all_of \
    has Privacy "" :: has P-Asserted-Identity "" :: has P-Preferred-Identity "" :: from_is "$ALICE"
s1=$(metric 'identity_headers_stripped_total{header="P-Asserted-Identity"}')
check "None: the stripped PAI is counted ($s0 -> $s1)" [ "$s1" -eq $((s0 + 1)) ]

# 2. Passthrough everything from a trusted mapping: the caller's Privacy,
# PAI (both values) and PPI unchanged; Privacy: id makes the From anonymous
a0=$(metric anonymised_total)
call 127.0.0.1 2 Alice "${ALL[@]}" "P-Asserted-Identity: <tel:+442079460000>"
check "Passthrough, support_privacy On: Privacy id, the caller's PAI (2 values) and PPI, anonymous From" all_of \
    has Privacy "id" :: has P-Asserted-Identity "$CALLER_PAI | <tel:+442079460000>" :: \
    has P-Preferred-Identity "$CALLER_PPI" :: from_is "$ANON"
a1=$(metric anonymised_total)
check "Passthrough: the anonymous From is counted ($a0 -> $a1)" [ "$a1" -eq $((a0 + 1)) ]

# 3. The same from the untrusted mapping: its Privacy is stripped (so the From
# stays the caller's); PAI and PPI still pass (they are the gateway's choice)
call 127.0.0.2 2 Alice "${ALL[@]}"
check "Passthrough, support_privacy Off: no Privacy, From not anonymous, PAI and PPI passed" all_of \
    has Privacy "" :: from_is "$ALICE" :: has P-Asserted-Identity "$CALLER_PAI" :: \
    has P-Preferred-Identity "$CALLER_PPI"

# 4. Privacy: none passes as it is and hides nothing; no PAI/PPI to pass
call 127.0.0.1 2 "" "Privacy: none"
check "Passthrough of Privacy: none: Privacy none, From without display, no PAI/PPI" all_of \
    has Privacy "none" :: from_is "<sip:02079460000@127.0.0.1>" :: has P-Asserted-Identity "" :: \
    has P-Preferred-Identity ""

# 5. privacy = Id, pai = Caller (through dial plan e164), ppi None, from the
# untrusted mapping that asked for nothing: Privacy: id added, the From
# anonymous, the real identity only in the built PAI; the caller's PPI gone
p0=$(metric 'identity_headers_added_total{header="Privacy"}')
i0=$(metric 'identity_headers_added_total{header="P-Asserted-Identity"}')
call 127.0.0.2 3 Alice "P-Asserted-Identity: $CALLER_PAI" "P-Preferred-Identity: $CALLER_PPI"
check "Id + pai Caller: Privacy id, anonymous From, PAI <sip:+442079460000@127.0.0.1> (caller_dial_plan), no PPI" \
    all_of has Privacy "id" :: from_is "$ANON" :: has P-Asserted-Identity "$BUILT" :: has P-Preferred-Identity ""
p1=$(metric 'identity_headers_added_total{header="Privacy"}')
i1=$(metric 'identity_headers_added_total{header="P-Asserted-Identity"}')
check "Id + pai Caller: the added Privacy and PAI are counted ($p0 -> $p1, $i0 -> $i1)" all_of \
    [ "$p1" -eq $((p0 + 1)) ] :: [ "$i1" -eq $((i0 + 1)) ]
check "the script saw the gateway's settings through sw.privacy.gateway" \
    grep -q "gateway asserted: privacy Id, pai Caller, ppi None, caller_dial_plan 'e164'" "$WORK/sipswitch.log"

# 6. pai and ppi Caller without privacy: both built from the caller number,
# the caller's own replaced, no Privacy, From unchanged
call 127.0.0.1 4 Alice "${ALL[@]}"
check "pai, ppi Caller: PAI and PPI built (not the caller's), no Privacy, From \"Alice\"" all_of \
    has P-Asserted-Identity "$BUILT" :: has P-Preferred-Identity "$BUILT" :: has Privacy "" :: from_is "$ALICE"

# 7. A user (no mapping) without a Privacy header: SS_SIP_USER_AGENT_PRIVACY
# is its default through a Passthrough gateway (Id, then None); its own
# header wins over it
setup "SS_SIP_USER_AGENT_PRIVACY = Id"
call 127.0.0.3 2 Alice
check "user, user_agent_privacy Id: Privacy id, anonymous From" all_of has Privacy "id" :: from_is "$ANON"
call 127.0.0.3 2 Alice "Privacy: none"
check "user, user_agent_privacy Id, the user's Privacy: none: none wins, From not anonymous" all_of \
    has Privacy "none" :: from_is "$ALICE"
call 127.0.0.1 2 Alice
check "mapping, user_agent_privacy Id: not applied to mappings (no Privacy)" all_of \
    has Privacy "" :: from_is "$ALICE"
setup "user_agent_privacy = None"
call 127.0.0.3 2 Alice
check "user, user_agent_privacy None: Privacy none, From not anonymous" all_of \
    has Privacy "none" :: from_is "$ALICE"

# 8. SS_SIP_E164_DISPLAY_FROM: E164 shows the number after caller_dial_plan
# (an anonymous From stays "Anonymous"); Caller the number as sent. And
# identity_domain names the host of built identities.
setup "SS_SIP_E164_DISPLAY_FROM = E164"
call 127.0.0.1 4 Alice
check "e164_display_from E164: From \"+442079460000\" <sip:02079460000@...>" \
    from_is '"+442079460000" <sip:02079460000@127.0.0.1>'
call 127.0.0.1 3 Alice
check "e164_display_from E164 on an anonymous From: still \"Anonymous\"" from_is "$ANON"
setup "e164_display_from = Caller" "identity_domain = sw.example"
call 127.0.0.1 4 Alice
check "e164_display_from Caller: From \"02079460000\"; identity_domain: PAI <sip:+442079460000@sw.example>" all_of \
    from_is '"02079460000" <sip:02079460000@127.0.0.1>' :: has P-Asserted-Identity '<sip:+442079460000@sw.example>'

# 9. sw.dialplan.apply in the script: the caller number sent is rewritten
setup
call 127.0.0.1 9 Alice
check "sw.dialplan.apply('e164', caller) in the script: From <sip:+442079460000@...>" \
    from_is '"Alice" <sip:+442079460000@127.0.0.1>'

# 10. An answered call through privacy = Id: the anonymous From is that of
# the whole dialog, the BYE the switch sends the gateway included; the
# caller's PAI (call_uac.xml sends one) is not passed (pai None)
gateway A gw_answer.xml
sleep 0.3
caller call_uac.xml -s 5; rc=$?
check "answered through privacy Id: the call completed ($rc)" [ $rc -eq 0 ]
wait_gw A
trace_first "$WORK/gw_A.msg" received '^INVITE ' >"$WORK/inv.txt"
trace_first "$WORK/gw_A.msg" received '^BYE ' >"$WORK/bye.txt"
check "answered: the INVITE had Privacy id, the anonymous From and no PAI" all_of \
    has Privacy "id" :: from_is "$ANON" :: has P-Asserted-Identity ""
check "answered: the BYE to the gateway has the anonymous From too" from_is "$ANON" "$WORK/bye.txt"

# 10b. A reload naming an unknown caller_dial_plan: the module refuses it and
# keeps its settings (built's PAI still goes through e164)
privacy_cfg
sed -i 's/^caller_dial_plan = e164$/caller_dial_plan = e165/' "$WORK/sipswitch.cfg"
http_post /api/v1/reload >/dev/null
check "reload with caller_dial_plan = e165: privacy refused it, naming it" \
    grep -q "caller_dial_plan = e165: no \[dialplan e165\] in cfg: old settings kept" "$WORK/sipswitch.log"
call 127.0.0.1 4 Alice
check "after the refused reload: PAI still built through e164" has P-Asserted-Identity "$BUILT"

# 11. The example script scripts/examples/dialplan.lua with the dial plans
# of cfg/examples/carrier.cfg, as shipped: caller and callee in E.164
cp "$top_srcdir/scripts/examples/dialplan.lua" "$WORK/route.lua"
privacy_cfg
awk '/^\[/ { p = /^\[dialplan / } p' "$top_srcdir/cfg/examples/carrier.cfg" >>"$WORK/sipswitch.cfg"
printf '[gateway carrierA]\naddress = 127.0.0.1:%s\n[gateway carrierB]\naddress = 127.0.0.1:%s\n' "$GW_A" \
    "$(free_port)" >>"$WORK/sipswitch.cfg"
code=$(http_post /api/v1/reload)
check "the example script and carrier.cfg's dial plans load ($code)" [ "$code" = 200 ]
call 127.0.0.1 02071234567 ""
check "scripts/examples/dialplan.lua: carrierA got INVITE sip:+442071234567@..., From <sip:+442079460000@...>" \
    all_of grep -q "^INVITE sip:+442071234567@" "$WORK/inv.txt" :: from_is '<sip:+442079460000@127.0.0.1>'

# 12. An unknown caller_dial_plan or a bad rule: --check names it; the daemon
# refuses to start
cat >"$WORK/bad.cfg" <<EOF
[core]
listen = udp:127.0.0.1:$(free_port)
script = $WORK/route.lua
load = privacy
[dialplan e164]
rule = replace ^0( 44
[gateway g]
address = 127.0.0.1:$GW_A
caller_dial_plan = e165
EOF
"$SW_BIN" --check -c "$WORK/bad.cfg" --module-path "$top_builddir/modules" >"$WORK/check.out" 2>&1; rc=$?
check "--check: a bad rule is reported with file:line" grep -qF "$WORK/bad.cfg:6: [dialplan e164] rule: bad regex" \
    "$WORK/check.out"
check "--check exits non-zero ($rc)" [ $rc -ne 0 ]
sed -i 's/^rule = .*/rule = add +/' "$WORK/bad.cfg"
"$SW_BIN" --check -c "$WORK/bad.cfg" --module-path "$top_builddir/modules" >"$WORK/check.out" 2>&1; rc=$?
check "--check: an unknown caller_dial_plan is an error ($rc)" all_of [ $rc -ne 0 ] :: \
    grep -qF "[gateway g] caller_dial_plan = e165: no [dialplan e165] in cfg" "$WORK/check.out"

check "clean shutdown" stop_switch
finish
