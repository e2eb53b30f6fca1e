#!/usr/bin/env python3
"""Launch latency: ssc against the bare command and ``systemd-run --user --scope``.

    python bench/launch.py [--runs N]

In the test bed: tests/vm/run -- 'python bench/launch.py'.

Prints, from one run, the median wall time and peak memory of each way to start ``true``, and
each median's ratio to systemd-run. The goal is relaxed <= 2x systemd-run. Nothing is
asserted: the figures depend on the machine, and these machines are shared and noisy.
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
    ratio = results["ssc --isolation=relaxed true"][0] / baseline
    print(f"goal relaxed <= 2x systemd-run: {'met' if ratio <= 2 else 'not met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
