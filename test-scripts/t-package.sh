#!/usr/bin/env bash
# `make deb`, then the package as a user meets it: its contents list has every file (binaries,
# library, man pages, completions, units, docs); it installs (through apt-get, which waits for
# the dpkg lock); `man sockswap`,
# `man socketbox` and `man 5 sockswap-rules` render without warnings; `sockswap run` finds the
# library with no --lib and serves python's http.server on a Unix socket; the completions load in
# bash, zsh and fish and socketbox's name every flag of its --help; `systemd-analyze verify`
# passes on the installed units; removing it leaves none of the package's files behind.
# Also: the man pages `make man` writes name every option of `--help`.
# TIMEOUT: 400
. "$(dirname "$0")/lib.sh"
need dpkg dpkg-deb man curl bash zsh fish systemd-analyze

dpkg-query -W -f='${Status}' sockswap 2>/dev/null | grep -q 'install ok installed' &&
    fail "a sockswap package is installed on this machine already; remove it (dpkg -r sockswap) first"

make -C "$REPO_ROOT" --no-print-directory deb >"$T/deb.log" 2>&1 || fail "make deb failed: $(tail -20 "$T/deb.log")"
deb=$(ls "$REPO_ROOT"/target/sockswap_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] || fail "make deb produced no target/sockswap_*.deb"
pass "make deb built $(basename "$deb")"

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T/contents"
for f in /usr/bin/sockswap /usr/bin/socketbox /usr/lib/sockswap/libsockswap.so \
    /usr/share/man/man1/sockswap.1.gz /usr/share/man/man8/socketbox.8.gz \
    /usr/share/man/man5/sockswap-rules.5.gz \
    /usr/share/bash-completion/completions/sockswap /usr/share/bash-completion/completions/socketbox \
    /usr/share/zsh/vendor-completions/_sockswap /usr/share/zsh/vendor-completions/_socketbox \
    /usr/share/fish/vendor_completions.d/sockswap.fish /usr/share/fish/vendor_completions.d/socketbox.fish \
    /usr/lib/systemd/system/socketbox.service /usr/lib/systemd/system/socketbox-socket-server.service \
    /usr/share/doc/sockswap/README.md /usr/share/doc/sockswap/configuration.md \
    /usr/share/doc/sockswap/router.md /usr/share/doc/sockswap/router-config.md \
    /usr/share/doc/sockswap/copyright /usr/share/doc/sockswap/examples/socketbox.socket \
    /usr/bin/xsocket-server /usr/lib/libxsocket.so /usr/lib/libxsocket.a /usr/include/xsocket.h; do
    grep -qx "$f" "$T/contents" || fail "the package lacks $f"
done
pass "the package holds binaries, library, 3 man pages, 6 completions, 2 units, docs"
depends=$(dpkg-deb -f "$deb" Depends)
echo "$depends" | grep -q '^libc6 (>= [0-9.]*)' || fail "Depends should start with libc6 (>= ...): $depends"
echo "$depends" | tr ',' '\n' | sed 's/ *(.*//; s/^ *//' | grep -vxE 'libc6|libgcc-s1' | grep -q . &&
    fail "Depends names more than the C libraries: $depends"
pass "Depends: $depends"

# apt-get rather than dpkg itself: it waits for the dpkg lock another installer may hold.
APT=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=120)
trap '_rc=$?; "${APT[@]}" remove sockswap >/dev/null 2>&1; (exit $_rc); _cleanup' EXIT
"${APT[@]}" install --no-install-recommends "$deb" >"$T/install.log" 2>&1 || fail "installing the package failed: $(tail -5 "$T/install.log")"
dpkg-query -W -f='${Status}' sockswap | grep -q 'install ok installed' || fail "the package is not installed after apt-get install"
pass "the package installs (dpkg)"

for page in "1 sockswap" "8 socketbox" "5 sockswap-rules"; do
    set -- $page
    MANWIDTH=80 man "$1" "$2" >"$T/man.$2" 2>"$T/man.$2.err" || fail "man $1 $2 failed: $(cat "$T/man.$2.err")"
    grep -q "^NAME" "$T/man.$2" || fail "man $1 $2 has no NAME section"
    MANWIDTH=80 man --warnings -l "$(man -w "$1" "$2")" 2>&1 >/dev/null | grep . >"$T/warn.$2" &&
        fail "man $1 $2 renders with warnings: $(head -5 "$T/warn.$2")"
done
grep -q "EXIT STATUS" "$T/man.sockswap" && grep -q "121" "$T/man.sockswap" || fail "sockswap(1) lacks the exit status 121"
grep -q "SOCKSWAP_RULES" "$T/man.sockswap-rules" || fail "sockswap-rules(5) lacks the variables"
pass "man sockswap, man socketbox, man 5 sockswap-rules render without warnings"

# Every option `--help` shows is in the man page (the pages are generated, so they cannot drift).
zcat "$(man -w 1 sockswap)" | sed 's/\\-/-/g' >"$T/sockswap.1"
for sub in run check explain "control write" "control show" lib completions; do
    for opt in $(/usr/bin/sockswap $sub --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
        grep -q -- "$opt" "$T/sockswap.1" || fail "sockswap(1) lacks $opt of 'sockswap $sub'"
    done
done
/usr/bin/socketbox --help | grep -oE -- '(^| )-[a-zA-Z]\b|--[a-z][a-z-]+' | tr -d ' ' | sort -u >"$T/sb.flags"
zcat "$(man -w 8 socketbox)" | sed 's/\\-/-/g' >"$T/socketbox.8"
while read -r f; do grep -q -- "$f" "$T/socketbox.8" || fail "socketbox(8) lacks $f"; done <"$T/sb.flags"
pass "the man pages name every option of --help"

P=$(free_port)
bg http env -C "$T" /usr/bin/sockswap run -r "in,tcp,port=$P,path=$T/http.sock" -- "$PYTHON" -m http.server "$P" --bind 127.0.0.1
wait_unix_connectable "$T/http.sock" 10 "$BG_PID"
echo hello >"$T/hello.txt"
got=$(curl -sS --max-time 10 --unix-socket "$T/http.sock" "http://x/hello.txt") || fail "curl over the Unix socket failed"
assert_eq hello "$got" "http.server answers over the Unix socket"
assert_tcp_not_listening "$P"
stop_bg "$BG_PID"
pass "the installed sockswap run finds its library with no --lib"

out=$(bash -c '. /usr/share/bash-completion/completions/sockswap
    COMP_WORDS=(sockswap ru); COMP_CWORD=1; _sockswap sockswap ru sockswap; echo "${COMPREPLY[*]}"') || fail "bash completion failed"
echo "$out" | grep -qw run || fail "bash completion of 'sockswap ru' gave: $out"
out=$(bash -c '. /usr/share/bash-completion/completions/socketbox
    COMP_WORDS=(socketbox --queue); COMP_CWORD=1; _socketbox; echo "${COMPREPLY[*]}"') || fail "bash completion failed"
echo "$out" | grep -qw -- --queue-len || fail "bash completion of 'socketbox --queue' gave: $out"
zsh -n /usr/share/zsh/vendor-completions/_sockswap && zsh -n /usr/share/zsh/vendor-completions/_socketbox ||
    fail "zsh completions do not parse"
out=$(fish -c 'complete -C "sockswap ch"') || fail "fish completion failed"
echo "$out" | grep -q '^check' || fail "fish completion of 'sockswap ch' gave: $out"
out=$(fish -c 'complete -C "socketbox --queue-"') || fail "fish completion failed"
echo "$out" | grep -q -- '--queue-len' || fail "fish completion of 'socketbox --queue-' gave: $out"
for f in /usr/share/bash-completion/completions/socketbox /usr/share/zsh/vendor-completions/_socketbox \
    /usr/share/fish/vendor_completions.d/socketbox.fish; do
    while read -r flag; do
        case $flag in
            --*) grep -qE -- "(^|[^a-z-])$flag([^a-z-]|$)|-l ${flag#--}( |$)" "$f" || fail "$f lacks $flag of socketbox --help" ;;
            *) grep -qE -- "(^|[^a-zA-Z-])$flag([^a-zA-Z]|$)|-s ${flag#-}( |$)" "$f" || fail "$f lacks $flag of socketbox --help" ;;
        esac
    done <"$T/sb.flags"
done
pass "completions load in bash, zsh and fish; socketbox's name every flag of its --help"

systemd-analyze verify /usr/lib/systemd/system/socketbox.service \
    /usr/lib/systemd/system/socketbox-socket-server.service \
    /usr/share/doc/sockswap/examples/socketbox.socket >"$T/verify.out" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$T/verify.out")"
pass "systemd-analyze verify passes on the units"

"${APT[@]}" remove sockswap >"$T/remove.log" 2>&1 || fail "removing the package failed: $(tail -5 "$T/remove.log")"
left=$(grep -v '/$' "$T/contents" | while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done)
[ -z "$left" ] || fail "dpkg -r left files behind: $left"
pass "removing the package leaves none of its files"

make -C "$REPO_ROOT" --no-print-directory install DESTDIR="$T/root" PREFIX=/usr/local >"$T/inst.log" 2>&1 ||
    fail "make install failed: $(tail -5 "$T/inst.log")"
(cd "$T/root" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$T/installed"
grep -v '/$' "$T/contents" | grep -v '^/usr/share/doc/sockswap/copyright$' | sed 's|^/usr/share/man/\(.*\)\.gz$|/usr/share/man/\1|; s|^/usr/|/usr/local/|' | sort >"$T/expected"
diff "$T/expected" "$T/installed" >"$T/diff" || fail "make install and the package install different sets: $(cat "$T/diff")"
make -C "$REPO_ROOT" --no-print-directory uninstall DESTDIR="$T/root" PREFIX=/usr/local >/dev/null 2>&1 || fail "make uninstall failed"
left=$(cd "$T/root" && find . \( -type f -o -type l \))
[ -z "$left" ] || fail "make uninstall left: $left"
pass "make install PREFIX=/usr/local installs the package's set; make uninstall removes it"
