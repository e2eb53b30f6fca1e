"""Limits that really hold: a memory hog killed at its ceiling, a CPU spinner held to its quota."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import page_touching

pytestmark = pytest.mark.integration


def test_memory_hog_at_ten_times_its_ceiling_is_killed_and_caller_and_session_survive(
    user_manager: str,
) -> None:
    swap_total = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("SwapTotal:")
    )
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        hog = subprocess.run(
            [
                *("ssc", "--isolation=relaxed", "--memory=50M"),
                *(sys.executable, "-c", page_touching(500)),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "survived" not in hog.stdout
        # The hog's death by the kernel's OOM kill is ssc's own exit status.
        assert hog.returncode == -signal.SIGKILL, (hog.returncode, hog.stderr)
        assert bystander.poll() is None, "a process outside the scope was hit"
        assert subprocess.run(["systemctl", "--user", "is-system-running"]).returncode == 0
    finally:
        bystander.kill()
        bystander.wait()
    if os.environ.get("SSC_TESTBED"):
        assert swap_total > 0, "the bed must have swap for this test to mean anything"


@pytest.mark.parametrize("isolation", ["relaxed", "strict"])
def test_a_shell_whose_child_hits_the_ceiling_lives_on_and_sees_137(
    user_manager: str, isolation: str
) -> None:
    """OOMPolicy=continue: the kernel kills the process that ran over, the scope lives on."""
    hog = f"{sys.executable} -c {shlex.quote(page_touching(640))}"
    result = subprocess.run(
        [
            *("ssc", f"--isolation={isolation}", "--memory=64M", "--"),
            *("bash", "-c", f'{hog}; echo "child exited $?"; cat /proc/$$/cgroup'),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "survived" not in lines
    assert "child exited 137" in lines
    assert re.search(r"/app-ssc-bash-[0-9]+\.scope$", lines[-1]), lines


def test_the_scope_carries_the_profiles_oom_policy(user_manager: str) -> None:
    script = (
        "systemctl --user show -p OOMPolicy --value $(basename $(cut -d: -f3 /proc/self/cgroup))"
    )
    result = subprocess.run(
        ["ssc", "--isolation=relaxed", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "continue", result.stderr


SPINNER = textwrap.dedent("""
    import multiprocessing, os, time

    def spin(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass

    cgroup = open("/proc/self/cgroup").read().split("::", 1)[1].strip()
    stat = "/sys/fs/cgroup" + cgroup + "/cpu.stat"

    def usage():
        for line in open(stat):
            key, value = line.split()
            if key == "usage_usec":
                return int(value)

    start_usage, start = usage(), time.monotonic()
    workers = [multiprocessing.Process(target=spin, args=(5,)) for _ in range(os.cpu_count())]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    used = usage() - start_usage
    print(used / ((time.monotonic() - start) * 1_000_000))
""")


def test_cpu_spinner_under_half_a_cpu_quota_uses_at_most_55_percent(user_manager: str) -> None:
    result = subprocess.run(
        ["ssc", "--isolation=relaxed", "--cpu=50%", sys.executable, "-c", SPINNER],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    share_of_one_cpu = float(result.stdout.strip())
    assert share_of_one_cpu <= 0.55
    assert share_of_one_cpu >= 0.25, "the spinners hardly ran: the measurement shows nothing"


def test_profile_limits_reach_the_scope(user_manager: str) -> None:
    """strict: CPU on all cores but one; memory and swap bounded as the profile says."""
    script = (
        "d=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); "
        "cat $d/cpu.max $d/memory.max $d/memory.high $d/memory.swap.max"
    )
    result = subprocess.run(
        ["ssc", "--isolation=strict", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    cpu_max, memory_max, memory_high, swap_max = result.stdout.split("\n")[:4]
    quota, period = (int(x) for x in cpu_max.split())
    assert quota / period == max(1, (os.cpu_count() or 1) - 1)
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert int(memory_max) == pytest.approx(0.70 * physical, rel=0.01)
    assert int(memory_high) == pytest.approx(0.65 * physical, rel=0.01)
    assert int(swap_max) == pytest.approx(0.05 * physical, rel=0.01)
