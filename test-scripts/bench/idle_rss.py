#!/usr/bin/env python3
"""Idle-RSS probe for the sockswap benchmark.

Usage: idle_rss.py LIB REPS RULES
Starts an idle python3 child (it creates one socket, prints "ready", sleeps)
REPS times without and REPS times with LD_PRELOAD=LIB (alternating), reads
VmRSS from /proc/PID/status once the child signals readiness, and prints
TSV lines "rss_kb<TAB>base|shim<TAB>KB" on stdout. Exit 1 on any failure.
"""
import os
import select
import subprocess
import sys

CHILD = ("import socket,sys,time\n"
         "s=socket.socket()\n"
         "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
         "time.sleep(120)\n")


def measure(lib, rules, preload):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKSWAP_RULES", None)
    if preload:
        env["LD_PRELOAD"] = lib
        env["SOCKSWAP_RULES"] = rules
    p = subprocess.Popen([sys.executable, "-c", CHILD], env=env,
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        r, _, _ = select.select([p.stdout], [], [], 30)
        line = p.stdout.readline().decode() if r else ""
        if line.strip() != "ready":
            raise RuntimeError("child did not signal readiness (rc=%s)" % p.poll())
        with open("/proc/%d/maps" % p.pid) as f:
            loaded = "sockswap" in f.read()
        if loaded != preload:
            raise RuntimeError("shim %s mapped in the %s child" %
                               ("is" if loaded else "is not", "shim" if preload else "base"))
        with open("/proc/%d/status" % p.pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
        raise RuntimeError("no VmRSS line")
    finally:
        p.kill()
        p.wait()


def main():
    lib, reps, rules = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        for i in range(reps):
            order = (False, True) if i % 2 == 0 else (True, False)
            for preload in order:
                kb = measure(lib, rules, preload)
                print("rss_kb\t%s\t%d" % ("shim" if preload else "base", kb), flush=True)
    except Exception as e:  # report, harness turns it into a FAILED row
        print("idle_rss: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
