#!/usr/bin/env python3
"""Launch latency: ssc against the bare command and ``systemd-run --user --scope``.

    python bench/launch.py [--rounds N]

In the test bed: tests/vm/run -- 'python bench/launch.py'. On a desktop, run it in the session.

Two phases, each of N interleaved rounds (every way to start ``true`` once per round, so a
slow moment of the machine hits them all alike): launches starting their own scopes, then
launches through ssc's agent (``sscctl agent enable``; the agent's state is restored after).
Each prints the median wall time and peak memory of each way, its ratio to systemd-run, and
where ssc's time goes, from ``-X importtime`` and ``ssc --debug``'s timing lines: imports, the
bus round trips, the kernel read-back, the bus proxy's start. Then what the supervisor, the
bus proxy and the agent hold while an app runs. Goals: relaxed <= 1.5x systemd-run, strict
<= 1.3x relaxed. Nothing is asserted: the figures depend on the machine, and these machines
are shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "true": ["true"],
    "python -c pass": [sys.executable, "-c", "pass"],
    "systemd-run --user --scope -q true": ["systemd-run", "--user", "--scope", "-q", "true"],
    "ssc --isolation=relaxed true": ["ssc", "--isolation=relaxed", "true"],
    "ssc --isolation=strict true": ["ssc", "--isolation=strict", "true"],
}
BASELINE = "systemd-run --user --scope -q true"
RELAXED = "ssc --isolation=relaxed true"
STRICT = "ssc --isolation=strict true"
GOAL_RELAXED = 1.5  # x systemd-run
GOAL_STRICT = 1.3  # x relaxed
# What the interpreter imports before any code of ssc's runs (python -X importtime -c pass).
STARTUP_MODULES = frozenset(
    {
        "_io",
        "marshal",
        "posix",
        "_frozen_importlib_external",
        "time",
        "zipimport",
        "encodings",
        "encodings.utf_8",
        "_signal",
        "io",
        "site",
        "_codecs",
        "codecs",
        "abc",
        "_abc",
    }
)
# ssc --debug's figures: "ssc: timing: ... started the scope in 81.4 ms, ..."
_TIMING = re.compile(r"(?P<what>[a-z][a-z ]*?) in (?P<ms>[0-9.]+) ms")


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


def interleaved(rounds: int) -> dict[str, tuple[float, int]]:
    """Median wall time and peak RSS of each command, over ``rounds`` interleaved rounds."""
    for argv in COMMANDS.values():  # warm-up: page cache, bytecode, bwrap probe, the agent
        measure(argv)
    runs: dict[str, list[tuple[float, int]]] = {label: [] for label in COMMANDS}
    for _ in range(rounds):
        for label, argv in COMMANDS.items():
            runs[label].append(measure(argv))
    return {
        label: (statistics.median(w for w, _ in found), max(r for _, r in found))
        for label, found in runs.items()
    }


def print_table(phase: str, results: dict[str, tuple[float, int]], rounds: int) -> None:
    baseline = results[BASELINE][0]
    print(f"\n== {phase}: {rounds} interleaved rounds, median wall time, {os.cpu_count()} CPUs")
    print(f"{'command':<40} {'median':>10} {'vs systemd-run':>15} {'peak RSS':>10}")
    for label, (median, rss) in results.items():
        print(f"{label:<40} {median * 1000:>8.1f}ms {median / baseline:>14.2f}x {rss:>7} KiB")
    relaxed = results[RELAXED][0] / baseline
    strict = results[STRICT][0] / results[RELAXED][0]
    relaxed_met = _met(relaxed <= GOAL_RELAXED)
    print(f"goal relaxed <= {GOAL_RELAXED}x systemd-run: {relaxed_met} ({relaxed:.2f}x)")
    print(f"goal strict <= {GOAL_STRICT}x relaxed: {_met(strict <= GOAL_STRICT)} ({strict:.2f}x)")


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def breakdown(runs: int) -> None:
    """Where a launch's time goes: imports, then ssc --debug's own figures (medians)."""
    print(import_cost("relaxed"))
    print(import_cost("strict"))
    for profile in ("relaxed", "strict"):
        figures: dict[str, list[float]] = {}
        for _ in range(runs):
            result = subprocess.run(
                ["ssc", "--debug", f"--isolation={profile}", "true"],
                capture_output=True,
                text=True,
                check=True,
            )
            for line in result.stderr.splitlines():
                if line.startswith("ssc: timing: "):
                    for match in _TIMING.finditer(line):
                        figures.setdefault(match["what"].strip(), []).append(float(match["ms"]))
        parts = ", ".join(f"{what} {statistics.median(ms):.1f}" for what, ms in figures.items())
        print(f"{profile}, ssc --debug's figures (median ms): {parts}")


def import_cost(profile: str) -> str:
    """What a launch imports before its exec, by Python's own -X importtime (which adds to it).

    The interpreter's own start-up (site, encodings…) is told apart from what ssc imports.
    """
    script = shutil.which("ssc")
    if script is None:
        sys.exit("ssc is not on PATH")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", script, f"--isolation={profile}", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    top: list[tuple[str, int]] = []
    for line in rows[1:]:  # the first is the header
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # one space: imported at the top level, not by a module
            top.append((name.strip(), int(cumulative)))
    before = sum(us for name, us in top if name in STARTUP_MODULES)
    after = sum(us for name, us in top if name not in STARTUP_MODULES)
    costly = sorted(((us, name) for name, us in top if name not in STARTUP_MODULES), reverse=True)
    names = ", ".join(f"{name} {us / 1000:.1f}" for us, name in costly[:8])
    return (
        f"{profile}: imports before exec {len(rows) - 1} modules: interpreter start-up "
        f"{before / 1000:.1f} ms, the launch's own {after / 1000:.1f} ms (costliest: {names})"
    )


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


def agent_memory() -> str:
    """What the agent holds between launches."""
    pid = subprocess.run(
        ["systemctl", "--user", "show", "-P", "MainPID", "ssc-agent.service"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not pid.isdigit() or pid == "0":
        return "agent: not running"
    return _memory_line("agent between launches", int(pid))


def agent_installed() -> bool:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return (Path(config) / "systemd" / "user" / "ssc-agent.socket").exists()


def set_agent(enabled: bool) -> None:
    subprocess.run(
        ["sscctl", "agent", "enable" if enabled else "disable"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    was_installed = agent_installed()
    try:
        for phase, enabled in (("without the agent", False), ("through ssc-agent", True)):
            set_agent(enabled)
            print_table(phase, interleaved(args.rounds), args.rounds)
            breakdown(args.rounds)
            print(proxy_start_time(args.rounds))
            print(supervisor_memory())
            print(proxy_memory())
            if enabled:
                print(agent_memory())
    finally:
        set_agent(was_installed)


if __name__ == "__main__":
    main()
