#!/usr/bin/env bash
# The ISV kit: `make install DESTDIR=...` installs module.h and sipswitch.pc;
# modules/skeleton builds out of tree with its own configure against it
# (pkg-config sipswitch), and the daemon loads it and runs its hook, its Lua
# function, its metric and its destroy.
. "$(dirname "$0")/../integration/lib.sh"
DEST="$WORK/root"
if ! make -C "$top_builddir" install DESTDIR="$DEST" >"$WORK/install.log" 2>&1; then
    fail "make install DESTDIR"; tail -n 30 "$WORK/install.log"; finish
fi
pc=$(find "$DEST" -name sipswitch.pc | head -n1)
check "sipswitch.pc installed" [ -n "$pc" ]
hdr=$(find "$DEST" -path '*/include/sipswitch/module.h' | head -n1)
check "module.h installed" [ -n "$hdr" ]
check "installed module.h is the source one" cmp -s "$hdr" "$top_srcdir/include/sipswitch/module.h"

cp -r "$top_srcdir/modules/skeleton" "$WORK/skeleton"
chmod -R u+w "$WORK/skeleton"
cd "$WORK/skeleton"
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$DEST"
check "pkg-config finds the installed kit" pkg-config --exists sipswitch
if ! { autoreconf -i && ./configure && make; } >"$WORK/skeleton-build.log" 2>&1; then
    fail "skeleton builds out of tree"; tail -n 40 "$WORK/skeleton-build.log"; finish
fi
pass "skeleton builds out of tree against the installed kit"
check "skeleton.so built" [ -f "$WORK/skeleton/.libs/skeleton.so" ]
check "skeleton exports only its entry symbol (and no core symbol is needed)" bash -c \
    "nm -D --defined-only '$WORK/skeleton/.libs/skeleton.so' | grep -w T | grep -v ' _' | awk '{print \$3}' | grep -vx sw_module_entry | grep -q . && exit 1 || exit 0"
cd "$WORK"

SW_MODULE_PATH="$WORK/skeleton/.libs"
cat >"$WORK/route.lua" <<'LUA'
sw.log("notice", "skeleton says: " .. sw.skeleton.greet("world", 2))
function on_invite(call) return {} end
LUA
write_cfg "load = skeleton" "[skeleton]" "greeting = ahoy" "SS_SKELETON_REPORT_INTERVAL = 30"
start_switch || { fail "daemon starts with the skeleton module"; finish; }
check "skeleton init ran" grep -q "\[skeleton\] initialised (greeting 'ahoy')" "$WORK/sipswitch.log"
check "the script called sw.skeleton.greet" grep -q "skeleton says: ahoy, world; ahoy, world" "$WORK/sipswitch.log"
resp=$(options_msg "X-Skeleton-Ping: 1" | sip_udp - --template)
check "the skeleton's on_request hook answered the ping" grep -q '^X-Skeleton-Pong: ahoy' <<<"$resp"
resp=$(options_msg | sip_udp - --template)
check "other requests still reach the core" [ "$(first_code <<<"$resp")" = 200 ] && ! grep -q Pong <<<"$resp"
http_get /metrics >/dev/null
check "the skeleton's metric is exported" grep -q '^sipswitch_skeleton_pings_answered_total 1$' "$WORK/http.body"
sed -i 's/^greeting = ahoy/greeting = hej/' "$WORK/sipswitch.cfg"
code=$(http_post /api/v1/reload)
resp=$(options_msg "X-Skeleton-Ping: 1" | sip_udp - --template)
check "reload reaches the module (greeting now hej)" grep -q '^X-Skeleton-Pong: hej' <<<"$resp"
check "clean shutdown" stop_switch
check "the skeleton's destroy ran" grep -q "\[skeleton\] stopped" "$WORK/sipswitch.log"
finish
