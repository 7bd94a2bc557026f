#!/usr/bin/env bash
# Reload (SIGHUP and POST /api/v1/reload): a bad script or cfg is refused with
# file:line and the running one keeps serving; a good one is applied.
. "$(dirname "$0")/lib.sh"
write_cfg
cat >"$WORK/route.lua" <<'LUA'
sw.log("info", "script generation 1")
function on_invite(call) return {} end
LUA
start_switch || { fail "start"; finish; }
check "script generation 1 loaded" grep -q "script generation 1" "$WORK/sipswitch.log"

# 1. syntax error via SIGHUP
cp "$WORK/route.lua" "$WORK/route.good"
printf 'sw.log("info", "generation 2")\nfunction on_invite(call\n  return {}\nend\n' >"$WORK/route.lua"
kill -HUP "$SW_PID"
sleep 0.5
check "SIGHUP with a syntax error: refused with route.lua:line" grep -qE "route.lua:[0-9]+: .*" "$WORK/sipswitch.log"
check "SIGHUP with a syntax error: log says the running script is kept" grep -q "reload refused" "$WORK/sipswitch.log"
check "generation 2 never ran" bash -c "! grep -q 'generation 2' '$WORK/sipswitch.log'"
resp=$(options_msg | sip_udp - --template)
check "still answering after the refused reload" [ "$(first_code <<<"$resp")" = 200 ]

# 2. runtime error at top level via the API
printf 'local t = nil\nt.x = 1\n' >"$WORK/route.lua"
code=$(http_post /api/v1/reload)
check "API reload of a failing script answers 422" [ "$code" = 422 ]
check "API reload lists the error with route.lua:2" grep -q 'route.lua:2' "$WORK/http.body"

# 3. a runaway top level is stopped by the instruction budget
printf 'while true do end\n' >"$WORK/route.lua"
code=$(http_post /api/v1/reload)
check "runaway script is refused (422)" [ "$code" = 422 ]
check "runaway script: error names the budget" grep -qi 'budget' "$WORK/http.body"
resp=$(options_msg | sip_udp - --template)
check "still answering after the runaway script" [ "$(first_code <<<"$resp")" = 200 ]

# 4. a script that calls os.exit or io.popen cannot: they do not exist
printf 'os.exit(3)\n' >"$WORK/route.lua"
code=$(http_post /api/v1/reload)
check "os.exit is not available (422)" [ "$code" = 422 ]
check "the process did not exit" alive

# 5. a bad cfg is refused as a whole
cp "$WORK/route.good" "$WORK/route.lua"
sed -i 's/^log_level = debug/log_level = loud/' "$WORK/sipswitch.cfg"
code=$(http_post /api/v1/reload)
check "cfg with a bad value: reload refused (422)" [ "$code" = 422 ]
check "cfg error has file:line" grep -q 'sipswitch.cfg:5: log_level' "$WORK/http.body"

# 6. good cfg and script: applied
sed -i 's/^log_level = loud/log_level = info/' "$WORK/sipswitch.cfg"
printf 'sw.log("notice", "script generation 3")\nfunction on_invite(call) return {} end\n' >"$WORK/route.lua"
kill -HUP "$SW_PID"
sleep 0.5
check "good reload via SIGHUP: generation 3 running" grep -q "script generation 3" "$WORK/sipswitch.log"
check "good reload logged as done" grep -q "reload done" "$WORK/sipswitch.log"
code=$(http_post /api/v1/reload)
check "good reload via the API: 200" [ "$code" = 200 ]
check "API reload body says ok" grep -q '"ok":true' "$WORK/http.body"
http_get /metrics >/dev/null
check "metrics count refused reloads (5)" grep -qE '^sipswitch_reloads_failed_total 5$' "$WORK/http.body"
check "metrics count good reloads (2)" grep -qE '^sipswitch_reloads_total 2$' "$WORK/http.body"
check "metrics count refused script loads" grep -qE '^sipswitch_script_loads_refused_total [1-9]' "$WORK/http.body"
resp=$(options_msg | sip_udp - --template)
check "answering after all reloads" [ "$(first_code <<<"$resp")" = 200 ]
check "clean shutdown" stop_switch
finish
