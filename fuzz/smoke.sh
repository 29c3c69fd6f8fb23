#!/usr/bin/env bash
# The short fuzz run of `make test`: every target of fuzz/run.sh for FUZZ_SMOKE_SECONDS
# (default 3) from its seeds, in a throw-away corpus; fails on a crash.
#
# Built with plain `cargo build` (stable, no sanitizer, no coverage instrumentation): libFuzzer
# then mutates blindly, which still finds the shallow panics (it found a rule error quoting a
# newline) in seconds, and needs neither nightly nor cargo-fuzz. `make fuzz` (fuzz/run.sh) is
# the real, coverage-guided, AddressSanitizer run.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${FUZZ_SMOKE_SECONDS:-3}"
TARGETS=($(sed -n 's/^ALL_TARGETS=(\(.*\))$/\1/p' run.sh))
[[ ${#TARGETS[@]} -gt 0 ]] || { echo "fuzz smoke: no targets in run.sh" >&2; exit 1; }
cargo build --release --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/sockswap-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
rc=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$work/$t"
    dict=()
    [[ -f "dicts/$t.dict" ]] && dict=("-dict=dicts/$t.dict")
    if out=$(timeout $((SECS + 60)) "target/release/$t" "$work/$t" "seeds/$t" -max_total_time="$SECS" \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/$t-" "${dict[@]}" 2>&1); then
        echo "fuzz smoke: $t ok: $(grep -o 'Done [0-9]* runs' <<<"$out" || echo '?')"
    else
        echo "fuzz smoke: $t FAILED:" >&2
        grep -E 'panicked|ERROR|SUMMARY' -A3 <<<"$out" | head -20 >&2
        for a in "$work/$t-"*; do [[ -e $a ]] && { echo "input (hex):" >&2; xxd "$a" | head -8 >&2; }; done
        rc=1
    fi
done
exit $rc
