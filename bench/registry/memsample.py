#!/usr/bin/env python3
"""Sample RssAnon and VmHWM of processes every INTERVAL seconds.

usage: memsample.py OUTFILE PHASEFILE INTERVAL NAME=PID [NAME=PID ...]

Writes one line per process per sample: "<time_ns> <phase> <name>
<RssAnon kB> <VmHWM kB> <VmRSS kB>", where <phase> is the first word of
PHASEFILE at that moment (the run script writes there which workload is
running against which server; "-" if absent). Runs until SIGTERM or until
every process has exited.
"""
import os
import signal
import sys
import time


def read_status(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "VmHWM", "VmRSS"):
                    vals[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return vals


def main():
    out, phasefile, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
    procs = [a.split("=", 1) for a in sys.argv[4:]]
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    with open(out, "a", buffering=1) as f:
        while not stop:
            alive = 0
            t = time.time_ns()
            try:
                with open(phasefile) as pf:
                    phase = (pf.read().split() or ["-"])[0]
            except FileNotFoundError:
                phase = "-"
            for name, pid in procs:
                v = read_status(pid)
                if v is None:
                    continue
                alive += 1
                f.write(f"{t} {phase} {name} {v.get('RssAnon', 0)} {v.get('VmHWM', 0)} {v.get('VmRSS', 0)}\n")
            if not alive:
                break
            time.sleep(interval)


if __name__ == "__main__":
    main()
