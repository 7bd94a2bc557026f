# Shared helpers for the integration tests (sourced). Every test gets its own
# directory, its own free ports on 127.0.0.1, and its own daemon, stopped on
# exit whatever happens.
set -u
: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
SW_BIN="$top_builddir/sipswitch"
SIPSEND="${PYTHON3:-python3} $top_srcdir/tests/integration/sipsend.py"
TEST_NAME=$(basename "$0" .sh)
# `make distcheck SW_CHECK_SCOPE=smoke` (sipswitch.sh test, after the full
# runs of the normal and sanitizer builds): the tarball must build, pass its
# unit tests and run a daemon; the integration tests that need more were
# already run twice on the same sources.
if [ "${SW_CHECK_SCOPE:-}" = smoke ]; then
    case $TEST_NAME in
    calls | check_cfg | docs | http_api | rfc4475) ;;
    *) echo "skipped: SW_CHECK_SCOPE=smoke"; exit 77 ;;
    esac
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sw-$TEST_NAME.XXXXXX")
SW_PID=
FAILS=0
PASSES=0

cleanup() {
    if [ -n "$SW_PID" ] && kill -0 "$SW_PID" 2>/dev/null; then
        kill -KILL "$SW_PID" 2>/dev/null
        wait "$SW_PID" 2>/dev/null
    fi
    if [ "$FAILS" -eq 0 ] && [ -z "${SW_KEEP:-}" ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK"; fi
}
trap cleanup EXIT

pass() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

finish() {
    echo "$PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}

# A free TCP+UDP port on 127.0.0.1 (asked of the kernel, then released).
free_port() {
    ${PYTHON3:-python3} - <<'PY'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
}

# write_cfg [extra [core] lines...]: a cfg for this test in $WORK/sipswitch.cfg
SIP_PORT=$(free_port)
HTTP_PORT=$(free_port)
write_cfg() {
    {
        echo "[core]"
        echo "listen = udp:127.0.0.1:$SIP_PORT, tcp:127.0.0.1:$SIP_PORT"
        echo "http = 127.0.0.1:$HTTP_PORT"
        echo "script = ${SW_SCRIPT:-$WORK/route.lua}"
        echo "log_level = debug"
        for l in "$@"; do echo "$l"; done
    } >"$WORK/sipswitch.cfg"
    # a neutral script (no route: INVITEs get 404) unless the test wrote its own;
    # tests never depend on the shipped scripts/route.lua
    [ -f "$WORK/route.lua" ] || printf 'function on_invite(call) return {} end\n' >"$WORK/route.lua"
}

# start_switch [args...]: starts the daemon on $WORK/sipswitch.cfg and waits
# until /health answers (10 s at most).
start_switch() {
    "$SW_BIN" -c "$WORK/sipswitch.cfg" --module-path "${SW_MODULE_PATH:-$top_builddir/modules}" "$@" \
        >"$WORK/sipswitch.log" 2>&1 &
    SW_PID=$!
    local i
    for i in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$SW_PID" 2>/dev/null; then
            echo "sipswitch exited during start-up:"; cat "$WORK/sipswitch.log"; SW_PID=; return 1
        fi
        sleep 0.1
    done
    echo "sipswitch did not become healthy in 10 s:"; cat "$WORK/sipswitch.log"
    return 1
}

# stop_switch: SIGTERM, wait at most 10 s; returns the exit status
stop_switch() {
    [ -n "$SW_PID" ] || return 1
    kill -TERM "$SW_PID"
    local i
    for i in $(seq 1 100); do
        kill -0 "$SW_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SW_PID" 2>/dev/null; then
        echo "sipswitch did not stop within 10 s"; kill -KILL "$SW_PID"; wait "$SW_PID"; SW_PID=; return 1
    fi
    wait "$SW_PID"
    local rc=$?
    SW_PID=
    return $rc
}

alive() { [ -n "$SW_PID" ] && kill -0 "$SW_PID" 2>/dev/null; }

# sip_udp FILE [sipsend options]: prints the response(s)
sip_udp() { local f=$1; shift; $SIPSEND --udp "127.0.0.1:$SIP_PORT" "$@" "$f"; }
sip_tcp() { local f=$1; shift; $SIPSEND --tcp "127.0.0.1:$SIP_PORT" "$@" "$f"; }

# request_msg METHOD [extra header lines...]: a request template for sipsend --template
request_msg() {
    local method=$1; shift
    printf '%s sip:switch@127.0.0.1:%s SIP/2.0\r\n' "$method" "$SIP_PORT"
    printf 'Via: SIP/2.0/$TRANSPORT 127.0.0.1:$LPORT;branch=$BRANCH;rport\r\n'
    printf 'Max-Forwards: 70\r\nFrom: <sip:tester@127.0.0.1>;tag=t1\r\nTo: <sip:switch@127.0.0.1>\r\n'
    printf 'Call-ID: $CALLID\r\nCSeq: 1 %s\r\n' "$method"
    local h
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf 'Content-Length: 0\r\n\r\n'
}
options_msg() { request_msg OPTIONS "$@"; }

# status_line RESPONSE_TEXT: the first status code in it
first_code() { sed -n '1s/^SIP\/2.0 \([0-9][0-9][0-9]\).*/\1/p' | head -n1; }

http_get() { curl -sS -o "$WORK/http.body" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT$1"; }
http_post() { curl -sS -o "$WORK/http.body" -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP_PORT$1"; }
