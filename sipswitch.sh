#!/usr/bin/env bash
# The two commands of the README:
#   ./sipswitch.sh run    install what is missing, build, start sipswitch in the foreground
#                         (cfg/sipswitch.cfg, scripts/route.lua; SIP on 127.0.0.1:5060 UDP+TCP,
#                         management on 127.0.0.1:8080)
#   ./sipswitch.sh test   install what is missing, build, run every test: unit and integration
#                         tests, the same under ASan+UBSan, and make distcheck
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# Debian packages: build tools, libraries, and what the tests drive the switch with;
# clang, its libFuzzer/sanitizer runtime and llvm (llvm-symbolizer) for `make fuzz`.
DEPS=(build-essential autoconf automake libtool libtool-bin pkg-config
      libosip2-dev libuv1-dev libinih-dev liblua5.4-dev libmicrohttpd-dev libltdl-dev libssl-dev libsqlite3-dev
      libmimalloc-dev
      libcmocka-dev sip-tester python3 curl procps
      clang libclang-rt-dev llvm)

install_deps() {
    local missing=() p
    for p in "${DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [configure options...]: out-of-source build in DIR
build() {
    local dir=$1; shift
    [ -x configure ] || ./bootstrap
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ]; then
        (cd "$dir" && "$top/configure" --enable-werror "$@" >/dev/null)
    fi
    make -C "$dir" -j"$jobs" >/dev/null
}

run_checks() {
    local dir=$1 label=$2
    echo "==> $label: make check"
    if ! make -C "$dir" -j"$jobs" check; then
        echo "==> $label: FAILED; logs:"
        for f in "$dir"/tests/*/*.log; do
            if grep -qE '^(FAIL|ERROR)' "$f" 2>/dev/null; then echo "---- $f"; tail -n 60 "$f"; fi
        done
        return 1
    fi
}

case "${1:-}" in
run)
    install_deps
    build build
    exec build/sipswitch -c cfg/sipswitch.cfg --module-path build/modules
    ;;
test)
    install_deps
    start=$(date +%s)
    build build
    run_checks build "default build"
    build build-asan --enable-sanitizers
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_checks build-asan "ASan+UBSan build"
    echo "==> make distcheck"
    # the tarball's own check: unit tests and smoke integration tests only
    # (tests/integration/lib.sh), the full suite ran twice above
    make -C build -j"$jobs" distcheck SW_CHECK_SCOPE=smoke >build/distcheck.log 2>&1 ||
        { tail -n 80 build/distcheck.log; exit 1; }
    grep -E "archives ready|is ready for distribution" build/distcheck.log || true
    echo "==> all tests passed in $(( $(date +%s) - start )) s"
    ;;
*)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
