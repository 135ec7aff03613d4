#!/usr/bin/env python3
"""Writes a workspace for the scale benchmarks of scripts/bench.sh.

    gen-scale.py routines DIR N [--files F] [--listen ADDR] [--hourly]
        N routines (heartbeat, a cron schedule varied over 360 distinct expressions) in one
        file, or spread over F files (desired/routines-NNN.yaml).
    gen-scale.py probes DIR N URL [--listen ADDR] [--concurrency C]
        N integrations, each with an http probe of URL every 1s.

Each routine is due once a year, at 03:00-08:59 on a day from 1 to 28 of a month five months
from now: never within a benchmark's window, so a daemon on this workspace has nothing due
(the idle figure), while the 360 distinct cron expressions keep validation realistic. With
--hourly the schedules are those of cron jobs run every 1 to 6 hours (`M */H * * *`), as
routines that ping are.
The settings file (mission-control.yaml) names the listen address (default 127.0.0.1:0, a free
port), turns the OpenClaw collector off and sets the probe concurrency when asked.
"""
import argparse
import datetime
import os


def settings(args):
    text = f"listen: {args.listen}\nopenclaw: {{enabled: false}}\n"
    if getattr(args, "concurrency", None):
        text += f"limits: {{probe_concurrency: {args.concurrency}}}\n"
    with open(os.path.join(args.dir, "mission-control.yaml"), "w") as f:
        f.write(text)


def routines(args):
    # A month other than this one and the next, so no schedule falls due during a run.
    month = (datetime.datetime.now(datetime.timezone.utc).month + 5) % 12 + 1
    docs = []
    for i in range(args.n):
        k = i % 360  # 360 distinct expressions
        if args.hourly:
            schedule = f"{k % 60} */{1 + k // 60} * * *"
        else:
            schedule = f"{k % 60} {3 + k // 60} {1 + k % 28} {month} *"
        docs.append(
            f"kind: Routine\nid: r{i}\nowner: Automation:bench\nschedule: \"{schedule}\"\n"
            f"grace: 1h\nobserve:\n  heartbeat: {{}}\n"
        )
    write_docs(args.dir, docs, args.files, "routines")


def probes(args):
    docs = []
    for i in range(args.n):
        docs.append(
            f"kind: Integration\nid: i{i}\ntype: http\nevery: 1s\nobserve:\n  http:\n"
            f"    url: {args.url}\n    timeout: 5s\n"
        )
    write_docs(args.dir, docs, args.files, "integrations")


def write_docs(root, docs, files, stem):
    desired = os.path.join(root, "desired")
    os.makedirs(desired, exist_ok=True)
    if files <= 1:
        with open(os.path.join(desired, f"{stem}.yaml"), "w") as f:
            f.write("---\n".join(docs))
        return
    per = -(-len(docs) // files)
    for k in range(files):
        part = docs[k * per:(k + 1) * per]
        if part:
            with open(os.path.join(desired, f"{stem}-{k:03}.yaml"), "w") as f:
                f.write("---\n".join(part))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("routines")
    r.add_argument("dir")
    r.add_argument("n", type=int)
    r.add_argument("--files", type=int, default=1)
    r.add_argument("--listen", default="127.0.0.1:0")
    r.add_argument("--hourly", action="store_true")
    p = sub.add_parser("probes")
    p.add_argument("dir")
    p.add_argument("n", type=int)
    p.add_argument("url")
    p.add_argument("--files", type=int, default=1)
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--concurrency", type=int)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    {"routines": routines, "probes": probes}[args.what](args)
    settings(args)


if __name__ == "__main__":
    main()
