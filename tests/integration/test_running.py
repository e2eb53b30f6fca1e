"""sscctl ps / top / set / stop against real scopes: real usage, real ceilings, real stops."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from ssc.unit_names import escape_app_id

from .conftest import CGROUP_ROOT, own_scope_of, ssc_units

pytestmark = pytest.mark.integration

MiB = 1024**2
APP = "org.ssc.test.Running"
# Uses 40 MiB for real (every page touched), then says so and waits.
ALLOCATE = (
    "import time\n"
    "block = bytearray(40 * 1024 * 1024)\n"
    "block[::4096] = b'x' * len(block[::4096])\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def sscctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sscctl", *args], capture_output=True, text=True, timeout=300)


@contextmanager
def contained(app_id: str, *options: str) -> Iterator[subprocess.Popen[str]]:
    """An app holding 40 MiB in its own scope, until the block ends (then it is killed)."""
    process = subprocess.Popen(
        [
            "ssc",
            "--isolation=relaxed",
            f"--name={app_id}",
            *options,
            "--",
            sys.executable,
            "-c",
            ALLOCATE,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 180)
        assert ready, f"{app_id} did not start"
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        if process.poll() is None:
            pattern = f"app-ssc-{escape_app_id(app_id)}-*.scope"
            subprocess.run(["systemctl", "--user", "kill", "--signal=SIGKILL", pattern])
            process.wait(timeout=60)


def ps_records() -> list[dict[str, object]]:
    result = sscctl("ps", "--json")
    assert result.returncode == 0, result.stderr
    records: list[dict[str, object]] = json.loads(result.stdout)["apps"]
    return records


def record_of(app_id: str) -> dict[str, object]:
    mine = [record for record in ps_records() if record["app"] == app_id]
    assert len(mine) == 1, mine
    return mine[0]


def cgroup_of(record: dict[str, object]) -> Path:
    pids = record["pids"]
    assert isinstance(pids, list)
    assert pids
    return CGROUP_ROOT / own_scope_of(pids[0]).lstrip("/")


def no_unit_left(seconds: float = 15) -> bool:
    """Whether every ssc scope is gone (a stopped one is collected a moment after its job)."""
    deadline = time.monotonic() + seconds
    while ssc_units():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, first: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == first
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Hint: "))


def test_ps_shows_a_running_apps_real_usage_and_ceiling_as_text_and_json(
    user_manager: str,
) -> None:
    assert sscctl("ps").stdout == "No contained apps are running.\n"
    with contained(APP, "--memory=256M", "--cpu=150%"):
        record = record_of(APP)
        unit = record["unit"]
        assert isinstance(unit, str)
        assert unit.startswith(f"app-ssc-{APP}-")
        assert record["profile"] == "relaxed"
        assert record["memory_max"] == 256 * MiB
        current, peak = record["memory_current"], record["memory_peak"]
        assert isinstance(current, int)
        assert isinstance(peak, int)
        assert 40 * MiB <= current <= 256 * MiB
        assert current <= peak <= 256 * MiB
        assert record["cpu_quota"] == 150.0
        assert record["oom_kills"] == 0
        # the PIDs listed are the processes in the scope, as the kernel has them
        cgroup = cgroup_of(record)
        assert cgroup.name == unit
        kernel_pids = sorted(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
        assert sorted(record["pids"]) == kernel_pids  # type: ignore[type-var]

        text = sscctl("ps")
        assert text.returncode == 0, text.stderr
        header, *rows = text.stdout.splitlines()
        assert header.split()[:5] == ["APP", "PROFILE", "MEMORY", "PEAK", "CEILING"]
        (row,) = (r for r in rows if r.startswith(APP))
        cells = row.split()
        assert cells[1] == "relaxed"
        assert cells[4] == "256M"
        assert cells[8] == "150%"

        verbose = sscctl("ps", "-v").stdout
        assert f"  {unit}\n" in verbose
        for pid in kernel_pids:
            assert f" {pid} " in verbose


def test_top_breaks_an_app_into_its_processes(user_manager: str) -> None:
    with contained(APP, "--memory=256M"):
        pids = record_of(APP)["pids"]
        result = sscctl("top", "-n", "1", "-d", "0.5")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("sscctl top — 1 contained app — ")
        assert any(line.startswith(APP) for line in lines)
        assert isinstance(pids, list)
        for pid in pids:
            assert any(line.split()[:1] == [str(pid)] for line in lines), result.stdout


def test_set_changes_a_running_apps_limits_and_the_cgroup_holds_them(user_manager: str) -> None:
    with contained(APP, "--memory=256M", "--cpu=150%"):
        cgroup = cgroup_of(record_of(APP))
        result = sscctl("set", APP, "--memory=300M", "--cpu=50%")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{APP} ({cgroup.name}): ")
        assert "memory 256M → 300M, CPU 150% → 50%" in result.stdout
        assert (cgroup / "memory.max").read_text().strip() == str(300 * MiB)
        assert (cgroup / "cpu.max").read_text().split() == ["50000", "100000"]
        assert record_of(APP)["memory_max"] == 300 * MiB


def test_bad_targets_and_values_are_clean_errors_that_change_nothing(user_manager: str) -> None:
    with contained(APP, "--memory=256M", "--cpu=150%") as app:
        cgroup = cgroup_of(record_of(APP))
        assert_clean_error(
            sscctl("set", "nosuchapp", "--memory=1G"),
            1,
            "sscctl: nosuchapp: no such app is running contained",
        )
        assert_clean_error(
            sscctl("set", "app-ssc-nosuch-00000000000000000001.scope", "--cpu=50%"),
            1,
            "sscctl: app-ssc-nosuch-00000000000000000001.scope: no such ssc scope is running",
        )
        assert_clean_error(
            sscctl("set", APP, "--memory=lots"),
            2,
            "sscctl: invalid --memory: 'lots' is not a size (like 512M, 4G) or a percentage"
            " (like 70%)",
        )
        assert_clean_error(
            sscctl("set", APP, "--memory=1G", "--cpu=0.5%"),
            2,
            "sscctl: invalid --cpu: '0.5%' is below the smallest CPU quota, 1%",
        )
        assert_clean_error(
            sscctl("stop", "nosuchapp"), 1, "sscctl: nosuchapp: no such app is running contained"
        )
        assert (cgroup / "memory.max").read_text().strip() == str(256 * MiB)
        assert (cgroup / "cpu.max").read_text().split() == ["150000", "100000"]
        assert app.poll() is None


def test_a_target_matching_several_apps_names_them_and_stops_none(user_manager: str) -> None:
    with ExitStack() as stack:
        one = stack.enter_context(contained("org.one.hogtest"))
        two = stack.enter_context(contained("org.two.hogtest"))
        assert_clean_error(
            sscctl("stop", "hogtest"),
            1,
            "sscctl: hogtest: matches several apps: org.one.hogtest, org.two.hogtest",
        )
        assert one.poll() is None
        assert two.poll() is None
        assert len(ssc_units()) == 2


def test_stop_ends_every_scope_of_the_app_and_leaves_no_unit(user_manager: str) -> None:
    with contained(APP) as first, contained(APP) as second:
        units = [record["unit"] for record in ps_records()]
        assert len(units) == 2
        result = sscctl("stop", APP)
        assert result.returncode == 0, result.stderr
        assert sorted(result.stdout.splitlines()) == sorted(f"Stopped {APP} ({u})" for u in units)
        # the program got SIGTERM; the launcher's process mirrors how it ended
        for app in (first, second):
            assert app.wait(timeout=60) in (-signal.SIGTERM, 128 + signal.SIGTERM)
        assert no_unit_left()


def test_stop_kill_kills_at_once(user_manager: str) -> None:
    with contained(APP) as app:
        unit = record_of(APP)["unit"]
        result = sscctl("stop", "--kill", APP)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"Killed {APP} ({unit})\n"
        assert app.wait(timeout=60) in (-signal.SIGKILL, 128 + signal.SIGKILL)
        assert no_unit_left()
