#!/usr/bin/env python3
"""How the session fares when contained apps grow at once: with and without the shared ceiling.

    python bench/shared.py [--grow MB] [--without]

In the test bed: tests/vm/run -- 'python bench/shared.py; python bench/shared.py --without'.

A session stand-in runs outside ssc, in session.slice, as GNOME Shell does: it holds 300 MB and
writes to every page of it every 100 ms, timing each pass. Two contained apps
(``ssc --isolation=relaxed --memory=60%``) then grow to MB each at once. The figures printed are
the stand-in's passes before (idle) and during the growth: median and worst, and the longest
time it went without completing a pass, plus how each app ended. ``--without`` lifts the shared
ceiling first (``MemoryMax = "infinity"`` in shared.toml), as ssc was before it had one. Nothing
is asserted: the figures depend on the machine. What it started is stopped, and shared.toml is
put back as it was.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

UNIT = f"ssc-bench-session-{os.getpid()}.service"
STANDIN = textwrap.dedent("""
    import sys, time
    PAGE = 4096
    size = 300 * 1024 * 1024
    held = bytearray(size)
    out = open(sys.argv[1], "w", buffering=1)
    value = 0
    while True:
        value = (value + 1) % 256
        started = time.monotonic()
        held[::PAGE] = bytes([value]) * (size // PAGE)
        out.write(f"{time.time():.3f} {time.monotonic() - started:.4f}\\n")
        time.sleep(0.1)
""")
GROW = textwrap.dedent("""
    import time
    chunks = []
    for _ in range({mb} // 50):
        chunk = bytearray(50 * 1024 * 1024)
        chunk[::4096] = b"x" * len(chunk[::4096])
        chunks.append(chunk)
    time.sleep(5)
""")


def passes(path: Path) -> list[tuple[float, float]]:
    rows = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
    return [(float(row[0]), float(row[1])) for row in rows if len(row) == 2]


def shared_file() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "ssc" / "shared.toml"


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/shared.py")
    parser.add_argument("--grow", type=int, default=1500, metavar="MB", help="each app's growth")
    parser.add_argument("--without", action="store_true", help="lift the shared ceiling first")
    args = parser.parse_args()
    config = shared_file()
    saved = config.read_text() if config.exists() else None
    work = Path(tempfile.mkdtemp(prefix="ssc-bench-shared-"))
    record = work / "passes.txt"
    try:
        if args.without:
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text('[limits]\nMemoryMax = "infinity"\nMemorySwapMax = "infinity"\n')
        subprocess.run(["ssc", "--isolation=relaxed", "true"], check=True)  # the slice, set up
        ceiling = (
            (
                Path(
                    f"/sys/fs/cgroup/user.slice/user-{os.getuid()}.slice/user@{os.getuid()}.service"
                )
                / "app.slice/app-ssc.slice/memory.max"
            )
            .read_text()
            .strip()
        )
        subprocess.run(
            [
                *("systemd-run", "--user", "--quiet", "--slice=session.slice", f"--unit={UNIT}"),
                *("--", sys.executable, "-c", STANDIN, str(record)),
            ],
            check=True,
        )
        while len(passes(record)) < 30:
            time.sleep(0.5)
        idle = [took for _, took in passes(record)]
        started = time.time()
        script = f'"{sys.executable}" -c "$GROW"; echo "$?"'
        apps = [
            subprocess.Popen(
                [
                    *(
                        "ssc",
                        "--isolation=relaxed",
                        "--memory=60%",
                        f"--name=org.ssc.bench.Grow{n}",
                    ),
                    *("--", "sh", "-c", script),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "GROW": GROW.format(mb=args.grow)},
            )
            for n in ("A", "B")
        ]
        endings = [app.communicate()[0].strip() for app in apps]
        finished = time.time()
        during = [(at, took) for at, took in passes(record) if started <= at]
        times = [started, *(at for at, _ in during), finished]
        stalled = max(later - earlier for earlier, later in itertools.pairwise(times))
        active = subprocess.run(
            ["systemctl", "--user", "is-active", UNIT], capture_output=True, text=True
        ).stdout.strip()
    finally:
        subprocess.run(["systemctl", "--user", "stop", UNIT], capture_output=True)
        if args.without:
            if saved is None:
                config.unlink(missing_ok=True)
            else:
                config.write_text(saved)
            subprocess.run(["ssc", "--isolation=relaxed", "true"], check=False)
    took = [t for _, t in during]
    print(f"shared ceiling: {'none (--without)' if args.without else ceiling}")
    print(f"two apps growing to {args.grow} MB each at once, for {finished - started:.1f} s:")
    print(f"  stand-in idle pass   median {statistics.median(idle):.3f} s, worst {max(idle):.3f} s")
    if took:
        median, worst = statistics.median(took), max(took)
        print(f"  during the growth    median {median:.3f} s, worst {worst:.3f} s")
    print(f"  longest without a completed pass {stalled:.2f} s; stand-in {active}")
    print(f"  the apps' growers exited with {', '.join(endings)} (137: killed at a ceiling)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
