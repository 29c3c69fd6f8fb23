#!/usr/bin/env bash
# Compile and run the sockswap C tests.
#
#   c-tests/run.sh                 # every c-tests/*.c
#   c-tests/run.sh scn_tcp4_echo bug_u1_accept_null   # a subset (".c" optional)
#
# SOCKSWAP_LIB overrides the library under test
# (default: <repo>/target/release/libsockswap.so).
# Each test is built with gcc -O2 -Wall -pthread into <repo>/target/c-tests/
# (plus the flags of a line "// EXTRA_CFLAGS: ..." in the test's source, if any)
# and run under `timeout 60`.  Output: PASS name / FAIL name (plus the test's
# output), then the line "N passed, N failed".  Exit status 1 if any failed.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out="$repo/target/c-tests"
lib="${SOCKSWAP_LIB:-$repo/target/release/libsockswap.so}"
case "$lib" in /*) ;; *) lib="$PWD/$lib" ;; esac
export SOCKSWAP_LIB="$lib"
# The tests set these themselves; inherited values must not leak in.
unset SOCKSWAP_TEST_CHILD SOCKSWAP_TEST_DIR LD_PRELOAD

mkdir -p "$out"
[ -f "$lib" ] || echo "warning: library not found: $lib (every test will fail)" >&2

if [ $# -gt 0 ]; then
    names=()
    for a in "$@"; do a=$(basename "$a"); names+=("${a%.c}"); done
else
    names=()
    for f in "$here"/*.c; do [ -e "$f" ] || continue; b=$(basename "$f"); names+=("${b%.c}"); done
fi

pass=0
fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for name in "${names[@]}"; do
    src="$here/$name.c"
    if [ ! -f "$src" ]; then
        echo "FAIL $name"
        echo "    no such test: $src"
        fail=$((fail + 1))
        continue
    fi
    # build under a temporary name and rename, so concurrent runs never hit
    # "Text file busy" on a binary another run is executing
    # shellcheck disable=SC2207 # the flags are words on purpose
    extra=($(sed -n 's|^// EXTRA_CFLAGS:||p' "$src" | head -n 1))
    if ! gcc -O2 -Wall -pthread ${extra[@]+"${extra[@]}"} -o "$out/.$name.$$" "$src" >"$log" 2>&1 ||
        ! mv -f "$out/.$name.$$" "$out/$name"; then
        rm -f "$out/.$name.$$"
        echo "FAIL $name"
        echo "    (compilation failed)"
        sed 's/^/    /' "$log"
        fail=$((fail + 1))
        continue
    fi
    if [ -s "$log" ]; then
        echo "warning: $name compiled with warnings:" >&2
        sed 's/^/    /' "$log" >&2
    fi
    timeout 60 "$out/$name" >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "PASS $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        case $rc in
            124) echo "    (killed by timeout 60)" ;;
            1) ;;
            *) echo "    (exit status $rc)" ;;
        esac
        sed 's/^/    /' "$log" | head -n 200
        fail=$((fail + 1))
    fi
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
