#!/usr/bin/env bash
# doc/cfg-reference.md is what --dump-params generates (run `make docs` after
# changing a parameter), and every core parameter is in doc/operations.md's or
# the reference's text.
. "$(dirname "$0")/lib.sh"
printf '[core]\n' >"$WORK/cfg-reference.cfg"
"$SW_BIN" --dump-params --format=md -c "$WORK/cfg-reference.cfg" >"$WORK/ref.md" 2>"$WORK/ref.err"
check "--dump-params --format=md runs" [ -s "$WORK/ref.md" ]
# module_dir's default depends on the configured prefix: not compared
filter() { grep -v '^| `module_dir`' "$1"; }
if diff -u <(filter "$top_srcdir/doc/cfg-reference.md") <(filter "$WORK/ref.md") >"$WORK/ref.diff"; then
    pass "doc/cfg-reference.md is up to date"
else
    fail "doc/cfg-reference.md is stale: run 'make docs'"; head -n 40 "$WORK/ref.diff"
fi
for p in SS_SIP_RESEND_INTERVAL SS_QOS_SIGNAL; do
    check "reference documents $p" grep -q "\`$p\`" "$WORK/ref.md"
done
for f in architecture.md module-abi.md operations.md lua-api.md; do
    check "doc/$f exists" [ -s "$top_srcdir/doc/$f" ]
done
finish
