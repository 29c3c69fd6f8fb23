#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 20) each; fails on the first crash.
#
# Uses cargo-fuzz (libFuzzer, AddressSanitizer). This machine has only a stable toolchain, so
# RUSTC_BOOTSTRAP=1 lets stable rustc accept the -Z flags cargo-fuzz passes (sanitizer,
# coverage instrumentation); cargo-fuzz is installed from crates.io if missing.
#
#   fuzz/run.sh                  all targets
#   fuzz/run.sh proxy_header     one target
#   FUZZ_SECONDS=300 fuzz/run.sh longer runs
#
# The growing corpus lives in fuzz/corpus/<target> (not committed); fuzz/seeds/<target> are
# the committed starting inputs, fuzz/dicts/<target>.dict the keyword dictionaries. A crash
# leaves its input in fuzz/artifacts/<target>/ and makes this script exit non-zero.
set -euo pipefail

cd "$(dirname "$0")"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
ALL_TARGETS=(text_config python_config b_register proxy_header rule_list rule_file control_file netns_request toml_config)
TARGETS=("${@:-${ALL_TARGETS[@]}}")

export RUSTC_BOOTSTRAP=1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi
# libFuzzer's runtime is C++ built by the cc crate: it needs a C++ compiler.
if ! command -v c++ >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "fuzz: installing g++ (libFuzzer's runtime is C++)" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
    else
        echo "fuzz: no C++ compiler (c++); install g++" >&2
        exit 1
    fi
fi

# Stable rustc has no -Zsanitizer runtime for every target; AddressSanitizer is the default
# and works on x86_64-unknown-linux-gnu. FUZZ_SANITIZER=none skips it.
SANITIZER="${FUZZ_SANITIZER:-address}"

rc=0
for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    dict=()
    [[ -f "dicts/$target.dict" ]] && dict=("-dict=dicts/$target.dict")
    echo "fuzz: $target for ${FUZZ_SECONDS}s" >&2
    mkdir -p logs; log="logs/$target.log"
    if cargo fuzz run --release --sanitizer "$SANITIZER" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || true)
        echo "fuzz: $target ok: $execs executions, ${cov:-cov: ?}, corpus $(ls "corpus/$target" | wc -l) inputs" >&2
    else
        echo "fuzz: $target FAILED; the last lines of $log:" >&2
        tail -n 40 "$log" >&2
        rc=1
    fi
done
exit $rc
