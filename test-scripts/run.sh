#!/usr/bin/env bash
# Runs the black-box tests: every test-scripts/t-*.sh, or only those named as arguments
# (t-nc, t-nc.sh or test-scripts/t-nc.sh). Each test runs under `timeout 120`, or the seconds of
# its "# TIMEOUT: N" line (TEST_TIMEOUT=N overrides both).
# Prints PASS name / FAIL name (with the test's output) per test, then "N passed, N failed".
# Exit status 1 if any test failed. A test that cannot run here counts as failed.
#
# Environment: SOCKSWAP_LIB, SOCKSWAP_BIN override the artifacts under test (default:
# target/release/libsockswap.so and target/release/sockswap); KEEP_TMP=1 keeps each test's temp dir.
set -u
TS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

tests=()
if [ $# -eq 0 ]; then
    for f in "$TS_DIR"/t-*.sh; do [ -e "$f" ] && tests+=("$(basename "$f" .sh)"); done
else
    for a in "$@"; do
        a=$(basename "$a" .sh)
        case $a in t-*) ;; *) a=t-$a ;; esac
        tests+=("$a")
    done
fi

passed=0
failed=0
for t in "${tests[@]}"; do
    f=$TS_DIR/$t.sh
    start=$(date +%s%3N)
    if [ ! -f "$f" ]; then
        out="no such test: $f"
        rc=127
    else
        # A test may ask for more time with a line "# TIMEOUT: SECONDS" (t-package builds a package).
        limit=$(sed -n 's/^# TIMEOUT: *\([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
        limit=${TEST_TIMEOUT:-${limit:-120}}
        out=$(timeout -k 10 "$limit" bash "$f" 2>&1 </dev/null)
        rc=$?
    fi
    secs=$(awk -v ms=$(( $(date +%s%3N) - start )) 'BEGIN { printf "%.1f", ms / 1000 }')
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $t ($secs s)"
        [ -n "${VERBOSE:-}" ] && printf '%s\n' "$out" | sed 's/^/    /'
    else
        failed=$((failed + 1))
        echo "FAIL $t ($secs s, exit status $rc$([ "$rc" -eq 124 ] && echo ": timed out after $limit s"))"
        printf '%s\n' "$out" | head -n 200 | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
