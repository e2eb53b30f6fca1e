"""Cgroup readings: the kernel's files parsed into records, and a scope that goes mid-read."""

from __future__ import annotations

import errno

import pytest

from ssc.ctl import usage
from ssc.ctl.usage import MemoryEvents

CGROUP = "/sys/fs/cgroup/user.slice/app.slice/app-ssc-x-1.scope"
FILES = {
    "memory.current": "52428800\n",
    "memory.peak": "67108864\n",
    "memory.max": "268435456\n",
    "memory.high": "max\n",
    "memory.swap.current": "0\n",
    "memory.swap.max": "104857600\n",
    "memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
    "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
    "cpu.max": "150000 100000\n",
    "pids.current": "3\n",
    "pids.max": "max\n",
    "cgroup.procs": "101\n102\n103\n",
}


def reader(files: dict[str, str], missing_errno: int = errno.ENOENT):  # type: ignore[no-untyped-def]
    def read(path: str) -> str:
        name = path.rsplit("/", 1)[-1]
        if name not in files:
            raise OSError(missing_errno, "gone", path)
        return files[name]

    return read


def test_memory_events_are_read_by_name_whatever_their_order_or_extra_keys() -> None:
    text = "oom_kill 4\nlow 1\nsock_throttled 9\nhigh 2\nmax 3\noom 5\n"
    assert usage.parse_memory_events(text) == MemoryEvents(high=2, max=3, oom=5, oom_kill=4)
    assert usage.parse_memory_events("") == MemoryEvents()


def test_limits_read_max_as_none_and_numbers_as_bytes() -> None:
    assert usage.parse_limit("max\n") is None
    assert usage.parse_limit("67108864\n") == 64 * 1024**2
    with pytest.raises(ValueError, match="not a limit"):
        usage.parse_limit("lots")


def test_cpu_max_is_a_share_of_one_cpu_in_percent() -> None:
    assert usage.parse_cpu_max("150000 100000\n") == 150.0
    assert usage.parse_cpu_max("max 100000\n") is None
    assert usage.parse_cpu_max("5000 10000") == 50.0


def test_a_full_reading_takes_every_figure_from_its_file() -> None:
    reading = usage.read_usage(CGROUP, reader(FILES))
    assert reading.memory_current == 50 * 1024**2
    assert reading.memory_peak == 64 * 1024**2
    assert reading.memory_max == 256 * 1024**2
    assert reading.memory_high is None
    assert reading.swap_max == 100 * 1024**2
    assert reading.cpu_usage_usec == 1_500_000
    assert reading.cpu_quota == 150.0
    assert (reading.tasks, reading.tasks_max) == (3, None)
    assert reading.events == MemoryEvents(high=0, max=12, oom=1, oom_kill=1)
    assert reading.memory_share == pytest.approx(50 / 256)


def test_missing_optional_files_read_as_unknown_not_as_errors() -> None:
    files = {"memory.current": "4096\n", "cgroup.procs": "7\n"}
    reading = usage.read_usage(CGROUP, reader(files))
    assert reading.memory_peak is None  # kernels before 5.19
    assert reading.memory_max is None
    assert reading.memory_share is None
    assert reading.swap_current is None  # swap not accounted
    assert reading.cpu_quota is None
    assert reading.tasks == 1  # counted from cgroup.procs without the pids controller


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ENODEV])
def test_a_scope_that_went_away_mid_read_is_gone_not_an_error(code: int) -> None:
    with pytest.raises(usage.ScopeGone):
        usage.read_usage(CGROUP, reader({}, code))
    assert usage.read_procs(CGROUP, reader({}, code)) == []


def test_cpu_use_between_two_readings_is_in_percent_of_one_cpu() -> None:
    first = usage.read_usage(CGROUP, reader(FILES))
    second = first._replace(cpu_usage_usec=first.cpu_usage_usec + 250_000)
    assert usage.cpu_percent(first, second, 0.5) == pytest.approx(50.0)
    assert usage.cpu_percent(first, second, 0.0) is None
