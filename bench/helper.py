#!/usr/bin/env python3
"""What ssc's system helper costs per launch, against the user manager's path.

    python bench/helper.py [--runs N]

In the test bed (the runner installs the helper): tests/vm/run -- 'python bench/helper.py'.

Starts ``true`` with relaxed's limits, interleaved: through the user manager (``relaxed``) and
through the helper (the same limits, ``root_held = true``), and prints each median, their
ratio, and the first call, which waits for the system bus to start the helper when it is not
running. Nothing is asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELD_PROFILE = (
    'description = "relaxed, held by root (bench)"\n'
    "root_held = true\n"
    "[limits]\n"
    'MemoryMax = "70%"\n'
    'MemorySwapMax = "5%"\n'
    'OOMPolicy = "continue"\n'
)


def measure(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {result.stderr.decode().strip()}")
    return elapsed


def helper_running() -> bool:
    state = subprocess.run(
        ["systemctl", "is-active", "--quiet", "ssc-helper.service"], stdout=subprocess.DEVNULL
    )
    return state.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as config:
        profiles = Path(config, "ssc", "profiles")
        profiles.mkdir(parents=True)
        (profiles / "bench-held.toml").write_text(HELD_PROFILE)
        env = {**os.environ, "XDG_CONFIG_HOME": config}
        ways = {
            "user manager (relaxed)": ["ssc", "--isolation=relaxed", "true"],
            "system helper (root_held)": ["ssc", "--isolation=bench-held", "true"],
        }
        cold = not helper_running()
        first = measure(ways["system helper (root_held)"], env)
        times: dict[str, list[float]] = {label: [] for label in ways}
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            for label, argv in ways.items():
                times[label].append(measure(argv, env))
    medians = {label: statistics.median(runs) for label, runs in times.items()}
    base = medians["user manager (relaxed)"]
    print(f"helper benchmark: {args.runs} interleaved runs each, on {os.cpu_count()} CPUs")
    for label, median in medians.items():
        print(f"{label:<28} median {median * 1000:7.1f} ms  {median / base:5.2f}x")
    held = medians["system helper (root_held)"]
    print(f"the helper's cost per launch: {(held - base) * 1000:+.1f} ms")
    state = "the bus started the helper first" if cold else "the helper was running already"
    print(f"first held launch: {first * 1000:.1f} ms ({state})")


if __name__ == "__main__":
    main()
