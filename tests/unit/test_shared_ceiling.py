"""The shared ceiling of all contained apps: its default, the user's file, wire and read-back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ssc import shared_ceiling
from ssc.cgroup import LimitNotEnforced, slice_holds, verify_slice
from ssc.limits import Bytes, Percent
from ssc.profiles import Limits

GIB = 1024**3


@pytest.mark.parametrize(
    ("ram", "ceiling"),
    [
        (GIB + GIB // 2, (GIB + GIB // 2) // 2),  # half of RAM, the floor
        (3 * GIB, 2 * GIB),  # the test bed: the fixed 1 GiB reserve is the larger
        (4 * GIB, 3 * GIB),
        (8 * GIB, int(8 * GIB * 0.8)),  # from 5 GiB on, 20 % of RAM is the larger
        (16 * GIB, int(16 * GIB * 0.8)),
        (64 * GIB, int(64 * GIB * 0.8)),
    ],
)
def test_the_default_leaves_the_larger_reserve_and_at_least_half_of_ram(
    ram: int, ceiling: int
) -> None:
    assert shared_ceiling.default_ceiling(ram) == ceiling


def test_the_defaults_put_memory_high_a_little_below_and_bound_swap() -> None:
    limits = shared_ceiling.default_limits(4 * GIB)
    assert limits.memory_max == Bytes(3 * GIB)
    assert limits.memory_high == Bytes(int(3 * GIB * 0.95))
    assert limits.memory_swap_max == Percent(500)
    assert limits.cpu_quota is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", shared_ceiling.default_limits(8 * GIB)),
        (
            '[limits]\nMemoryMax = "4G"\n',
            shared_ceiling.default_limits(8 * GIB)._replace(
                memory_max=Bytes(4 * GIB), memory_high=Bytes(int(4 * GIB * 0.95))
            ),
        ),
        (
            '[limits]\nMemoryMax = "60%"\nMemoryHigh = "50%"\nMemorySwapMax = "0"\n',
            Limits(memory_max=Percent(6000), memory_high=Percent(5000), memory_swap_max=Bytes(0)),
        ),
        (
            '[limits]\nMemoryMax = "infinity"\nMemorySwapMax = "infinity"\n',
            Limits(memory_max=None, memory_high=None, memory_swap_max=None),
        ),
    ],
)
def test_the_users_file_sets_the_shared_limits_in_systemds_syntax(
    text: str, expected: Limits
) -> None:
    assert shared_ceiling.parse_shared(text, "shared.toml", 8 * GIB) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits", "shared.toml: not valid TOML"),
        ('colour = "red"', "shared.toml: unknown key 'colour' (known: limits)"),
        ("limits = 3", "shared.toml: limits must be a table"),
        ('[limits]\nCPUQuota = "100%"', "unknown key limits.CPUQuota (known: MemoryMax,"),
        ("[limits]\nMemoryMax = 4", "limits.MemoryMax must be a string"),
        (
            '[limits]\nMemoryMax = "lots"',
            "shared.toml: limits.MemoryMax: 'lots' is not a size",
        ),
        ('[limits]\nMemoryMax = "1M"', "below the smallest allowed value, 16M"),
        ('[limits]\nMemoryHigh = "120%"', "not a percentage between 0 and 100"),
    ],
)
def test_a_bad_shared_file_is_one_error_naming_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(shared_ceiling.SharedError) as raised:
        shared_ceiling.parse_shared(text, "shared.toml", 8 * GIB)
    assert message in raised.value.message
    assert "\n" not in raised.value.message


def test_without_a_file_the_defaults_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert shared_ceiling.load_shared(8 * GIB) == shared_ceiling.default_limits(8 * GIB)
    (tmp_path / "ssc").mkdir()
    (tmp_path / "ssc" / "shared.toml").write_text('[limits]\nMemoryMax = "5G"\n')
    assert shared_ceiling.load_shared(8 * GIB).memory_max == Bytes(5 * GIB)


def test_the_slice_gets_every_limit_and_no_limit_as_infinity() -> None:
    properties = shared_ceiling.slice_properties(
        Limits(memory_max=Bytes(6 * GIB), memory_high=None, memory_swap_max=Percent(500))
    )
    assert [p.wire() for p in properties] == [
        ("MemoryMax", ("t", 6 * GIB)),
        ("MemorySwapMaxScale", ("u", Percent(500).scale())),
        ("MemoryHigh", ("t", 2**64 - 1)),
    ]


def test_the_slice_nests_in_app_slice_by_its_name() -> None:
    assert shared_ceiling.SLICE == "app-ssc.slice"
    assert shared_ceiling.slice_directory().endswith(f"/app.slice/{shared_ceiling.SLICE}")


PAGE = os.sysconf("SC_PAGE_SIZE")
SLICE_DIR = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/app-ssc.slice"
SCOPE = f"{SLICE_DIR.removeprefix('/sys/fs/cgroup')}/app-ssc-x-01234567890123456789.scope"
LIMITS = Limits(memory_max=Bytes(6 * GIB), memory_high=Bytes(5 * GIB), memory_swap_max=None)


def reader(files: dict[str, str]) -> object:
    def read(path: str) -> str:
        if path == "/proc/self/cgroup":
            return f"0::{SCOPE}\n"
        try:
            return files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    return read


HELD = {
    f"{SLICE_DIR}/memory.max": f"{6 * GIB}\n",
    f"{SLICE_DIR}/memory.high": f"{5 * GIB}\n",
    f"{SLICE_DIR}/memory.swap.max": "max\n",
}


def test_a_slice_that_holds_its_limits_needs_no_call_and_passes_the_read_back() -> None:
    read = reader(HELD)
    assert slice_holds(SLICE_DIR, LIMITS, read)  # type: ignore[arg-type]
    verify_slice("app-ssc.slice", LIMITS, read)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "files",
    [
        {},  # not there yet
        {**HELD, f"{SLICE_DIR}/memory.max": "max\n"},
        {**HELD, f"{SLICE_DIR}/memory.high": f"{6 * GIB}\n"},
        {**HELD, f"{SLICE_DIR}/memory.swap.max": "0\n"},
    ],
)
def test_a_slice_without_its_limits_is_set_up_and_refused_if_it_stays_so(
    files: dict[str, str],
) -> None:
    read = reader(files)
    assert not slice_holds(SLICE_DIR, LIMITS, read)  # type: ignore[arg-type]
    if files:
        with pytest.raises(LimitNotEnforced, match=r"app-ssc\.slice: memory"):
            verify_slice("app-ssc.slice", LIMITS, read)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", '[limits]\nMemoryMax = "4G"\n'),
        (
            '# mine\n[limits]\nMemoryMax = "8G"  # was\nMemoryHigh = "7G"\nMemorySwapMax = "1G"\n',
            '# mine\n[limits]\nMemoryMax = "4G"\nMemorySwapMax = "1G"\n',
        ),
        ('[limits]\nMemorySwapMax = "1G"\n', '[limits]\nMemorySwapMax = "1G"\nMemoryMax = "4G"\n'),
        ("# only a comment\n", '# only a comment\n\n[limits]\nMemoryMax = "4G"\n'),
    ],
)
def test_a_new_shared_ceiling_changes_its_line_and_keeps_the_others(
    text: str, expected: str
) -> None:
    new = shared_ceiling.with_ceiling(text, "4G")
    assert new == expected
    assert shared_ceiling.parse_shared(new, "shared.toml", 8 * GIB).memory_max == Bytes(4 * GIB)


def test_a_share_raised_in_the_file_reaches_a_slice_that_holds_less() -> None:
    """verify_slice accepts a share that is no larger (systemd's view of RAM may be smaller),
    but the set-up check wants the share itself, or the new ceiling would never be set."""
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    wanted = Limits(memory_max=Percent(7500), memory_high=None, memory_swap_max=None)
    at_share = physical * Percent(7500).scale() // 0xFFFF_FFFF // PAGE * PAGE
    for held, holds in ((GIB, False), (at_share, True)):
        files = {
            f"{SLICE_DIR}/memory.max": f"{held}\n",
            f"{SLICE_DIR}/memory.high": "max\n",
            f"{SLICE_DIR}/memory.swap.max": "max\n",
        }
        assert slice_holds(SLICE_DIR, wanted, reader(files)) is holds  # type: ignore[arg-type]
