"""The system helper's checks: what it lets through, and what it refuses (pure, no bus)."""

from __future__ import annotations

import pytest

from ssc.helper import checks
from ssc.helper.checks import Refusal
from ssc.limits import Bytes, Percent
from ssc.profiles import Limits
from ssc.unit_properties import resource_properties

MiB = 1024**2
STATUS = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"


def kind(error: pytest.ExceptionInfo[Refusal]) -> str:
    return error.value.name.removeprefix(checks.ERROR_PREFIX)


def test_what_the_profiles_send_passes_unchanged() -> None:
    limits = Limits(
        cpu_quota=15000,
        memory_max=Percent(7000),
        memory_high=Percent(6500),
        memory_swap_max=Percent(500),
        tasks_max=4096,
        cpu_weight=50,
        oom_policy="continue",
    )
    wire = [p.wire() for p in resource_properties(limits, 4)]
    assert checks.checked_properties(wire, at_start=True) == wire


@pytest.mark.parametrize(
    "name", ["ExecStart", "User", "Slice", "Delegate", "AuxiliaryUnits", "FailureAction", "PIDs"]
)
def test_a_property_outside_the_allow_list_is_forbidden(name: str) -> None:
    with pytest.raises(Refusal) as error:
        checks.checked_properties([(name, ("s", "x"))], at_start=True)
    assert kind(error) == "ForbiddenProperty"
    assert name in error.value.message


@pytest.mark.parametrize(
    ("prop", "refused_as"),
    [
        (("MemoryMax", ("t", 15 * MiB)), "OutOfRange"),
        (("MemoryMax", ("t", 2**64 - 1)), "OutOfRange"),
        (("MemoryMaxScale", ("u", 0)), "OutOfRange"),
        (("CPUQuotaPerSecUSec", ("t", 9999)), "OutOfRange"),
        (("CPUWeight", ("t", 0)), "OutOfRange"),
        (("TasksMax", ("t", 0)), "OutOfRange"),
        (("MemoryMax", ("u", 64 * MiB)), "InvalidArgs"),
        (("MemoryMax", ("t", True)), "InvalidArgs"),
        (("OOMPolicy", ("s", "ignore")), "InvalidArgs"),
    ],
)
def test_values_outside_the_profiles_bounds_are_refused(
    prop: checks.WireProperty, refused_as: str
) -> None:
    with pytest.raises(Refusal) as error:
        checks.checked_properties([prop], at_start=True)
    assert kind(error) == refused_as


def test_a_size_and_its_share_are_one_limit_given_once() -> None:
    with pytest.raises(Refusal) as error:
        checks.checked_properties(
            [("MemoryMax", ("t", 64 * MiB)), ("MemoryMaxScale", ("u", 100))], at_start=True
        )
    assert "twice" in error.value.message


def test_the_oom_policy_is_set_at_the_start_only() -> None:
    with pytest.raises(Refusal) as error:
        checks.checked_properties([("OOMPolicy", ("s", "continue"))], at_start=False)
    assert kind(error) == "ForbiddenProperty"


def test_the_unit_name_is_the_helpers_own_from_the_escaped_app_id() -> None:
    unit = checks.scope_unit("org.gnome.Text-Editor", "0" * 20)
    assert unit == f"app-ssc-org.gnome.Text\\x2dEditor-{'0' * 20}.scope"
    assert checks.checked_unit(unit) == "org.gnome.Text-Editor"  # its app ID, read back


@pytest.mark.parametrize(
    "app", ["", "../system.slice", "sshd.service", "x.slice", "a\nb", "x" * 256, "a/b"]
)
def test_an_app_id_that_would_name_something_else_is_refused(app: str) -> None:
    with pytest.raises(Refusal) as error:
        checks.scope_unit(app, "0" * 20)
    assert kind(error) == "InvalidArgs"


@pytest.mark.parametrize(
    "unit", ["sshd.service", "app-ssc-x-1.scope", "../app-ssc-x-00000000000000000000.scope"]
)
def test_a_unit_the_helper_could_not_have_made_is_not_the_callers(unit: str) -> None:
    with pytest.raises(Refusal) as error:
        checks.checked_unit(unit)
    assert kind(error) == "NotYourUnit"


def test_the_held_slice_nests_in_the_users_own_slice() -> None:
    assert checks.held_slice(1000) == "user-1000-ssc.slice"
    assert checks.held_cgroup(1000) == "/user.slice/user-1000.slice/user-1000-ssc.slice"


def test_a_process_whose_four_uids_are_the_callers_is_the_callers() -> None:
    checks.check_owner(checks.ids_of(STATUS), 1000)


@pytest.mark.parametrize(
    ("uids", "caller"),
    [
        ("1000\t0\t1000\t1000", 1000),  # a setuid exec under way: euid 0
        ("1000\t1000\t0\t1000", 1000),  # a saved uid of root: it could go back to root
        ("1000\t1000\t1000\t0", 1000),
        ("1001\t1001\t1001\t1001", 1000),  # another user's
        ("0\t0\t0\t0", 0),  # root itself
    ],
)
def test_a_process_with_any_other_uid_is_refused(uids: str, caller: int) -> None:
    status = STATUS.replace("1000\t1000\t1000\t1000", uids, 1)
    with pytest.raises(Refusal):
        checks.check_owner(checks.ids_of(status), caller)


def test_unreadable_ids_are_refused() -> None:
    with pytest.raises(Refusal) as error:
        checks.ids_of("Name:\tx\n")
    assert kind(error) == "BadProcess"


@pytest.mark.parametrize(
    ("cgroup", "refused_as"),
    [
        ("/system.slice/cron.service", "BadProcess"),
        ("/user.slice/user-1001.slice/session-3.scope", "BadProcess"),
        ("/user.slice/user-1000.slice/user-1000-ssc.slice/app-ssc-x-1.scope", "AlreadyHeld"),
        (None, "BadProcess"),
    ],
)
def test_only_a_process_of_the_users_own_tree_not_held_already_may_move(
    cgroup: str | None, refused_as: str
) -> None:
    with pytest.raises(Refusal) as error:
        checks.check_movable(cgroup, 1000)
    assert kind(error) == refused_as


def test_a_process_in_the_users_session_or_manager_may_move() -> None:
    checks.check_movable("/user.slice/user-1000.slice/session-2.scope", 1000)
    checks.check_movable("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope", 1000)


def test_a_pidfds_fdinfo_names_its_process_and_a_plain_files_does_not() -> None:
    assert checks.pid_of_fdinfo("pos:\t0\nflags:\t02000002\nPid:\t4242\nNSpid:\t4242\n") == 4242
    assert checks.pid_of_fdinfo("pos:\t0\nflags:\t02000002\nPid:\t-1\n") == -1
    assert checks.pid_of_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t25\nino:\t5\n") is None


def test_a_burst_beyond_the_limit_is_refused_until_the_window_passes() -> None:
    rate = checks.RateLimit(calls=3, seconds=10)
    assert [rate.allow(1000, t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert rate.allow(1001, 3) is True  # per user
    assert rate.allow(1000, 10.5) is True  # the first call has aged out


MACHINE = checks.Machine(physical=4096 * MiB, page=4096, tasks=100_000)


def test_shares_become_what_the_kernel_would_hold() -> None:
    wire = [p.wire() for p in resource_properties(Limits(memory_max=Percent(5000)), 1)]
    assert checks.scope_limits(wire, MACHINE) == {"MemoryMax": 2048 * MiB}


@pytest.mark.parametrize(
    ("requested", "raised"),
    [
        ({"MemoryMax": 256 * MiB}, []),
        ({"MemoryMax": 512 * MiB}, []),  # the same value is no raise
        ({"MemoryMax": 1024 * MiB}, ["MemoryMax"]),
        ({"CPUQuotaPerSecUSec": 250_000}, []),
        ({"CPUQuotaPerSecUSec": 1_000_000}, ["CPUQuotaPerSecUSec"]),
        ({"MemoryMax": 256 * MiB, "MemoryHigh": checks.NO_LIMIT}, []),  # above the new ceiling
        ({"MemoryHigh": 500 * MiB}, ["MemoryHigh"]),
        ({"TasksMax": 100}, []),
    ],
)
def test_a_raise_is_any_limit_above_what_the_scope_holds(
    requested: dict[str, int], raised: list[str]
) -> None:
    current = {
        "MemoryMax": 512 * MiB,
        "MemoryHigh": 400 * MiB,
        "CPUQuotaPerSecUSec": 500_000,
        "TasksMax": checks.NO_LIMIT,
    }
    assert checks.raises(requested, current, 4096) == raised


def test_cgroup_files_read_as_limits() -> None:
    assert checks.current_limit("MemoryMax", "max\n") == checks.NO_LIMIT
    assert checks.current_limit("MemoryMax", "536870912\n") == 512 * MiB
    assert checks.current_limit("CPUQuotaPerSecUSec", "50000 100000\n") == 500_000
    assert checks.current_limit("CPUQuotaPerSecUSec", "max 100000\n") == checks.NO_LIMIT


def test_a_ceiling_in_bytes_is_a_size_limit() -> None:
    wire = [p.wire() for p in resource_properties(Limits(memory_max=Bytes(64 * MiB)), 1)]
    assert checks.scope_limits(wire, MACHINE) == {"MemoryMax": 64 * MiB}
