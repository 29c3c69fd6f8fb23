#!/usr/bin/env bash
# Prepares (once) everything the AF_VSOCK VM test needs and caches it outside the repository:
#   - qemu-system-x86 and busybox-static from bookworm-backports (apt);
#   - a Debian backports guest kernel, unpacked from its .deb (never installed), with the 9p and
#     vsock modules decompressed;
#   - vhost-device-vsock 0.3.0 (cargo install), the vsock backend (no /dev/vhost-vsock needed);
#   - an initramfs: busybox, the modules, and /init (test-scripts/vm/init.sh).
# Cache folder: ${SOCKSWAP_VM_CACHE:-/var/cache/sockswap-vm}. Each step leaves a stamp file; a
# repeated run only checks the stamps (well under a second). The initramfs is rebuilt when init.sh
# changes. Prints the cache folder's path as its last line on success.
set -euo pipefail
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SOCKSWAP_VM_CACHE:-/var/cache/sockswap-vm}
mkdir -p "$CACHE"
log() { echo "vm-setup: $(date +%T) $*" >&2; }

# vhost-device-vsock builds (about a minute of CPU) while apt and the kernel download run.
VHOST=$CACHE/cargo/bin/vhost-device-vsock
VHOST_JOB=
if [ ! -x "$VHOST" ]; then
    log "building vhost-device-vsock 0.3.0 (cargo install, in the background)"
    # Parallel codegen and no LTO: 45 s instead of 2+ minutes; the backend needs no peak speed.
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install --quiet --locked --root "$CACHE/cargo" vhost-device-vsock@0.3.0 \
        >"$CACHE/cargo-install.log" 2>&1 &
    VHOST_JOB=$!
fi

# --- 1. apt packages ---------------------------------------------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x /bin/busybox ]; then
    export DEBIAN_FRONTEND=noninteractive
    src=/etc/apt/sources.list.d/sockswap-bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        log "adding the bookworm-backports apt source"
        printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
            'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$src"
    fi
    log "installing qemu-system-x86 and busybox-static from bookworm-backports"
    apt-get update -qq
    apt-get install -y -qq -t bookworm-backports --no-install-recommends qemu-system-x86 busybox-static >&2
fi
command -v qemu-system-x86_64 >/dev/null || { log "qemu-system-x86_64 still missing"; exit 1; }

# --- 2. guest kernel ---------------------------------------------------------------------------
KDIR=$CACHE/kernel
if [ ! -e "$KDIR/.stamp" ]; then
    rm -rf "$KDIR"; mkdir -p "$KDIR/deb"
    chmod 777 "$KDIR/deb" # apt-get download drops to the _apt user
    grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ || {
        log "no bookworm-backports apt source"; exit 1; }
    apt-cache policy linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
    # The meta package names the real image package: download that one (not installed).
    pkg=$(apt-cache depends linux-image-amd64/bookworm-backports 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$pkg" ]; then apt-get update -qq
        pkg=$(apt-cache depends linux-image-amd64/bookworm-backports |
            awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    fi
    [ -n "$pkg" ] || { log "cannot find the kernel package linux-image-amd64 depends on"; exit 1; }
    log "downloading $pkg"
    (cd "$KDIR/deb" && apt-get download "$pkg" >&2)
    dpkg-deb -x "$KDIR"/deb/*.deb "$KDIR/root"
    rm -rf "$KDIR/deb"
    vmlinuz=$(ls "$KDIR"/root/boot/vmlinuz-* | head -n1)
    cp "$vmlinuz" "$KDIR/vmlinuz"
    basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$KDIR/release"
    touch "$KDIR/.stamp"
fi
KREL=$(cat "$KDIR/release")
MODROOT=$KDIR/root/lib/modules/$KREL

# --- 3. vhost-device-vsock (started above) ------------------------------------------------------
if [ -n "$VHOST_JOB" ]; then
    wait "$VHOST_JOB" || { log "cargo install vhost-device-vsock failed:"; tail -n 20 "$CACHE/cargo-install.log" >&2; exit 1; }
    log "vhost-device-vsock built"
fi
[ -x "$VHOST" ] || { log "vhost-device-vsock missing after cargo install"; exit 1; }

# --- 4. initramfs ------------------------------------------------------------------------------
# Modules in load order (dependencies first), as the 6.12 kernel splits them.
MODULES="netfs 9pnet 9pnet_virtio 9p vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport vsock_loopback"
INITRD=$CACHE/initrd.cpio.gz
init_sum=$(cat "$VM_DIR/init.sh" | sha256sum | cut -c1-16)
if [ ! -e "$INITRD" ] || [ "$(cat "$CACHE/initrd.sum" 2>/dev/null)" != "$init_sum" ]; then
    log "building the initramfs"
    stage=$CACHE/initrd.stage
    rm -rf "$stage"; mkdir -p "$stage"/{bin,sbin,proc,sys,dev,newroot,modules,tmp,run}
    cp /bin/busybox "$stage/bin/busybox"
    for m in $MODULES; do
        f=$(find "$MODROOT" -name "$m.ko*" | head -n1)
        [ -n "$f" ] || { log "module $m not found under $MODROOT"; exit 1; }
        case $f in
            *.xz) xz -dc "$f" >"$stage/modules/$m.ko" ;;
            *.zst) zstd -dcq "$f" >"$stage/modules/$m.ko" ;;
            *) cp "$f" "$stage/modules/$m.ko" ;;
        esac
    done
    echo "$MODULES" >"$stage/modules/order"
    cp "$VM_DIR/init.sh" "$stage/init"; chmod 755 "$stage/init"
    (cd "$stage" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    echo "$init_sum" >"$CACHE/initrd.sum"
    rm -rf "$stage"
fi
echo "$CACHE"
