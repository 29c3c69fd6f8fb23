#!/bin/busybox sh
# /init of the test guest: load the 9p and vsock modules, mount the host's / read-only as the root,
# mount the read-write work share at its host path, run the command named by vmcmd= on the kernel
# command line, store its exit status in WORK/guest-rc and power off.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules/order); do
    /bin/busybox insmod "/modules/$m.ko" || echo "init: insmod $m failed"
done
work= cmd=
for arg in $(/bin/busybox cat /proc/cmdline); do
    case $arg in vmwork=*) work=${arg#vmwork=} ;; vmcmd=*) cmd=${arg#vmcmd=} ;; esac
done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,cache=loose,ro hostroot /newroot ||
    { echo "init: cannot mount the host root"; /bin/busybox poweroff -f; }
/bin/busybox mount -t proc proc /newroot/proc
/bin/busybox mount -t sysfs sys /newroot/sys
/bin/busybox mount -t devtmpfs dev /newroot/dev
/bin/busybox mount -t tmpfs tmp /newroot/tmp
/bin/busybox mount -t tmpfs run /newroot/run
/bin/busybox mkdir -p "/newroot$work" 2>/dev/null
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 work "/newroot$work" ||
    { echo "init: cannot mount the work share at $work"; /bin/busybox poweroff -f; }
/bin/busybox ip link set lo up 2>/dev/null
echo "init: running $cmd"
/bin/busybox chroot /newroot /bin/sh -c "cd '$work' && HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin '$cmd'; echo \$? > '$work/guest-rc'"
/bin/busybox sync
/bin/busybox poweroff -f
