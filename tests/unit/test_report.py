"""ps and top output: sizes as --memory takes them, a table that lines up, JSON for scripts."""

from __future__ import annotations

import json

import pytest

from ssc.ctl import report
from ssc.ctl.apps import App, Scope
from ssc.ctl.report import Process, Status
from ssc.ctl.usage import MemoryEvents, Usage

MiB = 1024**2
GiB = 1024**3


def usage_of(current: int, ceiling: int | None, **changes: object) -> Usage:
    reading = Usage(
        memory_current=current,
        memory_peak=current + MiB,
        memory_max=ceiling,
        memory_high=None,
        swap_current=0,
        swap_max=512 * MiB,
        cpu_usage_usec=10_000_000,
        cpu_quota=300.0,
        tasks=143,
        tasks_max=None,
        events=MemoryEvents(oom_kill=2),
    )
    return reading._replace(**changes)


def status_of(name: str, current: int, ceiling: int | None, **changes: object) -> Status:
    app = App(name.lower(), name)
    unit = f"app-ssc-{name.lower()}-{1:020d}.scope"
    scope = Scope(unit, app, "strict", "/cg")
    return Status(scope, usage_of(current, ceiling, **changes), [10, 11], 12.4, 7500.0)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (1023, "1023B"), (37 * 1024, "37K"), (512 * MiB, "512M"), (8 * GiB, "8G"),
     (int(1.5 * GiB), "1.5G"), (int(45.3 * MiB), "45M"), (3 * 1024**4, "3T")],
)  # fmt: skip
def test_short_sizes_read_as_memory_takes_them(size: int, text: str) -> None:
    assert report.short_size(size) == text


def test_human_sizes_spell_the_unit_out() -> None:
    assert report.human_size(8 * GiB) == "8 GiB"
    assert report.human_size(8 * GiB, decimals=1) == "8.0 GiB"
    assert report.human_size(64 * MiB) == "64 MiB"
    assert report.human_size(int(7.5 * GiB)) == "7.5 GiB"
    assert report.human_size(100) == "100 bytes"


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (720, "12m"), (7500, "2h05m"), (3 * 86400 + 4 * 3600, "3d04h")]
)
def test_ages_are_short(seconds: float, text: str) -> None:
    assert report.age(seconds) == text


def test_the_table_lines_up_and_shows_usage_against_each_limit() -> None:
    rows = [status_of("Firefox", int(1.2 * GiB), 8 * GiB), status_of("bash", 30 * MiB, None)]
    lines = report.table(rows)
    assert lines[0].split() == list(report.HEADER)
    assert lines[1].split() == [
        "Firefox", "strict", "1.2G", "1.2G", "8G", "15%", "0B/512M", "12%", "300%", "143", "2",
        "2h05m",
    ]  # fmt: skip
    assert lines[2].split()[2:6] == ["30M", "31M", "-", "-"]  # no ceiling: no share of it
    assert len({line.index("PROFILE") for line in lines[:1]}) == 1
    assert lines[1].index("strict") == lines[0].index("PROFILE")


def test_verbose_rows_name_the_unit_and_list_processes_largest_first() -> None:
    processes = [Process(11, "Web Content", 200 * MiB, 2.0), Process(10, "firefox", 800 * MiB, 9.5)]
    row = status_of("Firefox", GiB, 8 * GiB)._replace(processes=processes)
    lines = report.table([row], verbose=True)
    assert lines[2] == f"  {row.scope.unit}"
    assert lines[4].split() == ["10", "800M", "10%", "firefox"]
    assert lines[5].split() == ["11", "200M", "2%", "Web", "Content"]


def test_top_sorts_by_share_of_the_ceiling_then_unlimited_apps_by_memory() -> None:
    rows = [
        status_of("big", 4 * GiB, None),
        status_of("full", 900 * MiB, GiB),
        status_of("half", 2 * GiB, 4 * GiB),
        status_of("small", 10 * MiB, None),
    ]
    ordered = sorted(rows, key=report.sort_key)
    assert [s.scope.app.name for s in ordered] == ["full", "half", "big", "small"]
    frame = report.top_frame(ordered, clock="12:00:00")
    assert frame[0].startswith("sscctl top — 4 contained apps — 12:00:00")


def test_json_has_the_documented_fields_in_bytes_and_null_for_no_limit() -> None:
    document = json.loads(report.json_text([status_of("bash", 30 * MiB, None)]))
    assert document["shared"] is None
    record = document["apps"][0]
    assert {"unit", "app", "pids", "memory_current", "memory_peak", "memory_max"} <= set(record)
    assert {"cpu_quota", "oom_kills"} <= set(record)
    assert record["app"] == "bash"
    assert record["pids"] == [10, 11]
    assert record["memory_current"] == 30 * MiB
    assert record["memory_max"] is None
    assert record["cpu_quota"] == 300.0
    assert record["oom_kills"] == 2


def test_ps_ends_with_all_contained_apps_against_the_shared_ceiling() -> None:
    shared = report.Shared(usage_of(int(1.2 * GiB), int(1.5 * GiB)), 150.0)
    lines = report.table([status_of("bash", 30 * MiB, 2 * GiB)], shared=shared)
    assert len(lines) == 3
    cells = lines[-1].split()
    assert lines[-1].startswith("all contained apps  shared")
    assert cells[6:10] == ["1.5G", "80%", "0B/512M", "150%"]
    document = json.loads(report.json_text([], shared))
    assert document["apps"] == []
    assert document["shared"]["unit"] == "app-ssc.slice"
    assert document["shared"]["memory_max"] == int(1.5 * GiB)
    assert document["shared"]["memory_current"] == int(1.2 * GiB)
    assert document["shared"]["cpu_percent"] == 150.0
