#!/usr/bin/env bash
# doc/cfg-reference.md is what --dump-params generates (run `make docs` after
# changing a parameter), and every core parameter is in doc/operations.md's or
# the reference's text.
. "$(dirname "$0")/lib.sh"
# the same cfg `make docs` uses: the core and the modules of DOC_MODULES
DOC_MODULES=$(sed -n 's/^DOC_MODULES = //p' "$top_srcdir/Makefile.am")
printf '[core]\nload = %s\n' "$(echo $DOC_MODULES | tr ' ' ',')" >"$WORK/cfg-reference.cfg"
"$SW_BIN" --dump-params --format=md -c "$WORK/cfg-reference.cfg" --module-path "$top_builddir/modules" \
    >"$WORK/ref.md" 2>"$WORK/ref.err"
check "--dump-params --format=md runs" [ -s "$WORK/ref.md" ]
# module_dir's default depends on the configured prefix: not compared
filter() { grep -v '^| `module_dir`' "$1"; }
if diff -u <(filter "$top_srcdir/doc/cfg-reference.md") <(filter "$WORK/ref.md") >"$WORK/ref.diff"; then
    pass "doc/cfg-reference.md is up to date"
else
    fail "doc/cfg-reference.md is stale: run 'make docs'"; head -n 40 "$WORK/ref.diff"
fi
# each module's page carries its table as generated
for m in $DOC_MODULES; do
    if ${PYTHON3:-python3} "$top_srcdir/tools/splice_params.py" "$m" "$WORK/ref.md" "$top_srcdir/doc/modules/$m.md" \
        "$WORK/$m.md" && diff -u "$top_srcdir/doc/modules/$m.md" "$WORK/$m.md" >"$WORK/$m.diff"; then
        pass "doc/modules/$m.md's parameter table is up to date"
    else
        fail "doc/modules/$m.md's parameter table is stale: run 'make docs'"; head -n 20 "$WORK/$m.diff"
    fi
done
for p in SS_SIP_RESEND_INTERVAL SS_QOS_SIGNAL SS_SIP_TIMEOUT_INVITE SS_GATEWAY_SWITCH_LIMIT; do
    check "reference documents $p" grep -q "\`$p\`" "$WORK/ref.md"
done
for f in architecture.md module-abi.md operations.md lua-api.md; do
    check "doc/$f exists" [ -s "$top_srcdir/doc/$f" ]
done
finish
