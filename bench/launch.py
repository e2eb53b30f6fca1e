#!/usr/bin/env python3
"""Launch latency: ssc against the bare command and ``systemd-run --user --scope``.

    python bench/launch.py [--runs N]

In the test bed: tests/vm/run -- 'python bench/launch.py'.

Prints, from one run, the median wall time and peak memory of each way to start ``true``, and
each median's ratio to systemd-run, then what the supervisor (the process that stays outside
the app's scope while the app runs) and strict's bus proxy hold. The goal is relaxed <= 2x
systemd-run. Nothing is asserted: the figures depend on the machine, and these machines are
shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "true": ["true"],
    # Where ssc's time goes: the interpreter, then importing the launch path.
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import ssc.cli'": [sys.executable, "-c", "import ssc.cli"],
    "systemd-run --user --scope -q true": ["systemd-run", "--user", "--scope", "-q", "true"],
    "ssc --isolation=relaxed true": ["ssc", "--isolation=relaxed", "true"],
    "ssc --isolation=strict true": ["ssc", "--isolation=strict", "true"],
}
BASELINE = "systemd-run --user --scope -q true"


def measure(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident KiB of one run (the peak includes ssc before its exec)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed with exit status {proc.returncode}")
    return elapsed, usage.ru_maxrss


def import_cost() -> str:
    """What importing the launch path costs, by Python's own -X importtime."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ssc.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    total = next(
        int(m.group(1))
        for line in rows
        if (m := re.match(r"import time:\s+\d+ \|\s+(\d+) \| ssc\.cli$", line))
    )
    return f"import ssc.cli: {total / 1000:.1f} ms cumulative, {len(rows)} modules"


def supervisor_memory() -> str:
    """What the supervisor holds while its app runs: resident, anonymous and private memory.

    Once the app has replaced the child by ``exec``, the supervisor shares no anonymous page
    with it, so its anonymous and private memory is what it costs; its file pages (the
    interpreter's code) are shared with every other Python process.
    """
    proc = subprocess.Popen(["ssc", "--isolation=relaxed", "sleep", "30"])
    try:
        deadline = time.monotonic() + 60
        while not _runs_sleep(_children(proc.pid)):
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("ssc did not start its app under a supervisor")
            time.sleep(0.05)
        return _memory_line("supervisor while its app runs", proc.pid)
    finally:
        proc.kill()
        proc.wait()


def proxy_memory() -> str:
    """What strict's bus proxy (xdg-dbus-proxy, in the app's scope) holds while its app runs."""
    proc = subprocess.Popen(["ssc", "--isolation=strict", "sleep", "30"])
    try:
        deadline = time.monotonic() + 60
        while not (proxies := _processes_named("xdg-dbus-proxy")) or not _processes_named("sleep"):
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("ssc did not start a bus proxy under strict")
            time.sleep(0.05)
        return _memory_line("bus proxy under strict", proxies[0])
    finally:
        proc.kill()
        proc.wait()


def proxy_start_time(runs: int) -> str:
    """How long xdg-dbus-proxy takes from exec to listening (its ready byte), alone."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or f"unix:path={runtime}/bus"
    socket = os.path.join(runtime, f"bench-proxy-{os.getpid()}")
    times = []
    for _ in range(runs):
        read_end, write_end = os.pipe()
        start = time.perf_counter()
        proxy = subprocess.Popen(
            ["xdg-dbus-proxy", f"--fd={write_end}", bus, socket, "--filter"],
            pass_fds=[write_end],
        )
        os.close(write_end)
        os.read(read_end, 1)
        times.append(time.perf_counter() - start)
        os.close(read_end)  # the proxy sees the hang-up and exits
        proxy.wait()
    return (
        f"xdg-dbus-proxy alone, exec to listening: median {statistics.median(times) * 1000:.1f}ms"
    )


def _processes_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def _runs_sleep(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "sleep":
                return True
        except OSError:
            pass
    return False


def _memory_line(label: str, pid: int) -> str:
    status = _fields(f"/proc/{pid}/status")
    rollup = _fields(f"/proc/{pid}/smaps_rollup")
    private = rollup["Private_Clean"] + rollup["Private_Dirty"]
    return (
        f"{label}: RSS {status['VmRSS']} KiB (anonymous {status['RssAnon']} KiB, "
        f"file {status['RssFile']} KiB), private {private} KiB, PSS {rollup['Pss']} KiB"
    )


def _fields(path: str) -> dict[str, int]:
    """``Key:   123 kB`` lines as {Key: 123}."""
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            words = rest.split()
            if len(words) == 2 and words[1] == "kB":
                fields[key] = int(words[0])
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm-up: page cache, bytecode caches, bwrap probe marker
        measure(argv)
    results: dict[str, tuple[float, int]] = {}
    for label, argv in COMMANDS.items():
        runs = [measure(argv) for _ in range(args.runs)]
        results[label] = (
            statistics.median(wall for wall, _ in runs),
            max(rss for _, rss in runs),
        )
    baseline = results[BASELINE][0]
    print(f"launch benchmark: {args.runs} runs each, median wall time, on {os.cpu_count()} CPUs")
    print(f"{'command':<40} {'median':>10} {'vs systemd-run':>15} {'peak RSS':>10}")
    for label, (median, rss) in results.items():
        print(f"{label:<40} {median * 1000:>8.1f}ms {median / baseline:>14.2f}x {rss:>7} KiB")
    print(import_cost())
    print(supervisor_memory())
    print(proxy_memory())
    print(proxy_start_time(args.runs))
    ratio = results["ssc --isolation=relaxed true"][0] / baseline
    print(f"goal relaxed <= 2x systemd-run: {'met' if ratio <= 2 else 'not met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
