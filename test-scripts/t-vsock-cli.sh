#!/usr/bin/env bash
# `sockswap control write|show`: unsock's 452-byte control files, byte for byte.
. "$(dirname "$0")/lib.sh"
need_artifacts cli
B=$SOCKSWAP_BIN

"$B" control write "$T/v.sock" --vsock any:5678 >"$T/w.out" || fail "control write --vsock"
assert_eq 452 "$(stat -c %s "$T/v.sock")" "a control file has 452 bytes"
# magic, destLen 16, sockaddr_vm{AF_VSOCK, port 5678, cid -1} at 160, everything else zero
expect=$(printf '%s' "554e534b00000000" "0000000000000000" "00000000" "10000000" "00000000" "00000000" \
    "$(printf '0%.0s' $(seq 1 256))" "28000000" "2e160000" "ffffffff" "00000000" \
    "$(printf '0%.0s' $(seq 1 224))" "$(printf '0%.0s' $(seq 1 320))" "00000000")
assert_eq "$expect" "$(od -An -tx1 -v "$T/v.sock" | tr -d ' \n')" "vsock file bytes are unsock's layout"
assert_contains "$T/w.out" "CID any (-1), port 5678" "write explains what it wrote"

"$B" control write "$T/v.sock" --vsock 2:1 2>"$T/e1" && fail "overwrote an existing file"
assert_contains "$T/e1" "File exists" "refuses to overwrite (like unsock)"
"$B" control write "$T/v.sock" --vsock host:7 --force >/dev/null || fail "--force"
"$B" control show "$T/v.sock" >"$T/s1" || fail "control show"
assert_contains "$T/s1" "CID 2 (host), port 7" "show explains a vsock file"

"$B" control write "$T/h.sock" --hybrid "$T/vm.vsock:1024" --sockopt socket:SO_RCVBUF:65536 \
    --sockopt socket:SO_SNDTIMEO:2.5 >/dev/null || fail "control write --hybrid"
"$B" control show --hex "$T/h.sock" >"$T/s2" || fail "control show --hex"
assert_contains "$T/s2" "Unix socket $T/vm.vsock, send \"CONNECT 1024\\n\"" "show explains a hybrid file"
assert_contains "$T/s2" "SO_RCVBUF = 65536" "show lists an int option"
assert_contains "$T/s2" "SO_SNDTIMEO = 2.500000 s" "show lists a timeval option"
assert_contains "$T/s2" "0000  55 4e 53 4b 00 00 00 00 01 00 00 00 00 00 00 00" "hex dump: magic and the Firecracker bit"

"$B" control write "$T/x.sock" --vsock 1:1 --sockopt 1:8:1 --sockopt 1:8:1 --sockopt 1:8:1 \
    --sockopt 1:8:1 --sockopt 1:8:1 2>"$T/e2" && fail "accepted 5 options"
assert_contains "$T/e2" "at most 4 options" "a fifth option is refused by name"
"$B" control write "$T/y.sock" --vsock nowhere:1 2>"$T/e3" && fail "accepted a bad CID"
assert_contains "$T/e3" "--vsock CID 'nowhere'" "a bad CID is named"
head -c 452 /dev/zero >"$T/z.sock"
"$B" control show "$T/z.sock" 2>"$T/e4" && fail "showed a file without magic"
assert_contains "$T/e4" "no UNSK magic" "a file without the magic is named as such"
printf 'hello' >"$T/short.sock"
"$B" control show "$T/short.sock" 2>"$T/e5" && fail "showed a 5-byte file"
assert_contains "$T/e5" "452 bytes, not 5" "a wrong size is named"
