# shellcheck shell=bash
# Booting the test guest from a test script (source after lib.sh).
#
#   vm_start GUEST_SCRIPT   boots a QEMU (TCG) guest with a vhost-device-vsock backend; the guest
#                           mounts the host's / read-only and $VM_WORK read-write at the same path,
#                           runs GUEST_SCRIPT (a path under $VM_WORK) and powers off.
#   vm_wait [TIMEOUT]       waits for the guest to power off; VM_RC = the script's exit status
#                           (or 255 when it never wrote one).
# Knobs: VM_SMP (vCPUs, 2), VM_TIMEOUT (s, 150).
# Variables: VM_WORK (shared folder, under $T), VM_RUN (backend sockets; host → guest through
# $VM_RUN/vm.vsock, guest → host port P arrives on $VM_RUN/vm.vsock_P), VM_CACHE, VM_CID (3).
# The guest's console is in $T/console.log.

VM_WORK=$T/work
VM_RUN=$T/run
VM_CID=3
mkdir -p "$VM_WORK" "$VM_RUN"

vm_setup() {
    VM_CACHE=$(bash "$TS_DIR/vm/setup.sh" | tail -n 1) || { fail "VM setup failed"; return 1; }
    VHOST=$VM_CACHE/cargo/bin/vhost-device-vsock
    VM_KREL=$(cat "$VM_CACHE/kernel/release")
}

# Host folders the guest's fresh /tmp and /run would hide: the checkout and the library's folder
# when they live there (a clone under /tmp), bound back by the guest's init (vmkeep=).
vm_keep_dirs() {
    local d out=
    for d in "$REPO_ROOT" "$(dirname "$SOCKSWAP_LIB")" "$(dirname "$SOCKSWAP_BIN")"; do
        d=$(cd "$d" 2>/dev/null && pwd) || continue
        case $d in /tmp/*|/run/*) ;; *) continue ;; esac
        case $d in *[[:space:],]*) fail "cannot share $d with the guest (blank or comma in the path)"; return 1 ;; esac
        case ",$out," in *",$d,"*) ;; *) out=${out:+$out,}$d ;; esac
    done
    echo "$out"
}

vm_start() { # GUEST_SCRIPT
    local script=$1 deadline keep
    keep=$(vm_keep_dirs) || return 1
    [ -n "${VM_CACHE:-}" ] || vm_setup || return 1
    bg vhost "$VHOST" --guest-cid "$VM_CID" --tx-buffer-size 16384 \
        --socket "$VM_RUN/vhost-user.sock" --uds-path "$VM_RUN/vm.vsock"
    VHOST_PID=$BG_PID
    deadline=$(( $(now_ms) + 10000 ))
    while [ ! -S "$VM_RUN/vhost-user.sock" ]; do
        [ "$(now_ms)" -lt "$deadline" ] && _is_running "$VHOST_PID" || {
            fail "vhost-device-vsock did not create its socket"; cat "$T/vhost.err" >&2; return 1; }
        sleep 0.02
    done
    rm -f "$VM_WORK/guest-rc"
    bg qemu timeout -k 5 "${VM_TIMEOUT:-150}" qemu-system-x86_64 -accel tcg -cpu max -smp "${VM_SMP:-2}" -m 512M \
        -object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem \
        -nodefaults -display none -no-reboot -serial "file:$T/console.log" \
        -kernel "$VM_CACHE/kernel/vmlinuz" -initrd "$VM_CACHE/initrd.cpio.gz" \
        -append "console=ttyS0 quiet panic=-1 vmwork=$VM_WORK vmcmd=$script${keep:+ vmkeep=$keep}" \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$VM_WORK,mount_tag=work,security_model=none,multidevs=remap" \
        -chardev "socket,id=vsk,path=$VM_RUN/vhost-user.sock" -device vhost-user-vsock-pci,chardev=vsk
    VM_PID=$BG_PID
}

vm_wait() { # [TIMEOUT]
    wait_exit "$VM_PID" "${1:-150}" || { fail "the guest did not power off in time"; VM_RC=255; return 1; }
    VM_RC=$(cat "$VM_WORK/guest-rc" 2>/dev/null || echo 255)
    stop_bg "$VHOST_PID"
}
