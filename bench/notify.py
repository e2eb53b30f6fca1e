#!/usr/bin/env python3
"""What the notification watcher (ssc-notify.service) costs while nothing happens, and how soon
it tells of a kill.

    python bench/notify.py [--idle SECONDS] [--scopes N]

In the test bed: tests/vm/run -- 'python bench/notify.py'.

It enables the watcher (``sscctl notify enable``) with a stand-in notification server on the
session bus, starts N idle contained apps, and reads the watcher's CPU time (utime + stime of
/proc/PID/stat), wakeups (context switches of /proc/PID/status) and memory (VmRSS, VmHWM) over
the idle seconds. Then one hog runs into a 64M ceiling, and the time from the kill to the
Notify call is printed. Nothing is asserted: the figures depend on the machine. Everything it
started is stopped and the watcher disabled at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOG = (
    "chunks = []\n"
    "for _ in range(64):\n"
    "    chunk = bytearray(10 * 1024 * 1024)\n"
    "    chunk[::4096] = b'x' * len(chunk[::4096])\n"
    "    chunks.append(chunk)\n"
)


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def proc_figures(pid: int) -> dict[str, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    figures = {"cpu_seconds": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
            figures[key] = float(value.split()[0])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=10.0, help="idle seconds measured")
    parser.add_argument("--scopes", type=int, default=3, help="idle contained apps watched")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ssc-bench-notify-"))
    record = work / "notifications.jsonl"
    record.touch()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.standins.notifications", "--record", str(record)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    if not select.select([server.stdout], [], [], 60)[0] or server.stdout.readline() != "ready\n":
        sys.exit("the stand-in notification server did not start")
    apps: list[subprocess.Popen[bytes]] = []
    try:
        run("sscctl", "notify", "enable")
        pid = int(run("systemctl", "--user", "show", "--property=MainPID", "--value", "ssc-notify"))
        for n in range(args.scopes):
            name = f"--name=org.ssc.bench.idle{n}"
            apps.append(subprocess.Popen(["ssc", "--isolation=relaxed", name, "sleep", "600"]))
        time.sleep(3)  # the apps are up and watched
        watched = len(json.loads(run("sscctl", "ps", "--json")))
        before = proc_figures(pid)
        time.sleep(args.idle)
        after = proc_figures(pid)
        cpu = after["cpu_seconds"] - before["cpu_seconds"]
        wakeups = sum(
            after[key] - before[key]
            for key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        )
        print(f"watcher idle over {args.idle:g} s with {watched} contained apps running:")
        print(f"  CPU time   {cpu:.3f} s ({cpu / args.idle * 100:.2f} % of one CPU)")
        print(f"  wakeups    {wakeups:.0f} (context switches)")
        print(
            f"  memory     VmRSS {after['VmRSS'] / 1024:.1f} MiB,"
            f" VmHWM {after['VmHWM'] / 1024:.1f} MiB"
        )

        hog = work / "hog.py"
        hog.write_text(HOG)
        script = 'python3 "$0"; date +%s.%N; sleep 3'
        result = subprocess.run(
            [
                "ssc",
                "--isolation=relaxed",
                "--memory=64M",
                "--name=org.ssc.bench.hog",
                "--",
                "bash",
                "-c",
                script,
                str(hog),
            ],
            capture_output=True,
            text=True,
        )
        killed_at = float(result.stdout.split()[-1]) if result.stdout.strip() else None
        calls = [json.loads(line) for line in record.read_text().splitlines()]
        if calls and killed_at is not None:
            print(f"  a kill at 64M was told {calls[0]['time'] - killed_at:.2f} s after it")
            print(f"    {calls[0]['summary']} — {calls[0]['body']}")
        else:
            print(
                f"  a kill at 64M: {len(calls)} notification(s); the shell said {result.stdout!r}"
            )
    finally:
        for app in apps:
            app.terminate()
        subprocess.run(
            ["systemctl", "--user", "kill", "--signal=SIGKILL", "app-ssc-org.ssc.bench*"]
        )
        for app in apps:
            app.wait()
        subprocess.run(["sscctl", "notify", "disable"], capture_output=True)
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
