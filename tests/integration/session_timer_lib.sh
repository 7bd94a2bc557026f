# Helpers shared by the session_timer tests (sourced after lib.sh and
# calls_lib.sh): the cfg of a case with short intervals, the module's
# metrics, message times and headers from sipp traces, CDR records.
GW_A=$(free_port); GW_B=$(free_port); GW_C=$(free_port)
CDR="$WORK/cdr"

# setup [SECTION:LINE]...: the cfg for one case (gateways A, B, C; the
# opt-in, session_ttl 4 s, min_se 2 s), LINE in [session_timer] (SECTION
# st) or in [gateway SECTION]; reloaded when the switch runs
setup() {
    local st=() a=() b=() c=() l
    for l in "$@"; do
        case ${l%%:*} in
            st) st+=("${l#*:}") ;;
            A) a+=("${l#*:}") ;;
            B) b+=("${l#*:}") ;;
            C) c+=("${l#*:}") ;;
        esac
    done
    write_cfg "load = gw_switch, session_timer, cdr" "[mapping customer]" "source = 127.0.0.1" \
        "[gateway A]" "address = 127.0.0.1:$GW_A" "${a[@]}" "[gateway B]" "address = 127.0.0.1:$GW_B" "${b[@]}" \
        "[gateway C]" "address = 127.0.0.1:$GW_C" "${c[@]}" \
        "[cdr]" "dir = $CDR" "write_interval = 1" \
        "[session_timer]" "allow_short_intervals = On" "session_ttl = 4" "min_se = 2" "${st[@]}"
    if alive; then
        local code; code=$(http_post /api/v1/reload)
        [ "$code" = 200 ] || { fail "reload with $* answered $code: $(cat "$WORK/http.body")"; return 1; }
    fi
}
# metric NAME{LABELS}: its value on /metrics now (0 when absent)
metric() {
    http_get /metrics >/dev/null
    awk -v k="sipswitch_session_timer_$1" '$1 == k { v = $2 } END { print v == "" ? 0 : v }' "$WORK/http.body"
}
# times TRACE sent|received REGEX: the time (s, from the trace's clock) of
# every message of a sipp trace whose first line matches REGEX, one a line
times() {
    ${PYTHON3:-python3} - "$WORK/$1" "$2" "$3" <<'PY'
import datetime, re, sys
path, direction, regex = sys.argv[1:4]
try:
    text = open(path, encoding="latin-1").read()
except OSError:
    text = ""
for stamp, d, msg in re.findall(
        r"^-{20,} (\S+ \S+)\n\S+ message (sent|received)[^\n]*\n\n(.*?)(?=^-{20,} |\Z)", text, flags=re.M | re.S):
    if d == direction and re.match(regex, msg):
        print("%.3f" % datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp())
PY
}
# first_time TRACE sent|received REGEX / nth_time N ...: one of those times
first_time() { times "$@" | sed -n 1p; }
nth_time() { local n=$1; shift; times "$@" | sed -n "${n}p"; }
# between LOW HIGH VALUE: LOW <= VALUE <= HIGH (an empty VALUE never is)
between() { awk -v lo="$1" -v hi="$2" -v v="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo && v + 0 <= hi) }'; }
# delta T1 T2: T2 - T1 in seconds (empty when either is missing)
delta() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# message TRACE sent|received REGEX: the first such message, headers and body
message() { trace_first "$WORK/$1" "$2" "$3"; }
# has TEXT REGEX / lacks TEXT REGEX: the text has a line matching REGEX, or none
has() { grep -qE "$2" <<<"$1"; }
lacks() { ! grep -qiE "$2" <<<"$1"; }
# cdr_of CALLER_TRACE: the CDR record (JSON) of that sipp caller's call,
# found by its Call-ID in the CSV files (waits up to 3 s for the writer)
cdr_of() {
    local id i
    id=$(sed -n 's/^Call-ID: *\([^[:space:]]*\).*/\1/p' "$WORK/$1" | head -n1)
    for i in $(seq 1 30); do
        ${PYTHON3:-python3} - "$CDR" "$id" <<'PY' && return 0
import csv, glob, json, sys
for path in sorted(glob.glob(sys.argv[1] + "/cdr-*.csv")):
    with open(path, newline="") as f:
        hits = [r for r in csv.DictReader(f) if sys.argv[2] in r.values()]
    if hits:
        print(json.dumps(hits[0]))
        sys.exit(0)
sys.exit(1)
PY
        sleep 0.1
    done
    return 1
}
# cdr_field JSON NAME
cdr_field() { ${PYTHON3:-python3} -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

# the chain by the number called: 4422 tries A then B, 4433 goes to C
cat >"$WORK/route.lua" <<'LUA'
function on_invite(call)
  if call.callee == "4422" then return { "A", "B" } end
  if call.callee == "4433" then return { "C" } end
  return { "A" }
end
LUA

