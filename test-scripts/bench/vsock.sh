#!/usr/bin/env bash
# vsock benchmark section (run by test-scripts/bench/run.sh, or alone): inside the test guest
# (test-scripts/vm/), bulk throughput of c-tests/bench/vsock_xfer.c over AF_VSOCK loopback
# (CID 1), the program using AF_VSOCK natively vs the same program speaking TCP with the shim
# converting both ends to AF_VSOCK. Goal: shim ≥ 0.95× native. Runs alternate (native, shim,
# shim, native, …); prints medians, min-max and the ratio. Exit 1 when a measurement could
# not be made. Knobs: BENCH_VSOCK_REPS (15), BENCH_VSOCK_BYTES (32 MiB each way per run),
# BENCH_VSOCK_SMP (guest vCPUs, 1: with one vCPU the TCG guest is far less noisy).
TS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$TS_DIR/lib.sh"
. "$TS_DIR/vm/vm.sh"
REPS=${BENCH_VSOCK_REPS:-15}
BYTES=${BENCH_VSOCK_BYTES:-33554432}
need gcc
need_artifacts
echo "bench: [vsock] guest AF_VSOCK loopback throughput, native vs shim ($REPS reps, $((BYTES / 1048576)) MiB each way, ${BENCH_VSOCK_SMP:-1} vCPU)" >&2
vm_setup
XFER=$VM_WORK/vsock_xfer
gcc -O2 -Wall -Wextra -pthread -o "$XFER" "$REPO_ROOT/c-tests/bench/vsock_xfer.c" || fail "compiling vsock_xfer.c"
cat >"$VM_WORK/guest-test" <<G
#!/bin/bash
W=$VM_WORK
"$XFER" serve --vsock 9300 \$W/native-ready &
env LD_PRELOAD=$SOCKSWAP_LIB SOCKSWAP_RULES='in,port=9400,vsock=any' "$XFER" serve 9400 \$W/shim-ready &
while [ ! -e \$W/native-ready ] || [ ! -e \$W/shim-ready ]; do sleep 0.05; done
ss -ltnH > \$W/ss.txt
native() { "$XFER" send --vsock 1 9300 $BYTES; }
shim() { env LD_PRELOAD=$SOCKSWAP_LIB SOCKSWAP_RULES='out,port=9400,vsock=local' "$XFER" send 127.0.0.1 9400 $BYTES; }
native >/dev/null; shim >/dev/null   # warm-up
for i in \$(seq 1 $REPS); do
    if [ \$((i % 2)) = 1 ]; then order="native shim"; else order="shim native"; fi
    for m in \$order; do echo "\$m \$(\$m)" >> \$W/results.txt; done
done
kill %1 %2
G
chmod +x "$VM_WORK/guest-test"
VM_SMP=${BENCH_VSOCK_SMP:-1} VM_TIMEOUT=400 vm_start "$VM_WORK/guest-test"
vm_wait 400
[ -s "$VM_WORK/results.txt" ] || fail "no results from the guest (console: $(tail -n 5 "$T/console.log"))"
grep -q ':9400 ' "$VM_WORK/ss.txt" && fail "the shim did not convert: a TCP listener on 9400 in the guest"
grep -v ' ok 1$' "$VM_WORK/results.txt" && fail "a transfer was short or corrupted"
"$PYTHON" - "$VM_WORK/results.txt" <<'P'
import statistics, sys
runs = {"native": [], "shim": []}
for line in open(sys.argv[1]):
    m, _, v = line.split()[:3]
    runs[m].append(float(v))
nat, shim = runs["native"], runs["shim"]
ratios = [s / n for n, s in zip(nat, shim)]
# headline: the median of the per-pair ratios (each pair ran back to back, so machine drift
# between pairs cancels)
med = statistics.median(ratios)
goal = 0.95
star = "*" if min(ratios) <= goal <= max(ratios) else ""
print()
print("vsock (in the QEMU TCG guest; vsock_xfer over AF_VSOCK loopback, CID 1)")
print(f"| row | native AF_VSOCK MiB/s | shim (TCP program → AF_VSOCK) MiB/s | ratio (median of pairs) | goal | met |")
print(f"|---|---|---|---|---|---|")
print(f"| bulk echo, both directions | {statistics.median(nat):.1f} [{min(nat):.1f}-{max(nat):.1f}] "
      f"| {statistics.median(shim):.1f} [{min(shim):.1f}-{max(shim):.1f}] "
      f"| {med:.3f} [{min(ratios):.3f}-{max(ratios):.3f}] | ≥ {goal} | {'yes' if med >= goal else 'no'}{star} |")
P
