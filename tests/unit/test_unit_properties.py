"""The scope's name and properties: plain data, compared as exact tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ssc.limits import AllButOne, Bytes, Percent
from ssc.profiles import Limits, load_profile
from ssc.unit_names import MAX_ESCAPED_APP_ID, escape_app_id
from ssc.unit_properties import (
    Property,
    app_id_of,
    describe,
    profile_of,
    random_part,
    resource_properties,
    scope_name,
    scope_properties,
    scope_property_attempts,
)

RANDOM = "01234567890123456789"
UNIT_NAME_MAX = 255
# One field of a unit name: systemd's unit-name characters without "-", or a complete escape.
ESCAPED_FIELD = re.compile(r"(?:[A-Za-z0-9:_.]|\\x[0-9a-f]{2})*")
# Every property ssc may ever send, with the signature systemd's manager reads it with
# (src/core/dbus-cgroup.c, dbus-scope.c, dbus-unit.c).
ALLOWED = {
    "Description": "s",
    "PIDFDs": "ah",
    "PIDs": "au",
    "Slice": "s",
    "CollectMode": "s",
    "CPUQuotaPerSecUSec": "t",
    "CPUWeight": "t",
    "MemoryMax": "t",
    "MemoryMaxScale": "u",
    "MemoryHigh": "t",
    "MemoryHighScale": "u",
    "MemorySwapMax": "t",
    "MemorySwapMaxScale": "u",
    "TasksMax": "t",
    "TasksMaxScale": "u",
    "OOMPolicy": "s",
}


@pytest.fixture(autouse=True)
def no_user_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the built-in profiles: whatever the machine's user has configured stays out."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


def table(properties: list[Property]) -> list[tuple[str, str, object]]:
    return [(p.name, p.signature, p.value) for p in properties]


@pytest.mark.parametrize(
    ("app_id", "escaped"),
    [
        ("firefox", "firefox"),
        ("firefox-esr", "firefox\\x2desr"),
        ("org.gnome.gedit", "org.gnome.gedit"),
        ("org.mozilla.firefox", "org.mozilla.firefox"),
        ("x.service", "x.service"),
        ("a:b_c", "a:b_c"),
        ("../x", "\\x2e.\\x2fx"),
        (".hidden", "\\x2ehidden"),
        ("a/b", "a\\x2fb"),
        ("a\nb", "a\\x0ab"),
        ("a b", "a\\x20b"),
        ("a\\x2db", "a\\x5cx2db"),
        ("é", "\\xc3\\xa9"),
        ("日本", "\\xe6\\x97\\xa5\\xe6\\x9c\\xac"),
        ("a;b", "a\\x3bb"),
        ("a\x00b", "a\\x00b"),
    ],
)
def test_app_ids_are_escaped_as_systemd_escape_does(app_id: str, escaped: str) -> None:
    assert escape_app_id(app_id) == escaped


@pytest.mark.parametrize(
    "app_id",
    [
        "a" * 300,
        "-" * 300,
        "aa" + "-" * 300,  # an escape would straddle the limit
        "a" + "é" * 300,
        "x" * 207 + "é",
        "/" * 1000,
        "." * 300,
    ],
)
def test_long_app_ids_are_cut_on_an_escape_boundary_to_fit_the_unit_name(app_id: str) -> None:
    escaped = escape_app_id(app_id)
    name = scope_name(app_id, RANDOM)
    assert len(name.encode()) <= UNIT_NAME_MAX
    assert len(escaped) <= MAX_ESCAPED_APP_ID
    assert ESCAPED_FIELD.fullmatch(escaped)
    assert escaped_in_full(app_id).startswith(escaped)


def escaped_in_full(app_id: str) -> str:
    """The escape with no length limit, written out independently of ``escape_app_id``."""
    plain = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_."
    return "".join(
        chr(byte) if byte in plain and not (index == 0 and byte == ord(".")) else f"\\x{byte:02x}"
        for index, byte in enumerate(app_id.encode())
    )


def test_an_app_id_that_fits_exactly_is_kept_whole() -> None:
    app_id = "a" * MAX_ESCAPED_APP_ID
    assert escape_app_id(app_id) == app_id
    assert len(scope_name(app_id, RANDOM)) == UNIT_NAME_MAX


@pytest.mark.parametrize(
    "app_id",
    ["firefox", "firefox-esr", "../x", "a/b", "a\nb", "x.service", "é", "a" * 300, " ", "-"],
)
def test_any_app_id_gives_a_valid_scope_name_with_four_fields(app_id: str) -> None:
    name = scope_name(app_id, RANDOM)
    assert re.fullmatch(r"[A-Za-z0-9:_.\\-]+", name)
    assert name.endswith(".scope")
    assert len(name.encode()) <= UNIT_NAME_MAX
    app, launcher, field, rest = name.split("-")
    assert (app, launcher, rest) == ("app", "ssc", f"{RANDOM}.scope")
    assert ESCAPED_FIELD.fullmatch(field)


@pytest.mark.parametrize(
    ("app_id", "name"),
    [
        ("firefox", f"app-ssc-firefox-{RANDOM}.scope"),
        ("firefox-esr", f"app-ssc-firefox\\x2desr-{RANDOM}.scope"),
        ("org.mozilla.firefox", f"app-ssc-org.mozilla.firefox-{RANDOM}.scope"),
        ("x.service", f"app-ssc-x.service-{RANDOM}.scope"),
    ],
)
def test_scope_name_follows_the_desktop_environment_convention(app_id: str, name: str) -> None:
    assert scope_name(app_id, RANDOM) == name


@pytest.mark.parametrize(
    "random_digits",
    [
        "",
        "0123456789",
        RANDOM + "0",
        RANDOM[:-1],
        RANDOM[:-1] + "a",
        RANDOM[:-1] + "-",
        RANDOM[:-1] + "\n",
        "0123456789abcdef0123456789abcdef",
    ],
)
def test_scope_name_refuses_a_random_part_that_is_not_20_decimal_digits(
    random_digits: str,
) -> None:
    with pytest.raises(ValueError, match="20 decimal digits"):
        scope_name("firefox", random_digits)


@pytest.mark.parametrize(
    ("random_bytes", "digits"),
    [
        (bytes(8), "00000000000000000000"),
        (b"\xff" * 8, "18446744073709551615"),
        (b"\x00" * 7 + b"\x2a", "00000000000000000042"),
    ],
)
def test_the_random_part_is_eight_random_bytes_as_twenty_digits(
    random_bytes: bytes, digits: str
) -> None:
    assert random_part(random_bytes) == digits


def test_the_random_part_ends_the_name_as_gnome_tools_expect_digits() -> None:
    """GNOME's app tracking and Resources read ``app-<launcher>-<id>-<digits>.scope``."""
    name = scope_name("org.gnome.TextEditor", random_part(b"12345678"))
    assert re.fullmatch(r"app-ssc-org\.gnome\.TextEditor-[0-9]{20}\.scope", name)


@pytest.mark.parametrize(
    "app_id", ["firefox", "firefox-esr", "org.mozilla.firefox", "../x", "a\nb", "é", "x.service"]
)
def test_the_app_id_is_read_back_from_the_scope_name(app_id: str) -> None:
    assert app_id_of(scope_name(app_id, RANDOM)) == app_id


@pytest.mark.parametrize(
    "unit",
    [
        "app-gnome-firefox-1234.scope",
        "app-ssc-firefox-0123.scope",
        f"app-ssc-firefox-{RANDOM}.service",
        "vte-spawn-1b2c.scope",
        f"app-ssc--{RANDOM}.scope",
    ],
)
def test_units_that_are_not_sscs_have_no_app_id(unit: str) -> None:
    assert app_id_of(unit) is None


@pytest.mark.parametrize("profile", ["strict", "relaxed"])
def test_property_attempts_go_from_pidfds_to_pids_to_no_oom_policy(profile: str) -> None:
    limits = load_profile(profile).limits
    attempts = scope_property_attempts("x", limits, 4, pidfd=7, pid=4242)
    process = [[p.name for p in a if p.name in ("PIDFDs", "PIDs")] for a in attempts]
    policy = [[p.value for p in a if p.name == "OOMPolicy"] for a in attempts]
    assert process == [["PIDFDs"], ["PIDs"], ["PIDs"]]
    assert policy == [["continue"], ["continue"], []]
    assert attempts[0] == scope_properties("x", limits, 4, pidfd=7, pid=4242)


def test_without_a_pidfd_the_attempts_start_with_pids() -> None:
    limits = Limits(oom_policy="continue")
    attempts = scope_property_attempts("x", limits, 4, pidfd=None, pid=1)
    assert [[p.name for p in a if p.name in ("PIDFDs", "PIDs", "OOMPolicy")] for a in attempts] == [
        ["PIDs", "OOMPolicy"],
        ["PIDs"],
    ]


@pytest.mark.parametrize("policy", ["stop", "kill", None])
def test_only_oom_policy_continue_is_ever_dropped(policy: str | None) -> None:
    attempts = scope_property_attempts("x", Limits(oom_policy=policy), 4, pidfd=7, pid=1)
    assert len(attempts) == 2
    assert all(any(p.name == "OOMPolicy" for p in a) == (policy is not None) for a in attempts)


STRICT_ON_4_CPUS = [
    ("CPUQuotaPerSecUSec", "t", 3_000_000),
    ("MemoryMaxScale", "u", 3006477107),  # 70 %
    ("MemoryHighScale", "u", 2791728742),  # 65 %
    ("MemorySwapMaxScale", "u", 214748365),  # 5 %
    ("OOMPolicy", "s", "continue"),
]
RELAXED_ON_4_CPUS = [
    ("MemoryMaxScale", "u", 3006477107),  # 70 %
    ("MemorySwapMaxScale", "u", 214748365),  # 5 %
    ("OOMPolicy", "s", "continue"),
]


@pytest.mark.parametrize(
    ("profile", "expected"), [("strict", STRICT_ON_4_CPUS), ("relaxed", RELAXED_ON_4_CPUS)]
)
def test_builtin_profiles_give_exact_resource_properties(
    profile: str, expected: list[tuple[str, str, object]]
) -> None:
    limits = load_profile(profile).limits
    assert table(resource_properties(limits, cpu_count=4)) == expected


@pytest.mark.parametrize(
    ("profile", "resources"), [("strict", STRICT_ON_4_CPUS), ("relaxed", RELAXED_ON_4_CPUS)]
)
def test_scope_properties_with_a_pidfd_name_the_process_by_pidfds(
    profile: str, resources: list[tuple[str, str, object]]
) -> None:
    limits = load_profile(profile).limits
    properties = scope_properties("firefox --private-window", limits, 4, pidfd=7, pid=4242)
    assert table(properties) == [
        ("Description", "s", "firefox --private-window"),
        ("PIDFDs", "ah", [7]),
        ("Slice", "s", "app-ssc.slice"),
        ("CollectMode", "s", "inactive-or-failed"),
        *resources,
    ]


@pytest.mark.parametrize(
    ("profile", "resources"), [("strict", STRICT_ON_4_CPUS), ("relaxed", RELAXED_ON_4_CPUS)]
)
def test_scope_properties_without_a_pidfd_name_the_process_by_pids(
    profile: str, resources: list[tuple[str, str, object]]
) -> None:
    limits = load_profile(profile).limits
    properties = scope_properties("bash -i", limits, 4, pidfd=None, pid=4242)
    assert table(properties) == [
        ("Description", "s", "bash -i"),
        ("PIDs", "au", [4242]),
        ("Slice", "s", "app-ssc.slice"),
        ("CollectMode", "s", "inactive-or-failed"),
        *resources,
    ]


def test_a_pidfd_of_zero_is_still_a_pidfd() -> None:
    properties = scope_properties("x", Limits(), 4, pidfd=0, pid=4242)
    assert ("PIDFDs", "ah", [0]) in table(properties)


def test_no_limits_give_only_the_scope_itself() -> None:
    assert table(scope_properties("x", Limits(), 4, pidfd=3, pid=1)) == [
        ("Description", "s", "x"),
        ("PIDFDs", "ah", [3]),
        ("Slice", "s", "app-ssc.slice"),
        ("CollectMode", "s", "inactive-or-failed"),
    ]


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (Limits(cpu_quota=15000), [("CPUQuotaPerSecUSec", "t", 1_500_000)]),
        (Limits(cpu_quota=AllButOne()), [("CPUQuotaPerSecUSec", "t", 3_000_000)]),
        (Limits(cpu_weight=50), [("CPUWeight", "t", 50)]),
        (Limits(memory_max=Bytes(4 * 1024**3)), [("MemoryMax", "t", 4 * 1024**3)]),
        (Limits(memory_high=Bytes(3 * 1024**3)), [("MemoryHigh", "t", 3 * 1024**3)]),
        (Limits(memory_swap_max=Bytes(0)), [("MemorySwapMax", "t", 0)]),
        (Limits(memory_max=Percent(10000)), [("MemoryMaxScale", "u", 4294967295)]),
        (Limits(tasks_max=4096), [("TasksMax", "t", 4096)]),
        (Limits(tasks_max=Percent(5000)), [("TasksMaxScale", "u", 2147483648)]),
    ],
)
def test_each_limit_becomes_one_property_as_systemd_run_sends_it(
    limits: Limits, expected: list[tuple[str, str, object]]
) -> None:
    assert table(resource_properties(limits, cpu_count=4)) == expected


EVERY_LIMIT = [
    Limits(
        cpu_quota=AllButOne(),
        memory_max=Percent(7000),
        memory_high=Percent(6500),
        memory_swap_max=Percent(500),
        tasks_max=Percent(5000),
        cpu_weight=100,
        oom_policy="continue",
    ),
    Limits(
        cpu_quota=15000,
        memory_max=Bytes(4 * 1024**3),
        memory_high=Bytes(3 * 1024**3),
        memory_swap_max=Bytes(0),
        tasks_max=4096,
        cpu_weight=10000,
        oom_policy="kill",
    ),
]


@pytest.mark.parametrize("limits", EVERY_LIMIT)
@pytest.mark.parametrize("pidfd", [5, None])
def test_nothing_outside_the_allow_list_is_ever_sent(limits: Limits, pidfd: int | None) -> None:
    properties = scope_properties("x", limits, 8, pidfd=pidfd, pid=99)
    names = [p.name for p in properties]
    assert set(names) <= set(ALLOWED)
    assert len(names) == len(set(names))  # no property twice
    assert len(names) == 11  # the four of the scope itself and one per limit


@pytest.mark.parametrize("limits", EVERY_LIMIT)
def test_every_property_carries_the_signature_systemd_reads_it_with(limits: Limits) -> None:
    for prop in scope_properties("x", limits, 8, pidfd=5, pid=99):
        assert prop.signature == ALLOWED[prop.name], prop


def test_property_wire_form_is_an_sv_pair() -> None:
    assert Property("MemoryMaxScale", "u", 3006477107).wire() == (
        "MemoryMaxScale",
        ("u", 3006477107),
    )


@pytest.mark.parametrize(
    ("command", "description"),
    [
        (["firefox"], "firefox (ssc strict)"),
        (["make", "-j8"], "make -j8 (ssc strict)"),
        (["x" * 243], "x" * 243 + " (ssc strict)"),
        (["x" * 300], "x" * 242 + "… (ssc strict)"),
    ],
)
def test_description_is_the_command_line_kept_short_then_the_profile(
    command: list[str], description: str
) -> None:
    assert describe(command, "strict") == description


def test_description_is_the_command_line_on_one_printable_line() -> None:
    assert (
        describe(["sh", "-c", "echo a\nexit\t1"], "relaxed") == "sh -c echo a exit 1 (ssc relaxed)"
    )


def test_description_is_kept_short() -> None:
    assert len(describe(["x" * 1000], "a" * 64)) == 256


@pytest.mark.parametrize("profile", ["strict", "relaxed", "my-browser_2", "a" * 64])
@pytest.mark.parametrize("command", [["firefox"], ["x" * 1000], ["sh", "-c", "a (ssc b)"]])
def test_the_profile_is_read_back_from_the_description(command: list[str], profile: str) -> None:
    assert profile_of(describe(command, profile)) == profile


@pytest.mark.parametrize("description", ["firefox", "/usr/bin/firefox", "x (ssc )", "(ssc a b)"])
def test_a_description_ssc_did_not_write_has_no_profile(description: str) -> None:
    assert profile_of(description) is None
