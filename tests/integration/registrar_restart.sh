#!/usr/bin/env bash
# Registrations survive a restart (DESIGN.md: "a restart keeps
# registrations"): the registrar keeps its bindings in an SQLite file,
# written behind the call path. After a clean stop and after kill -9 the
# bindings come back with what is left of their expiry, NAT address
# included; the ones that expired meanwhile, and those of accounts no
# longer in cfg, are dropped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/calls_lib.sh"
UA="${PYTHON3:-python3} $top_srcdir/tests/integration/registrar_ua.py --server 127.0.0.1:$SIP_PORT"

cfg() { # the accounts to define
    write_cfg "load = registrar"
    {
        printf '[registrar]\ndb = registrar.db\ndb_write_interval = 100ms\nmin_expires = 1\n'
        printf 'SS_ENDPOINT_EXPIRE = 600\nSS_ENDPOINT_NAT_EXPIRE = 120\n'
        for a in "$@"; do printf '[account %s]\npassword = pw%s\n' "$a" "$a"; done
        printf '[mapping lab]\nsource = 127.0.0.1\n'
    } >>"$WORK/sipswitch.cfg"
}
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call)
  local d = sw.registrar.lookup(call.callee) or {}
  return call:reject(480, tostring(d.uri) .. " " .. tostring(d.dest))
end
LUA
reg() { local n=$1; shift; $UA --password "pw$1" --user "$@" >"$WORK/$n.out" 2>&1; }
json() { ${PYTHON3:-python3} -c "import json,sys; d=json.load(open('$WORK/http.body')); print($1)"; }
rows() { ${PYTHON3:-python3} -c "import sqlite3; print(sqlite3.connect('$WORK/registrar.db').execute('select count(*) from bindings').fetchone()[0])"; }
binding() { # ACCOUNT FIELD: one field of the account's first binding, or "none"
    http_get "/api/v1/registrations?account=$1" >/dev/null
    json "d['registrations'][0]['$2'] if d['registrations'] else 'none'"
}
invite_to() { sip_udp - --template <<<"$(request_msg INVITE | sed "s/^INVITE sip:switch@/INVITE sip:$1@/")"; }

cfg 1001 1002 1003
start_switch || exit 1
reg nat 1001 --bind 127.0.0.1:0 --via-host 192.168.1.20 --via-port 5060 --expires 3600
reg plain 1002 --expires 3600
reg short 1003 --expires 2
check "three devices registered (NAT, plain, 2 s)" \
    all_of grep -q "^SIP/2.0 200" "$WORK/nat.out" :: grep -q "^SIP/2.0 200" "$WORK/plain.out" \
    :: grep -q "expires=2$" "$WORK/short.out"
nat_source=$(binding 1001 source)
sleep 0.5 # the writer commits every 100 ms
check "the bindings are on disk before the stop" [ "$(rows)" = 3 ]
check "clean stop" stop_switch
sleep 2 # 1003's 2 s run out while the switch is down
start_switch || exit 1
check "after the restart: the NAT device is back, with its source and what is left of 120 s" \
    all_of [ "$(binding 1001 behind_nat)" = True ] :: [ "$(binding 1001 source)" = "$nat_source" ] \
    :: [ "$(binding 1001 expires)" -le 118 ] :: [ "$(binding 1001 expires)" -gt 100 ]
check "... and the plain one (600 s cap)" \
    all_of [ "$(binding 1002 contact | grep -c '^sip:1002@127.0.0.1:')" = 1 ] :: [ "$(binding 1002 expires)" -gt 590 ]
check "... the one that expired meanwhile is gone, from the file too" all_of [ "$(binding 1003 id)" = none ] :: [ "$(rows)" = 2 ]
check "the route script still finds the NAT device at its NAT address" \
    grep -q "480 sip:1001@192.168.1.20:5060 udp:$nat_source" <<<"$(invite_to 1001)"

# kill -9: what was committed (every 100 ms) survives
reg moved 1002 --via-host 10.1.1.1 --via-port 5062 --expires 3600
sleep 0.5
kill -KILL "$SW_PID"; wait "$SW_PID" 2>/dev/null; SW_PID=
start_switch || exit 1
check "after kill -9 the latest registration is there (the device moved behind NAT)" \
    all_of [ "$(binding 1002 contact)" = "sip:1002@10.1.1.1:5062" ] :: [ "$(binding 1002 behind_nat)" = True ]

# an account taken out of cfg loses its bindings at start
stop_switch
cfg 1001
start_switch || exit 1
sleep 0.5
check "1002 is no longer in cfg: its binding is dropped, and deleted from the file" \
    all_of [ "$(binding 1002 id)" = none ] :: [ "$(binding 1001 behind_nat)" = True ] :: [ "$(rows)" = 1 ]
check "the switch is still running" alive
finish
