"""Fail closed: the scope's cgroup files, read through a fake ``read``, must hold what was asked."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

import ssc.cgroup
from ssc.cgroup import LimitNotEnforced, enclosing_strict_app, own_cgroup, verify_scope
from ssc.limits import AllButOne, Bytes, Percent
from ssc.profiles import Limits

UNIT = "app-ssc-firefox-0123456789abcdef0123456789abcdef.scope"
CGROUP = f"/user.slice/user-1000.slice/user@1000.service/app.slice/{UNIT}"
DIRECTORY = f"/sys/fs/cgroup{CGROUP}"
_APPS = "/user.slice/user-1000.slice/user@1000.service/app.slice"
GIB = 1024**3
PAGE = 4096
# What systemd writes for 70 % and 5 % of a 4 GiB machine (physical_memory_scale, whole pages).
SEVENTY_PERCENT_OF_4G = 3006476288
FIVE_PERCENT_OF_4G = 214745088

STRICT = Limits(
    cpu_quota=AllButOne(),
    memory_max=Percent(7000),
    memory_high=Percent(6500),
    memory_swap_max=Percent(500),
)


@pytest.fixture(autouse=True)
def machine_with_4g(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with 4 GiB of RAM in 4 KiB pages, whatever this one has."""
    sizes = {"SC_PAGE_SIZE": PAGE, "SC_PHYS_PAGES": 4 * GIB // PAGE}
    monkeypatch.setattr("ssc.cgroup.os.sysconf", lambda name: sizes[name])


def reader(files: dict[str, str]) -> Callable[[str], str]:
    """A ``read`` for verify_scope: the files that exist, FileNotFoundError for the rest."""

    def read(path: str) -> str:
        try:
            return files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    return read


def scope_files(**limits: str) -> dict[str, str]:
    files = {"/proc/self/cgroup": f"0::{CGROUP}\n"}
    for name, text in limits.items():
        files[f"{DIRECTORY}/{name.replace('_', '.')}"] = text + "\n"
    return files


def verify(limits: Limits, files: dict[str, str], cpu_count: int = 4) -> None:
    verify_scope(UNIT, limits, cpu_count, reader(files))


def test_strict_limits_that_the_kernel_holds_pass() -> None:
    files = scope_files(
        memory_max=str(SEVENTY_PERCENT_OF_4G),
        memory_swap_max=str(FIVE_PERCENT_OF_4G),
        cpu_max="300000 100000",
    )
    verify(STRICT, files)


@pytest.mark.parametrize(
    ("limits", "files"),
    [
        (Limits(), {}),
        (Limits(memory_max=Bytes(4 * GIB)), {"memory_max": "4294967296"}),
        # The kernel keeps whole pages.
        (Limits(memory_max=Bytes(4 * GIB + 100)), {"memory_max": "4294967296"}),
        (Limits(memory_swap_max=Bytes(0)), {"memory_swap_max": "0"}),
        (Limits(memory_max=Percent(10000)), {"memory_max": str(4 * GIB)}),
        (Limits(cpu_quota=15000), {"cpu_max": "150000 100000"}),
        (Limits(cpu_quota=15000), {"cpu_max": "15000 10000"}),  # another period, same share
        (Limits(cpu_quota=AllButOne()), {"cpu_max": "300000 100000"}),
        # MemoryHigh, TasksMax and CPUWeight are not read back: they are not ceilings.
        (Limits(memory_high=Percent(6500), tasks_max=10, cpu_weight=10), {}),
    ],
)
def test_matching_values_pass(limits: Limits, files: dict[str, str]) -> None:
    verify(limits, scope_files(**files))


@pytest.mark.parametrize(
    "cgroup",
    [
        "/user.slice/user-1000.slice/user@1000.service/app.slice",
        "/user.slice/user-1000.slice/session-2.scope",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/other.scope",
        f"/user.slice/user-1000.slice/user@1000.service/app.slice/x{UNIT}",
    ],
)
def test_a_process_in_another_cgroup_is_refused(cgroup: str) -> None:
    files = {"/proc/self/cgroup": f"0::{cgroup}\n"}
    with pytest.raises(LimitNotEnforced) as caught:
        verify(Limits(), files)
    assert caught.value.message == f"Failed to move into {UNIT}: this process is still in {cgroup}"


def test_own_cgroup_is_the_unified_hierarchys_line() -> None:
    text = f"12:pids:/user.slice\n1:name=systemd:/user.slice\n0::{CGROUP}\n"
    assert own_cgroup(reader({"/proc/self/cgroup": text})) == CGROUP


def test_a_system_without_cgroup_v2_is_refused() -> None:
    files = {"/proc/self/cgroup": "12:memory:/user.slice\n1:name=systemd:/user.slice\n"}
    with pytest.raises(LimitNotEnforced, match=r"cgroup v2"):
        verify(Limits(), files)


@pytest.mark.parametrize(
    ("limits", "files", "name"),
    [
        (Limits(memory_max=Percent(7000)), {"memory_max": "max"}, "memory.max"),
        (Limits(memory_max=Bytes(4 * GIB)), {"memory_max": "max"}, "memory.max"),
        (Limits(memory_max=Bytes(4 * GIB)), {"memory_max": "8589934592"}, "memory.max"),
        (Limits(memory_max=Bytes(4 * GIB)), {"memory_max": "2147483648"}, "memory.max"),
        (Limits(memory_max=Percent(7000)), {"memory_max": str(4 * GIB)}, "memory.max"),
        (Limits(memory_max=Percent(7000)), {"memory_max": ""}, "memory.max"),
        (Limits(memory_swap_max=Percent(500)), {"memory_swap_max": "max"}, "memory.swap.max"),
        (Limits(memory_swap_max=Bytes(0)), {"memory_swap_max": "max"}, "memory.swap.max"),
        (
            Limits(memory_swap_max=Percent(500)),
            {"memory_swap_max": str(SEVENTY_PERCENT_OF_4G)},
            "memory.swap.max",
        ),
    ],
)
def test_a_memory_ceiling_the_kernel_does_not_hold_is_refused(
    limits: Limits, files: dict[str, str], name: str
) -> None:
    with pytest.raises(LimitNotEnforced) as caught:
        verify(limits, scope_files(**files))
    assert caught.value.message.startswith(f"{UNIT}: {name} is ")
    assert caught.value.hint is not None
    assert "contrib/systemd" in caught.value.hint


@pytest.mark.parametrize(
    ("quota", "cpu_max"),
    [
        (15000, "max 100000"),
        (15000, "100000 100000"),  # a different quota
        (15000, "300000 100000"),
        (AllButOne(), "100000 100000"),
        (15000, ""),
        (15000, "150000"),
    ],
)
def test_a_cpu_quota_the_kernel_does_not_hold_is_refused(
    quota: int | AllButOne, cpu_max: str
) -> None:
    with pytest.raises(LimitNotEnforced) as caught:
        verify(Limits(cpu_quota=quota), scope_files(cpu_max=cpu_max))
    assert caught.value.message.startswith(f"{UNIT}: cpu.max ")
    assert caught.value.hint is not None
    assert "contrib/systemd" in caught.value.hint


@pytest.mark.parametrize(
    ("limits", "present", "controller"),
    [
        (Limits(memory_max=Percent(7000)), {}, "memory"),
        (Limits(cpu_quota=15000), {}, "cpu"),
        # memory delegated, cpu not: the check still finds the missing one.
        (STRICT, {"memory_max": "3006476288", "memory_swap_max": "214745088"}, "cpu"),
    ],
)
def test_a_controller_that_is_not_delegated_is_refused_naming_the_unit(
    limits: Limits, present: dict[str, str], controller: str
) -> None:
    with pytest.raises(LimitNotEnforced) as caught:
        verify(limits, scope_files(**present))
    assert caught.value.message == (
        f"{UNIT}: the {controller} controller is not available to your user manager"
    )
    assert caught.value.hint is not None
    assert "contrib/systemd" in caught.value.hint
    assert "Delegate=" in caught.value.hint


def test_the_cpu_check_uses_the_machines_cpu_count_for_all_but_one() -> None:
    # On 8 CPUs, all-but-one is 7 CPUs' worth: what the kernel must hold.
    files = scope_files(cpu_max="700000 100000")
    verify_scope(UNIT, Limits(cpu_quota=AllButOne()), 8, reader(files))
    with pytest.raises(LimitNotEnforced):
        verify_scope(UNIT, Limits(cpu_quota=AllButOne()), 4, reader(files))
    with pytest.raises(LimitNotEnforced):
        verify_scope(UNIT, Limits(cpu_quota=AllButOne()), 8, reader(scope_files(cpu_max="max")))


SWAPS_HEADER = "Filename\tType\tSize\tUsed\tPriority\n"


def test_swap_that_is_on_but_not_accounted_cannot_be_bounded_and_is_refused() -> None:
    files = scope_files()
    files["/proc/swaps"] = SWAPS_HEADER + "/swapfile\tfile\t1048572\t0\t-2\n"
    with pytest.raises(LimitNotEnforced, match="swap is on but not accounted"):
        verify(Limits(memory_swap_max=Percent(500)), files)


def test_without_any_swap_there_is_no_swap_bound_to_check() -> None:
    files = scope_files()
    files["/proc/swaps"] = SWAPS_HEADER
    verify(Limits(memory_swap_max=Percent(500)), files)


class _Statvfs:
    def __init__(self, flag: int) -> None:
        self.f_flag = flag


@pytest.mark.parametrize(
    ("cgroup", "read_only", "enclosing"),
    [
        (f"{_APPS}/app-ssc-org.mozilla.Thunderbird-01234567890123456789.scope", True, True),
        # A relaxed app, or a shell of a contained terminal tab: the cgroup tree is writable.
        (f"{_APPS}/app-ssc-bash-01234567890123456789.scope", False, False),
        # Read-only for another reason (a container), and not an ssc scope.
        (f"{_APPS}/app-gnome-firefox-4242.scope", True, False),
        ("/", True, False),
        (None, True, False),
    ],
)
def test_a_read_only_cgroup_tree_under_an_ssc_scope_is_a_strict_apps_sandbox(
    monkeypatch: pytest.MonkeyPatch, cgroup: str | None, read_only: bool, enclosing: bool
) -> None:
    flag = os.ST_RDONLY if read_only else 0
    monkeypatch.setattr(ssc.cgroup.os, "statvfs", lambda path: _Statvfs(flag))
    unit = enclosing_strict_app(cgroup)
    assert unit == (cgroup.rsplit("/", 1)[-1] if enclosing and cgroup else None)
