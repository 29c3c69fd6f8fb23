#!/usr/bin/env bash
# Prints the DEBIAN/control of the sockswap package for the tree ROOT (`make deb`).
# Depends comes from dpkg-shlibdeps on the package's ELF files, so it names exactly the shared
# libraries they link (libc6, and libgcc-s1 for Rust's unwinder).
set -euo pipefail
root=$1 version=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debian"
printf 'Source: sockswap\n\nPackage: sockswap\nArchitecture: any\n' > "$work/debian/control"
elfs=()
while IFS= read -r f; do
    head -c 4 "$f" | grep -q $'\x7fELF' && elfs+=("$(realpath "$f")")
done < <(find "$root/usr" -type f)
depends=$(cd "$work" && dpkg-shlibdeps -O "${elfs[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "control.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
cat <<CONTROL
Package: sockswap
Version: $version
Architecture: $(dpkg --print-architecture)
Maintainer: sockswap developers <sockswap@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Description: move the TCP/IP sockets of unmodified programs onto Unix sockets
 An LD_PRELOAD library (libsockswap.so) and the sockswap command swap the sockets
 of unmodified programs, by rules, for Unix domain sockets, AF_VSOCK or
 connections dispatched by the socketbox router, while the program keeps seeing
 the TCP/IP addresses it expects. Drop-in for unsock's UNSOCK_* variables and
 ip2unix-style rules. The socketbox router hands accepted connections to daemons
 over SCM_RIGHTS (socketbox's A and B protocols).
CONTROL
