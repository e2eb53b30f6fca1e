"""What crosses the wire to the user manager for ps, set, stop and notify (no bus needed)."""

from __future__ import annotations

import signal

from jeepney.low_level import HeaderFields

from ssc import cgroup
from ssc.ctl import running
from ssc.limits import AllButOne, Bytes, Percent
from ssc.unit_properties import Property
from ssc.user_manager import unit_control


def call_of(message):  # type: ignore[no-untyped-def]
    fields = message.header.fields
    return fields[HeaderFields.member], fields.get(HeaderFields.signature), message.body


def test_ps_lists_only_sscs_scopes_by_pattern() -> None:
    assert call_of(unit_control.list_units_message([unit_control.SSC_SCOPES])) == (
        "ListUnitsByPatterns",
        "asas",
        ([], ["app-ssc-*.scope"]),
    )


def test_set_changes_the_running_unit_only_until_it_is_gone() -> None:
    properties = [Property("MemoryMax", "t", 8 * 1024**3)]
    member, signature, body = call_of(
        unit_control.set_properties_message("app-ssc-x-1.scope", properties)
    )
    assert (member, signature) == ("SetUnitProperties", "sba(sv)")
    assert body == ("app-ssc-x-1.scope", True, [("MemoryMax", ("t", 8 * 1024**3))])


def test_set_sends_the_launchers_properties_and_drops_memory_high_with_a_new_ceiling() -> None:
    properties = running.change_properties(Bytes(300 * 1024**2), 5000, cpu_count=4)
    assert properties == [
        Property("CPUQuotaPerSecUSec", "t", 500_000),
        Property("MemoryMax", "t", 300 * 1024**2),
        Property("MemoryHigh", "t", 2**64 - 1),
    ]
    share = running.change_properties(Percent(6000), None, cpu_count=4)
    assert [p.name for p in share] == ["MemoryMaxScale", "MemoryHigh"]
    cpu_only = running.change_properties(None, AllButOne(), cpu_count=4)
    assert cpu_only == [Property("CPUQuotaPerSecUSec", "t", 3_000_000)]


def test_stop_and_kill_name_the_unit_and_the_signal() -> None:
    assert call_of(unit_control.unit_job_message("StopUnit", "u.scope")) == (
        "StopUnit",
        "ss",
        ("u.scope", "replace"),
    )
    assert call_of(unit_control.kill_message("u.scope", signal.SIGKILL)) == (
        "KillUnit",
        "ssi",
        ("u.scope", "all", 9),
    )


def test_enable_is_persistent_and_disable_too() -> None:
    assert call_of(unit_control.enable_message(["ssc-notify.service"]))[2] == (
        ["ssc-notify.service"],
        False,
        True,
    )
    assert call_of(unit_control.disable_message(["ssc-notify.service"]))[2] == (
        ["ssc-notify.service"],
        False,
    )


def test_a_unit_list_reply_becomes_entries() -> None:
    row = ("app-ssc-x-1.scope", "x (ssc strict)", "loaded", "active", "running", "", "/o/x", 0,
           "", "/")  # fmt: skip
    assert unit_control.unit_entries(([row],)) == [
        unit_control.UnitEntry("app-ssc-x-1.scope", "x (ssc strict)", "active", "/o/x")
    ]


def test_the_kernel_holds_a_size_to_the_page_and_a_share_within_a_percent() -> None:
    page = 4096
    assert cgroup.expected_memory(Bytes(300 * 1024**2 + 100), page, 2**33) == 300 * 1024**2
    assert cgroup.memory_holds(300 * 1024**2, 300 * 1024**2, page)
    assert not cgroup.memory_holds(256 * 1024**2, 300 * 1024**2, page)
    assert not cgroup.memory_holds(None, 300 * 1024**2, page)
    expected = cgroup.expected_memory(Percent(5000), page, 2**33)
    assert abs(expected - 2**32) <= page
    assert running.cpu_holds(50.0, 500_000)
    assert not running.cpu_holds(150.0, 500_000)
    assert not running.cpu_holds(None, 500_000)
