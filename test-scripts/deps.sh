#!/usr/bin/env bash
# Installs the Debian packages the tests and the benchmark use that this machine lacks (needs
# root and the package registry), and checks the tools the machine image must bring.
# `make test` and `make bench` run it; nothing happens when everything is there.
set -euo pipefail

# nc, socat, redis, curl: real programs under the shim; iproute2 (ss, ip netns), procps;
# iptables/nftables (TPROXY tests), nginx-light + haproxy (router, PROXY protocol, t-haproxy),
# wrk (bench); openssh-server/-client (t-sshd); dpkg-dev (dpkg-shlibdeps for `make deb`),
# man-db + groff (man pages render), bash-completion, zsh, fish (the completions load in each
# shell) for t-package; golang-go (the Go bindings, Go programs for the seccomp backend, and
# a dynamically linked Go program the shim must refuse: t-go-refused),
# busybox-static (a static program for the same).
pkgs=(netcat-openbsd socat redis-server redis-tools curl iproute2 procps iptables nftables
      nginx-light haproxy wrk openssh-server openssh-client golang-go dpkg-dev man-db groff-base
      bash-completion zsh fish busybox-static)
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for tool in cargo gcc python3 node java javac systemd-socket-activate; do
  command -v "$tool" >/dev/null || { echo "deps: $tool missing from this machine image" >&2; exit 1; }
done
