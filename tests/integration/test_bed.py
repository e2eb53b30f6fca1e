"""Self-test of the real-systemd test bed: can it show containment at all?

These come first: if they fail, no other integration result means anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CGROUP_ROOT

pytestmark = pytest.mark.integration

# Touches every page, so the memory is really used (a bare bytearray(n) gets untouched zero pages).
HOG = "b = bytearray({mb} * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('survived')"


def test_cgroup2_is_mounted() -> None:
    filesystems = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    assert any(
        mount == str(CGROUP_ROOT) and kind == "cgroup2" for _, mount, kind, *_ in filesystems
    )


def test_user_manager_is_running(user_manager: str) -> None:
    assert user_manager == "running"


def test_cpu_memory_pids_are_delegated_to_the_user_manager(user_manager: str) -> None:
    uid = os.getuid()
    manager = CGROUP_ROOT / f"user.slice/user-{uid}.slice/user@{uid}.service"
    controllers = set((manager / "cgroup.controllers").read_text().split())
    assert {"cpu", "memory", "pids"} <= controllers


@pytest.mark.skipif(not os.environ.get("SSC_TESTBED"), reason="only the bed is known to have swap")
def test_the_bed_has_swap_as_desktops_do() -> None:
    swaps = Path("/proc/swaps").read_text().splitlines()[1:]
    assert swaps, "no swap: a memory test could pass only because there was nowhere to swap to"


def test_systemd_run_scope_kills_a_hog_at_its_ceiling_and_the_caller_survives(
    user_manager: str,
) -> None:
    hog = subprocess.run(
        [
            *("systemd-run", "--user", "--scope", "--quiet", "--collect"),
            *("-p", "MemoryMax=50M", "-p", "MemorySwapMax=0"),
            *(sys.executable, "-c", HOG.format(mb=200)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "survived" not in hog.stdout
    assert hog.returncode == -signal.SIGKILL, hog.stderr
    # The caller (this test process) is alive to assert this, and so is the manager:
    assert subprocess.run(["systemctl", "--user", "is-system-running"]).returncode == 0
