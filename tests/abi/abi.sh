#!/usr/bin/env bash
# Module ABI rules: the probe modules (tests/abi/probe.c, built with shifted
# versions) are loaded or refused with a clear message.
. "$(dirname "$0")/../integration/lib.sh"
ABI_DIR="$top_builddir/tests/abi"
cp "$top_srcdir/scripts/route.lua" "$WORK/route.lua"

try_load() { # NAME: --check with load = NAME; prints the output, returns the status
    printf '[core]\nscript = route.lua\nload = %s\n' "$1" >"$WORK/$1.cfg"
    "$SW_BIN" --check -c "$WORK/$1.cfg" --module-path "$ABI_DIR" 2>&1
}

# the versions this build speaks (the probes are built one minor / one major ahead)
MAJOR=$(sed -n 's/^#define SW_ABI_MAJOR \([0-9]*\)$/\1/p' "$top_srcdir/include/sipswitch/module.h")
MINOR=$(sed -n 's/^#define SW_ABI_MINOR \([0-9]*\)$/\1/p' "$top_srcdir/include/sipswitch/module.h")
NEXT_MINOR=$((MINOR + 1))
NEXT_MAJOR=$((MAJOR + 1))

out=$(try_load probe_ok); rc=$?
check "a module built for this ABI loads ($out)" [ $rc -eq 0 ]

out=$(try_load probe_newer_minor); rc=$?
check "newer minor: refused (exit $rc)" [ $rc -eq 1 ]
check "newer minor: message names the versions and what to do" grep -qE \
    "probe_newer_minor.cfg:3: module 'probe_newer_minor': .*needs module ABI $MAJOR\.$NEXT_MINOR but this sipswitch provides only $MAJOR\.$MINOR .*upgrade sipswitch" <<<"$out"

out=$(try_load probe_other_major); rc=$?
check "other major: refused (exit $rc)" [ $rc -eq 1 ]
check "other major: message says to rebuild" grep -qE \
    "probe_other_major.cfg:3: module 'probe_other_major': .*built for module ABI $NEXT_MAJOR\.$MINOR but this sipswitch provides ABI $MAJOR\.$MINOR .*rebuild" <<<"$out"

out=$(try_load probe_no_entry); rc=$?
check "a shared object without the entry symbol: refused (exit $rc)" [ $rc -eq 1 ]
check "no entry: message says it is not a module" grep -q "not a sipswitch module (no sw_module_entry symbol)" <<<"$out"

# the refusal also stops the daemon itself, not only --check
printf '[core]\nscript = route.lua\nlisten = udp:127.0.0.1:%s\nhttp =\nload = probe_newer_minor\n' "$SIP_PORT" >"$WORK/run.cfg"
"$SW_BIN" -c "$WORK/run.cfg" --module-path "$ABI_DIR" >"$WORK/run.log" 2>&1; rc=$?
check "the daemon refuses to start with a too-new module (exit $rc)" [ $rc -eq 1 ]
check "and says which module and why" grep -q "needs module ABI $MAJOR.$NEXT_MINOR" "$WORK/run.log"

# SIPSWITCH_MODULE_PATH works like --module-path
printf '[core]\nscript = route.lua\nload = probe_ok\n' >"$WORK/env.cfg"
SIPSWITCH_MODULE_PATH="$ABI_DIR" "$SW_BIN" --check -c "$WORK/env.cfg" >/dev/null 2>&1
check "SIPSWITCH_MODULE_PATH is searched" [ $? -eq 0 ]
finish
