#!/usr/bin/env python3
"""Runs a command N times (output discarded) and prints, tab-separated, the median wall time
in ms, the median CPU time (user + sys) in ms and the largest peak resident memory in MB of
the runs, from the kernel's rusage of each child. Fails when a run fails.

    bench-time.py N COMMAND [ARG...]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    n, command = int(sys.argv[1]), sys.argv[2:]
    walls, cpus, peak = [], [], 0
    for _ in range(n):
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)
            walls.append((time.perf_counter() - start) * 1000)
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                err.seek(0)
                sys.stderr.write(err.read().decode(errors="replace")[-2000:])
                sys.exit(f"{' '.join(command)}: exit status {code}")
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
        peak = max(peak, usage.ru_maxrss / 1024)
    print(f"{statistics.median(walls):.0f}\t{statistics.median(cpus):.0f}\t{peak:.0f}")


if __name__ == "__main__":
    main()
