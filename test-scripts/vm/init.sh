#!/bin/busybox sh
# /init of the test guest: load the 9p and vsock modules, mount the host's / read-only as the root,
# mount the read-write work share at its host path, run the command named by vmcmd= on the kernel
# command line, store its exit status in WORK/guest-rc and power off. The guest gets fresh tmpfs
# mounts on /tmp and /run; host folders under them that the guest needs (a checkout under /tmp, its
# built library) are named by vmkeep=DIR[,DIR...] and bound back at the same path on top.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules/order); do
    /bin/busybox insmod "/modules/$m.ko" || echo "init: insmod $m failed"
done
work= cmd= keep=
for arg in $(/bin/busybox cat /proc/cmdline); do
    case $arg in
        vmwork=*) work=${arg#vmwork=} ;; vmcmd=*) cmd=${arg#vmcmd=} ;; vmkeep=*) keep=${arg#vmkeep=} ;;
    esac
done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,cache=loose,ro hostroot /newroot ||
    { echo "init: cannot mount the host root"; /bin/busybox poweroff -f; }
/bin/busybox mount -t proc proc /newroot/proc
/bin/busybox mount -t sysfs sys /newroot/sys
/bin/busybox mount -t devtmpfs dev /newroot/dev
# Hold on to the kept host folders (in the initramfs) before the tmpfs mounts hide them.
n=0
for dir in $(echo "$keep" | /bin/busybox tr ',' ' '); do
    n=$((n + 1))
    /bin/busybox mkdir -p "/keep/$n"
    /bin/busybox mount -o bind "/newroot$dir" "/keep/$n" || echo "init: cannot keep $dir"
done
/bin/busybox mount -t tmpfs tmp /newroot/tmp
/bin/busybox mount -t tmpfs run /newroot/run
n=0
for dir in $(echo "$keep" | /bin/busybox tr ',' ' '); do
    n=$((n + 1))
    /bin/busybox mkdir -p "/newroot$dir"
    /bin/busybox mount -o bind "/keep/$n" "/newroot$dir" || echo "init: cannot bind $dir back"
done
/bin/busybox mkdir -p "/newroot$work" 2>/dev/null
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 work "/newroot$work" ||
    { echo "init: cannot mount the work share at $work"; /bin/busybox poweroff -f; }
/bin/busybox ip link set lo up 2>/dev/null
echo "init: running $cmd"
/bin/busybox chroot /newroot /bin/sh -c "cd '$work' && HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin '$cmd'; echo \$? > '$work/guest-rc'"
/bin/busybox sync
/bin/busybox poweroff -f
