"""What ``sscctl ps`` and ``sscctl top`` print: running scopes as a table or as JSON (pure).

Sizes in tables use the suffixes ``--memory`` takes (``512M``, ``1.5G``: base 1024), so a
ceiling reads back as it was typed; notifications spell them out (``8 GiB``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..shared_ceiling import SLICE as SHARED_SLICE
from .apps import Scope
from .usage import Usage

_SUFFIXES = ("K", "M", "G", "T", "P")
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")
NONE = "-"
HELD_MARK = " (root-held)"  # a scope that ssc's system helper holds (ssc.held)
PROCESSES_SHOWN = 8  # per app in top and ps -v; the rest are counted


class Process(NamedTuple):
    """One process of an app, for the per-process breakdown (psutil's view, not the kernel's
    accounting: RSS counts shared pages once per process)."""

    pid: int
    name: str
    rss: int
    cpu: float | None  # percent of one CPU since the last reading


class Status(NamedTuple):
    """A running scope and what it uses."""

    scope: Scope
    usage: Usage
    pids: list[int]
    cpu: float | None  # percent of one CPU over the sampling interval
    age: float | None  # seconds since the scope started
    processes: list[Process] | None = None  # asked for: ps -v, top


class Shared(NamedTuple):
    """All contained apps together: their slice, against the shared ceiling
    (``ssc.shared_ceiling``)."""

    usage: Usage
    cpu: float | None  # percent of one CPU over the sampling interval


SHARED_NAME = "all contained apps"


def short_size(size: int) -> str:
    """``512M``, ``1.5G``, ``8G``, ``37K``, ``0B``."""
    if size < 1024:
        return f"{size}B"
    value, suffix = _scaled(size, _SUFFIXES)
    if value == int(value):
        return f"{int(value)}{suffix}"
    if value < 10:
        return f"{value:.1f}{suffix}"
    return f"{round(value)}{suffix}"


def human_size(size: int, *, decimals: int | None = None) -> str:
    """``8 GiB``, ``7.5 GiB``, ``64 MiB``; with ``decimals``, always so many (``8.0 GiB``)."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = _scaled(size, _UNITS)
    if decimals is not None:
        return f"{value:.{decimals}f} {unit}"
    if value == int(value):
        return f"{int(value)} {unit}"
    return f"{value:.1f} {unit}"


def _scaled(size: int, units: tuple[str, ...]) -> tuple[float, str]:
    """``size`` (1024 or more) in the first of ``units`` (KiB, MiB…) that keeps it below 1024."""
    value = float(size)
    for unit in units:
        value /= 1024
        if value < 1024:
            return value, unit
    return value, units[-1]


def percent(value: float | None) -> str:
    return NONE if value is None else f"{value:.0f}%"


def age(seconds: float | None) -> str:
    """``45s``, ``12m``, ``2h05m``, ``3d04h``."""
    if seconds is None:
        return NONE
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours == 0:
        return f"{minutes}m"
    if days == 0:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


def _limit(size: int | None) -> str:
    return NONE if size is None else short_size(size)


def _share(usage: Usage) -> str:
    share = usage.memory_share
    return NONE if share is None else f"{share * 100:.0f}%"


def _swap(usage: Usage) -> str:
    if usage.swap_current is None:
        return NONE
    return f"{short_size(usage.swap_current)}/{_limit(usage.swap_max)}"


HEADER = (
    "APP",
    "PROFILE",
    "MEMORY",
    "PEAK",
    "CEILING",
    "SHARE",
    "SWAP",
    "CPU",
    "QUOTA",
    "TASKS",
    "OOM",
    "AGE",
)
_RIGHT = frozenset(range(2, len(HEADER)))  # numbers are right-aligned


def row(status: Status) -> tuple[str, ...]:
    usage = status.usage
    return (
        status.scope.app.name,
        (status.scope.profile or NONE) + (HELD_MARK if status.scope.held else ""),
        *_memory_cells(usage),
        percent(status.cpu),
        percent(usage.cpu_quota),
        str(usage.tasks),
        str(usage.events.oom_kill),
        age(status.age),
    )


def _memory_cells(usage: Usage) -> tuple[str, ...]:
    """MEMORY, PEAK, CEILING, SHARE and SWAP."""
    return (
        short_size(usage.memory_current),
        _limit(usage.memory_peak),
        _limit(usage.memory_max),
        _share(usage),
        _swap(usage),
    )


def shared_row(shared: Shared) -> tuple[str, ...]:
    """The table's last line: the slice of all contained apps, against the shared ceiling."""
    usage = shared.usage
    return (
        SHARED_NAME,
        "shared",
        *_memory_cells(usage),
        percent(shared.cpu),
        percent(usage.cpu_quota),
        str(usage.tasks),
        str(usage.events.oom_kill),
        NONE,
    )


def sort_key(status: Status) -> tuple[float, int, str]:
    """By share of the ceiling, largest first; unlimited apps after, by memory."""
    share = status.usage.memory_share
    unlimited = -1.0
    return (
        -(unlimited if share is None else share),
        -status.usage.memory_current,
        status.scope.unit,
    )


def table(
    statuses: Sequence[Status], *, verbose: bool = False, shared: Shared | None = None
) -> list[str]:
    """The ``ps`` table; with ``verbose``, each scope's unit and processes below its row; with
    ``shared``, a last line for all contained apps against their shared ceiling."""
    app_rows = [row(status) for status in statuses]
    last = [shared_row(shared)] if shared is not None else []
    rows = [HEADER, *app_rows, *last]
    widths = [max(len(r[column]) for r in rows) for column in range(len(HEADER))]
    lines = [_format(HEADER, widths)]
    for status, cells in zip(statuses, app_rows, strict=True):
        lines.append(_format(cells, widths))
        if verbose:
            lines.append(f"  {status.scope.unit}")
        if status.processes is not None:
            lines.extend(process_lines(status.processes))
    lines.extend(_format(cells, widths) for cells in last)
    return lines


def _format(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [
        cell.rjust(width) if column in _RIGHT else cell.ljust(width)
        for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(padded).rstrip()


def process_lines(processes: Sequence[Process], shown: int = PROCESSES_SHOWN) -> list[str]:
    """An app's processes, largest first: ``PID RSS CPU NAME``, indented under its row."""
    ordered = sorted(processes, key=lambda p: (-p.rss, p.pid))
    lines = [f"    {'PID':>7}  {'RSS':>6}  {'CPU':>4}  COMMAND"]
    for process in ordered[:shown]:
        lines.append(
            f"    {process.pid:>7}  {short_size(process.rss):>6}  {percent(process.cpu):>4}"
            f"  {process.name}"
        )
    if len(ordered) > shown:
        lines.append(f"    … and {len(ordered) - shown} more")
    return lines


def as_json(status: Status) -> dict[str, Any]:
    """One scope for ``ps --json``: sizes in bytes, CPU in percent of one CPU, null for none."""
    usage = status.usage
    record: dict[str, Any] = {
        "unit": status.scope.unit,
        "app": status.scope.app.app_id,
        "name": status.scope.app.name,
        "desktop_entry": status.scope.app.desktop_id,
        "profile": status.scope.profile,
        "held_by_root": status.scope.held,
        "pids": status.pids,
        "tasks": usage.tasks,
        "tasks_max": usage.tasks_max,
        **_memory_record(usage),
        "cpu_percent": None if status.cpu is None else round(status.cpu, 1),
        "cpu_quota": None if usage.cpu_quota is None else round(usage.cpu_quota, 1),
        "cpu_usage_usec": usage.cpu_usage_usec,
        "oom_kills": usage.events.oom_kill,
        "age_seconds": None if status.age is None else round(status.age, 1),
    }
    if status.processes is not None:
        record["processes"] = [p._asdict() for p in status.processes]
    return record


def shared_json(shared: Shared) -> dict[str, Any]:
    """All contained apps together for ``ps --json``, with the fields of an app's record."""
    usage = shared.usage
    return {
        "unit": SHARED_SLICE,
        "tasks": usage.tasks,
        **_memory_record(usage),
        "cpu_percent": None if shared.cpu is None else round(shared.cpu, 1),
        "oom_kills": usage.events.oom_kill,
    }


def _memory_record(usage: Usage) -> dict[str, int | None]:
    """The memory and swap fields of a ``ps --json`` record, in bytes (None: no limit)."""
    return {
        "memory_current": usage.memory_current,
        "memory_peak": usage.memory_peak,
        "memory_max": usage.memory_max,
        "memory_high": usage.memory_high,
        "swap_current": usage.swap_current,
        "swap_max": usage.swap_max,
    }


def json_text(statuses: Sequence[Status], shared: Shared | None = None) -> str:
    """``{"apps": [one record per scope], "shared": all of them together, or null}``."""
    document = {
        "apps": [as_json(status) for status in statuses],
        "shared": None if shared is None else shared_json(shared),
    }
    return json.dumps(document, indent=2)


def top_frame(statuses: Sequence[Status], clock: str | None = None) -> list[str]:
    """One screen of ``top``: a title line, then the table with each app's processes."""
    when = clock if clock is not None else time.strftime("%H:%M:%S")
    count = len(statuses)
    noun = "app" if count == 1 else "apps"
    title = f"sscctl top — {count} contained {noun} — {when} — by share of the memory ceiling"
    if not statuses:
        return [title, "", "No contained apps are running."]
    return [title, "", *table(statuses)]
