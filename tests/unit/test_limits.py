"""Limit values as a user types them: sizes, shares of memory, CPU quotas, and what is refused."""

from __future__ import annotations

import pytest

from ssc.limits import (
    AllButOne,
    Bytes,
    LimitError,
    Percent,
    cpu_quota_usec,
    parse_cpu_quota,
    parse_memory,
    parse_percent,
    parse_size,
    parse_tasks,
    parse_weight,
)

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("65536", 65536),
        ("64K", 64 * KIB),
        ("512M", 512 * MIB),
        ("4G", 4 * GIB),
        ("1.5G", GIB + GIB // 2),
        ("1.25G", GIB + GIB // 4),
        ("2T", 2 * TIB),
        ("16M", 16 * MIB),
    ],
)
def test_sizes_use_base_1024_suffixes(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_memory(text, minimum=0) == Bytes(size)


@pytest.mark.parametrize(
    ("text", "size"),
    [("16M", 16 * MIB), ("512M", 512 * MIB), ("4G", 4 * GIB), ("1.5G", 3 * GIB // 2)],
)
def test_memory_ceilings_of_16M_and_more_are_bytes(text: str, size: int) -> None:
    assert parse_memory(text) == Bytes(size)


@pytest.mark.parametrize(
    ("text", "permyriad"),
    [
        ("70%", 7000),
        ("100%", 10000),
        ("12.5%", 1250),
        ("12.34%", 1234),
        ("0.01%", 1),
    ],
)
def test_memory_percentages_become_permyriad(text: str, permyriad: int) -> None:
    assert parse_percent(text) == permyriad
    assert parse_memory(text) == Percent(permyriad)


@pytest.mark.parametrize("text", ["4G", "70", "12.345%", "%", "70 %"])
def test_text_that_is_not_a_percentage_is_not_parsed_as_one(text: str) -> None:
    assert parse_percent(text) is None


@pytest.mark.parametrize(
    ("permyriad", "scale"),
    [
        # systemd's UINT32_SCALE_FROM_PERMYRIAD: (p * UINT32_MAX + 5000) / 10000
        (7000, 3006477107),
        (10000, 4294967295),
        (6500, 2791728742),
        (500, 214748365),
        (1, 429497),
    ],
)
def test_percent_scale_matches_systemds_uint32_scale_from_permyriad(
    permyriad: int, scale: int
) -> None:
    assert Percent(permyriad).scale() == scale


def test_a_full_share_is_exactly_uint32_max() -> None:
    assert Percent(10000).scale() == 0xFFFF_FFFF


@pytest.mark.parametrize(
    ("text", "quota"),
    [
        ("150%", 15000),
        ("50%", 5000),
        ("1%", 100),
        ("101%", 10100),
        ("800%", 80000),
        ("12.5%", 1250),
    ],
)
def test_cpu_quota_is_a_share_of_one_cpu_in_permyriad(text: str, quota: int) -> None:
    assert parse_cpu_quota(text) == quota


def test_cpu_quota_all_but_one_is_recognised() -> None:
    assert parse_cpu_quota("all-but-one") == AllButOne()


@pytest.mark.parametrize(
    ("quota", "usec"),
    [
        (15000, 1_500_000),
        (5000, 500_000),
        (100, 10_000),
        (10000, 1_000_000),
    ],
)
def test_cpu_quota_becomes_cpu_time_per_second(quota: int, usec: int) -> None:
    assert cpu_quota_usec(quota, 4) == usec


@pytest.mark.parametrize("cpus", [1, 2, 8, 64])
def test_percentage_quota_does_not_depend_on_the_cpu_count(cpus: int) -> None:
    assert cpu_quota_usec(15000, cpus) == 1_500_000


@pytest.mark.parametrize(
    ("cpus", "usec"),
    [
        (1, 1_000_000),  # at least one whole CPU, even when there is only one
        (2, 1_000_000),
        (4, 3_000_000),
        (8, 7_000_000),
    ],
)
def test_all_but_one_leaves_one_cpu_free_and_keeps_at_least_one(cpus: int, usec: int) -> None:
    assert cpu_quota_usec(AllButOne(), cpus) == usec


BAD_MEMORY = [
    "0",
    "abc",
    "-5%",
    "-1G",
    "1G;Delegate=yes",
    "1G\n",
    "4G\nDelegate=yes",
    "15M",
    "16777215",
    "101%",
    "0%",
    "12.345%",
    "",
    " 4G",
    "4G ",
    "4 G",
    "4g",  # systemd's size suffixes are upper case only; ssc refuses the lower case too
    "4GB",
    "4Gi",
    "1e9",
    "0x1000000",
    "4\u0660G",  # a non-ASCII digit
    "infinity",
    "70%%",
]


@pytest.mark.parametrize("text", BAD_MEMORY)
def test_bad_memory_values_are_refused(text: str) -> None:
    with pytest.raises(LimitError):
        parse_memory(text)


def test_memory_below_16M_is_refused() -> None:
    with pytest.raises(LimitError, match="below the smallest allowed value, 16M"):
        parse_memory("15M")


def test_memory_minimum_can_be_lowered_for_swap() -> None:
    assert parse_memory("0", minimum=0) == Bytes(0)


def test_lower_case_suffix_error_names_the_value_and_the_expected_form() -> None:
    with pytest.raises(LimitError, match=r"'4g' is not a size \(like 512M, 4G\)"):
        parse_memory("4g")


BAD_CPU = [
    "0",
    "0%",
    "0.5%",
    "0.99%",
    "abc",
    "-5%",
    "150",
    "1.5",
    "150%;Delegate=yes",
    "150%\n",
    "50%\nDelegate=yes",
    "",
    " 50%",
    "50 %",
    "12.345%",
    "all-but-two",
    "All-But-One",
    "all-but-one\n",
    "4G",
]


@pytest.mark.parametrize("text", BAD_CPU)
def test_bad_cpu_quotas_are_refused(text: str) -> None:
    with pytest.raises(LimitError):
        parse_cpu_quota(text)


def test_cpu_quota_below_1_percent_is_refused() -> None:
    with pytest.raises(LimitError, match="below the smallest CPU quota, 1%"):
        parse_cpu_quota("0.5%")


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("1", 1), ("50%", Percent(5000)), ("100%", Percent(10000))],
)
def test_tasks_are_a_count_or_a_share(text: str, value: int | Percent) -> None:
    assert parse_tasks(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "0%", "101%", "abc", "", "4096\n", "4K"])
def test_bad_task_limits_are_refused(text: str) -> None:
    with pytest.raises(LimitError):
        parse_tasks(text)


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("100", 100), ("10000", 10000)])
def test_cpu_weight_is_between_1_and_10000(text: str, value: int) -> None:
    assert parse_weight(text) == value


@pytest.mark.parametrize("text", ["0", "10001", "-1", "abc", "", "100\n", "50%"])
def test_bad_cpu_weights_are_refused(text: str) -> None:
    with pytest.raises(LimitError):
        parse_weight(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [(Bytes(4 * GIB), "4294967296B"), (Percent(7000), "70%"), (Percent(1250), "12.5%")],
)
def test_amounts_print_as_a_user_reads_them(value: Bytes | Percent, text: str) -> None:
    assert str(value) == text


@pytest.mark.parametrize("text", ["16777216T", "18446744073709551615", "18446744073709551616"])
def test_memory_sizes_that_do_not_fit_systemds_64_bits_are_refused(text: str) -> None:
    """2^64-1 is systemd's "no limit" and more does not fit: neither may reach the manager."""
    with pytest.raises(LimitError, match="too large"):
        parse_memory(text)


def test_cpu_quotas_beyond_a_thousand_cpus_are_refused() -> None:
    with pytest.raises(LimitError, match="too large"):
        parse_cpu_quota("1844674407370956%")
