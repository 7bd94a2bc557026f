#!/usr/bin/env bash
# sipswitch --check, --dump-params and --version: the shipped cfg is valid,
# and every class of cfg error is reported as file:line: reason with exit 1.
. "$(dirname "$0")/lib.sh"

# check_bad NAME EXPECTED_REGEX: --check on $WORK/NAME.cfg must exit 1 and print the regex
check_bad() {
    local name=$1 want=$2 out rc
    out=$("$SW_BIN" --check -c "$WORK/$name.cfg" --module-path "$top_builddir/tests/abi" 2>&1); rc=$?
    if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qE "$want"; then
        pass "$name: exit 1 with '$want'"
    else
        fail "$name: exit $rc, wanted 1 and /$want/; got: $out"
    fi
}
bad_cfg() { local name=$1; shift; printf '%s\n' "$@" >"$WORK/$name.cfg"; }

out=$("$SW_BIN" --check -c "$top_srcdir/cfg/sipswitch.cfg" --module-path "$top_builddir/modules" 2>&1); rc=$?
check "shipped cfg/sipswitch.cfg passes --check ($out)" [ $rc -eq 0 ]

out=$("$SW_BIN" --check -c "$top_srcdir/cfg/examples/carrier.cfg" --module-path "$top_builddir/modules" 2>&1); rc=$?
check "cfg/examples/carrier.cfg passes --check ($out)" [ $rc -eq 0 ]

cp "$top_srcdir/scripts/route.lua" "$WORK/route.lua"
bad_cfg unknown_key "[core]" "script = route.lua" "listen = udp:127.0.0.1:5999" "colour = blue"
check_bad unknown_key "unknown_key.cfg:4: unknown key 'colour' in \[core\]"

bad_cfg bad_type "[core]" "script = route.lua" "max_message_size = lots"
check_bad bad_type "bad_type.cfg:3: max_message_size: expected an integer, got 'lots'"

bad_cfg out_of_range "[core]" "script = route.lua" "SS_QOS_SIGNAL = 300"
check_bad out_of_range "out_of_range.cfg:3: SS_QOS_SIGNAL: 300 is out of range \(0–255\)"

bad_cfg bad_duration "[core]" "script = route.lua" "SS_SIP_RESEND_INTERVAL = 0.5,1,two"
check_bad bad_duration "bad_duration.cfg:3: SS_SIP_RESEND_INTERVAL: expected a duration"

bad_cfg bad_enum "[core]" "script = route.lua" "log_level = loud"
check_bad bad_enum "bad_enum.cfg:3: log_level: expected one of error/warn/notice/info/debug, got 'loud'"

bad_cfg unknown_module "[core]" "script = route.lua" "" "load = nosuchmodule"
check_bad unknown_module "unknown_module.cfg:4: unknown module 'nosuchmodule'"

bad_cfg module_section_not_loaded "[core]" "script = route.lua" "[gw_switch]" "SS_SIP_TIMEOUT_INVITE = 10"
check_bad module_section_not_loaded "module_section_not_loaded.cfg:3: unknown section \[gw_switch\]"

bad_cfg dup_gateway "[core]" "script = route.lua" "[gateway carrierA]" "address = 192.0.2.1:5060" \
    "[gateway carrierA]" "address = 192.0.2.2:5060"
check_bad dup_gateway "dup_gateway.cfg:5: duplicate gateway 'carrierA' \(first defined at line 3\)"

bad_cfg gateway_missing_address "[core]" "script = route.lua" "[gateway carrierB]" "transport = udp"
check_bad gateway_missing_address "gateway_missing_address.cfg:3: \[gateway carrierB\] needs 'address'"

bad_cfg syntax "[core]" "script = route.lua" "this line has no equals sign"
check_bad syntax "syntax.cfg:3: expected 'key = value'"

bad_cfg dup_key "[core]" "script = route.lua" "log_level = info" "log_level = debug"
check_bad dup_key "dup_key.cfg:4: duplicate key 'log_level' \(first at line 3\)"

bad_cfg bad_listen "[core]" "script = route.lua" "listen = sctp:127.0.0.1:5060"
check_bad bad_listen "bad_listen.cfg:3: listen: 'sctp:127.0.0.1:5060': transport must be udp or tcp"

bad_cfg module_param_range "[core]" "script = route.lua" "load = probe_ok" "[probe_ok]" "SS_PROBE_VALUE = 1000"
check_bad module_param_range "module_param_range.cfg:5: SS_PROBE_VALUE: 1000 is out of range \(0–100\)"

# several errors: all reported, not just the first
bad_cfg many "[core]" "script = route.lua" "colour = blue" "log_level = loud" "[gateway g1]"
out=$("$SW_BIN" --check -c "$WORK/many.cfg" 2>&1)
check "every error is reported (3 here)" [ "$(printf '%s\n' "$out" | grep -c '^.*many.cfg:[0-9]*:')" -eq 3 ]

printf 'function on_invite(call)\n  return {\nend\n' >"$WORK/broken.lua"
bad_cfg bad_script "[core]" "script = broken.lua"
check_bad bad_script "broken.lua:3: .*expected"

bad_cfg bad_script_and_cfg "[core]" "script = broken.lua" "colour = blue"
out=$("$SW_BIN" --check -c "$WORK/bad_script_and_cfg.cfg" 2>&1)
check "cfg and script errors are both reported" \
    bash -c "grep -q 'bad_script_and_cfg.cfg:3: unknown key' <<<\"\$1\" && grep -q 'broken.lua:3:' <<<\"\$1\"" _ "$out"

printf 'error("refusing to load")\n' >"$WORK/throws.lua"
bad_cfg throwing_script "[core]" "script = throws.lua"
check_bad throwing_script "throws.lua:1: refusing to load"

bad_cfg missing_script "[core]" "script = nowhere.lua"
check_bad missing_script "nowhere.lua"

check_bad does_not_exist "does_not_exist.cfg: cannot open"

# a module-less valid cfg with a gateway and a mapping
bad_cfg good "[core]" "script = route.lua" "[gateway carrierA]" "address = 192.0.2.1:5060" "transport = tcp" \
    "[mapping pbx1]" "source = 198.51.100.0/24"
out=$("$SW_BIN" --check -c "$WORK/good.cfg" 2>&1); rc=$?
check "valid cfg with gateway and mapping passes ($out)" [ $rc -eq 0 ]

# --dump-params
out=$("$SW_BIN" --dump-params -c "$top_srcdir/cfg/sipswitch.cfg" 2>&1)
check "--dump-params lists SS_SIP_RESEND_INTERVAL" grep -q "SS_SIP_RESEND_INTERVAL" <<<"$out"
check "--dump-params lists SS_QOS_SIGNAL with its default" grep -qE "SS_QOS_SIGNAL +int +default=0xa0" <<<"$out"
out=$("$SW_BIN" --dump-params --format=md -c "$WORK/module_param_range.cfg" -M "$top_builddir/tests/abi" 2>/dev/null)
check "--dump-params --format=md has a table" grep -q '^| name | VOS3000 name | type | default' <<<"$out"
check "--dump-params includes loaded modules' parameters" grep -q '`SS_PROBE_VALUE`' <<<"$out"

out=$("$SW_BIN" --version)
check "--version names the module ABI" grep -qE '^sipswitch [0-9.]+ \(module ABI 1\.[0-9]+\)$' <<<"$out"
# configure links the daemon with mimalloc when it finds it: its malloc must be
# the one that serves the process (symbol interposition, link order), and a
# build without it says so rather than pretending
if grep -q '^#define HAVE_MIMALLOC 1' "$top_builddir/config.h"; then
    check "--version: malloc is mimalloc's ($out)" grep -qE '^allocator: mimalloc [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out"
else
    check "--version: malloc is glibc's, or ASan's in a sanitizer build ($out)" grep -qxE 'allocator: (glibc|asan)' <<<"$out"
fi
"$SW_BIN" --bogus >/dev/null 2>&1
check "an unknown option exits 2" [ $? -eq 2 ]

finish
