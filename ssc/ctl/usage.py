"""What a running scope uses, read from its cgroup: the figures the kernel itself enforces.

Memory is the cgroup's own count (``memory.current``, ``memory.peak``), not a sum of its
processes' RSS, which counts shared pages once per process. See the kernel's
``Documentation/admin-guide/cgroup-v2.rst``: ``memory.events`` counts ``high`` (throttled at
``memory.high``), ``max`` (reclaim at ``memory.max``), ``oom`` and ``oom_kill`` (processes
killed, by the cgroup's own OOM or the system's); ``cpu.stat`` has ``usage_usec``; ``cpu.max``
is ``$MAX $PERIOD`` or ``max $PERIOD``.

Parsers are pure (text in, records out); :func:`read_usage` is the thin file edge. Records are
NamedTuples: ``sscctl top`` makes them every second.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import NamedTuple

from ..cgroup import CGROUP_ROOT, read_text

UNLIMITED = "max"
# Errors that mean the cgroup is gone (removed while we read it): not a failure, an exit.
GONE = frozenset({errno.ENOENT, errno.ENODEV, errno.ESRCH})


class MemoryEvents(NamedTuple):
    """The counters of ``memory.events`` that ssc reports on."""

    high: int = 0
    max: int = 0
    oom: int = 0
    oom_kill: int = 0


class Usage(NamedTuple):
    """One reading of a scope's cgroup; None where a file is missing or says ``max``."""

    memory_current: int
    memory_peak: int | None  # memory.peak: Linux 5.19 and later
    memory_max: int | None
    memory_high: int | None
    swap_current: int | None  # None where swap is not accounted
    swap_max: int | None
    cpu_usage_usec: int
    cpu_quota: float | None  # percent of one CPU (150.0 is one and a half CPUs)
    tasks: int
    tasks_max: int | None
    events: MemoryEvents

    @property
    def memory_share(self) -> float | None:
        """The share of the ceiling in use (0.0 to 1.0 and a little over); None if unlimited."""
        if not self.memory_max:
            return None
        return self.memory_current / self.memory_max


class ScopeGone(Exception):
    """The scope's cgroup went away while it was being read (the app exited)."""


def parse_keyed(text: str) -> dict[str, int]:
    """A flat keyed file (``memory.events``, ``cpu.stat``): ``key value`` lines."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def parse_memory_events(text: str) -> MemoryEvents:
    values = parse_keyed(text)
    return MemoryEvents(
        high=values.get("high", 0),
        max=values.get("max", 0),
        oom=values.get("oom", 0),
        oom_kill=values.get("oom_kill", 0),
    )


def parse_limit(text: str) -> int | None:
    """A single-value limit file (``memory.max``, ``pids.max``): bytes or count, None for max."""
    value = text.strip()
    if value == UNLIMITED:
        return None
    if not value.isdigit():
        raise ValueError(f"not a limit: {value!r}")
    return int(value)


def parse_cpu_max(text: str) -> float | None:
    """``cpu.max`` (``150000 100000``) as percent of one CPU (150.0); None for ``max``."""
    quota, _, period = text.strip().partition(" ")
    if quota == UNLIMITED:
        return None
    if not (quota.isdigit() and period.isdigit() and int(period) > 0):
        raise ValueError(f"not a CPU limit: {text.strip()!r}")
    return int(quota) * 100 / int(period)


def cpu_percent(before: Usage, after: Usage, seconds: float) -> float | None:
    """CPU used between two readings, in percent of one CPU; None without time between them."""
    if seconds <= 0:
        return None
    used = max(0, after.cpu_usage_usec - before.cpu_usage_usec)
    return used / (seconds * 1_000_000) * 100


def parse_procs(text: str) -> list[int]:
    """``cgroup.procs``: one PID a line."""
    return [int(line) for line in text.split() if line.isdigit()]


def cgroup_directory(control_group: str) -> str:
    """The directory of a unit's ``ControlGroup`` (``/user.slice/…/app-ssc-x-1.scope``)."""
    return CGROUP_ROOT + control_group


def read_usage(directory: str, read: Callable[[str], str] = read_text) -> Usage:
    """One reading of the cgroup at ``directory``; ScopeGone if it is not there (any more)."""

    def required(name: str) -> str:
        try:
            return read(os.path.join(directory, name))
        except OSError as error:
            if error.errno in GONE:
                raise ScopeGone(directory) from error
            raise

    def optional(name: str) -> str | None:
        try:
            return read(os.path.join(directory, name))
        except OSError as error:
            if error.errno == errno.ENODEV:
                raise ScopeGone(directory) from error
            if error.errno == errno.ENOENT:
                return None
            raise

    def limit(name: str) -> int | None:
        text = optional(name)
        return None if text is None else parse_limit(text)

    current = int(required("memory.current").strip())
    peak_text = optional("memory.peak")
    cpu_max = optional("cpu.max")
    swap_current = optional("memory.swap.current")
    tasks = optional("pids.current")
    return Usage(
        memory_current=current,
        memory_peak=int(peak_text.strip()) if peak_text else None,
        memory_max=limit("memory.max"),
        memory_high=limit("memory.high"),
        swap_current=int(swap_current.strip()) if swap_current else None,
        swap_max=limit("memory.swap.max"),
        cpu_usage_usec=parse_keyed(optional("cpu.stat") or "").get("usage_usec", 0),
        cpu_quota=parse_cpu_max(cpu_max) if cpu_max else None,
        tasks=int(tasks.strip()) if tasks else len(read_procs(directory, read)),
        tasks_max=limit("pids.max"),
        events=parse_memory_events(optional("memory.events") or ""),
    )


def read_procs(directory: str, read: Callable[[str], str] = read_text) -> list[int]:
    """The PIDs in the cgroup; an empty list when it is gone."""
    try:
        return parse_procs(read(os.path.join(directory, "cgroup.procs")))
    except OSError as error:
        if error.errno in GONE:
            return []
        raise
