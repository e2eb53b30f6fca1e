"""Fail closed: after the scope started, check that the kernel really holds what was asked.

A manager without the cpu or memory controller delegated (older systemd, cgroup v1, a drop-in
that removed ``Delegate=``) starts the scope all the same and silently enforces nothing, so
ssc reads its own cgroup back (``/proc/self/cgroup``, cgroup v2's ``0::`` line) and the
scope's ``memory.max``, ``memory.swap.max`` and ``cpu.max`` before it runs the program.
"""

from __future__ import annotations

import os

from .errors import SscError
from .limits import UINT32_MAX, USEC_PER_SEC, Amount, Bytes, cpu_quota_usec

# Annotations only: importing typing or collections.abc costs the launch path more than it
# does (see ssc.limits). mypy reads TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .profiles import Limits

CGROUP_ROOT = "/sys/fs/cgroup"
DELEGATION_HINT = (
    "your user manager lacks the cpu or memory controller; enable delegation with the drop-in "
    "in contrib/systemd/ (Delegate=pids memory cpu), then log out and in again"
)


class LimitNotEnforced(SscError):
    """The scope exists but the kernel does not hold a requested limit."""


def cgroup_path(proc_cgroup: str) -> str | None:
    """The cgroup v2 path in a ``/proc/PID/cgroup`` text (its ``0::`` line), if there is one."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def cgroup_of(pid: int | str) -> str | None:
    """A process's cgroup v2 path; None if it cannot be read (gone, or no cgroup v2)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            return cgroup_path(f.read())
    except OSError:
        return None


def enclosing_strict_app(own_cgroup: str | None) -> str | None:
    """The scope of the strict app this process runs inside, if it does; else None.

    A strict app's sandbox shows ``/sys/fs/cgroup`` read-only (``ssc.strict.sandbox``), which no
    process can arrange for itself without a namespace, so a read-only cgroup tree under an
    ``app-ssc-…`` scope means the sandbox, whatever the environment says.
    """
    unit = (own_cgroup or "").rsplit("/", 1)[-1]
    if not (unit.startswith("app-ssc-") and unit.endswith(".scope")):
        return None
    try:
        read_only = os.statvfs(CGROUP_ROOT).f_flag & os.ST_RDONLY
    except OSError:
        return None
    return unit if read_only else None


def own_cgroup(read: Callable[[str], str], pid: int | str = "self") -> str:
    """This process's (or ``pid``'s) cgroup v2 path, e.g. ``/user.slice/…/app-ssc-x-….scope``."""
    path = cgroup_path(read(f"/proc/{pid}/cgroup"))
    if path is None:
        raise LimitNotEnforced(
            "this system does not use the unified cgroup hierarchy (cgroup v2)",
            hint="ssc needs cgroup v2, the default since systemd 247",
        )
    return path


def verify_scope(
    unit: str, limits: Limits, cpu_count: int, read: Callable[[str], str], pid: int | str = "self"
) -> None:
    """Raise unless this process (or ``pid``) sits in ``unit`` and its files hold the limits."""
    path = own_cgroup(read, pid)
    if path.rsplit("/", 1)[-1] != unit:
        raise LimitNotEnforced(f"Failed to move into {unit}: this process is still in {path}")
    directory = f"{CGROUP_ROOT}{path}"
    if limits.memory_max is not None:
        _check_memory(unit, directory, "memory.max", limits.memory_max, read)
    if limits.memory_swap_max is not None and _swap_is_accounted(unit, directory, read):
        _check_memory(unit, directory, "memory.swap.max", limits.memory_swap_max, read)
    if limits.cpu_quota is not None:
        _check_cpu(unit, directory, cpu_quota_usec(limits.cpu_quota, cpu_count), read)


def _check_memory(
    unit: str, directory: str, name: str, amount: Amount | None, read: Callable[[str], str]
) -> None:
    text = _read_limit(unit, directory, name, read)
    if not memory_file_holds(text, amount):
        wanted = "no limit" if amount is None else f"the requested {amount}"
        raise LimitNotEnforced(f"{unit}: {name} is {text}, not {wanted}", hint=DELEGATION_HINT)


def memory_file_holds(text: str, amount: Amount | None) -> bool:
    """Whether a ``memory.max``-like file's text holds ``amount`` (None: ``max``, no limit)."""
    if amount is None:
        return text == "max"
    page = os.sysconf("SC_PAGE_SIZE")
    expected = expected_memory(amount, page, os.sysconf("SC_PHYS_PAGES") * page)
    if isinstance(amount, Bytes):
        return text.isdigit() and int(text) == expected  # whole pages
    # systemd computes the share of its own view of physical memory (a container's limit may
    # be smaller than the machine's), so the check is: a number, no larger than the share.
    return text.isdigit() and int(text) <= expected + page


def expected_memory(amount: Amount, page: int, physical: int) -> int:
    """What ``memory.max`` holds for ``amount``: whole pages; a share as systemd computes it."""
    if isinstance(amount, Bytes):
        return amount.value // page * page
    return physical * amount.scale() // UINT32_MAX // page * page


def memory_holds(actual: int | None, expected: int, page: int) -> bool:
    """Whether ``memory.max`` holds ``expected``: to the page, or within 1 % for a share, which
    systemd computes from its own view of physical memory."""
    return actual is not None and abs(actual - expected) <= max(page, expected // 100)


# The shared ceiling's files, and the limits they hold (``ssc.shared_ceiling``).
SLICE_FILES = (
    ("memory.max", "memory_max"),
    ("memory.high", "memory_high"),
    ("memory.swap.max", "memory_swap_max"),
)


def slice_holds(directory: str, limits: Limits, read: Callable[[str], str]) -> bool:
    """Whether the slice's cgroup ``directory`` holds ``limits`` already (False: not there).

    Closer than ``verify_slice``'s check: a share must be the share, not merely no larger, or
    a ceiling raised in shared.toml would never reach a slice that holds a lower one.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    physical = os.sysconf("SC_PHYS_PAGES") * page
    for name, field in SLICE_FILES:
        try:
            text = read(f"{directory}/{name}").strip()
        except FileNotFoundError:
            if name == "memory.swap.max":
                continue  # no swap accounting: nothing to hold (verify_slice says more)
            return False
        except OSError:
            return False
        amount = getattr(limits, field)
        if amount is None:
            if text != "max":
                return False
        elif not text.isdigit() or not memory_holds(
            int(text), expected_memory(amount, page, physical), page
        ):
            return False
    return True


def verify_slice(
    slice_name: str, limits: Limits, read: Callable[[str], str], pid: int | str = "self"
) -> None:
    """Raise unless this process's (or ``pid``'s) scope sits in ``slice_name``, holding
    ``limits``."""
    path = own_cgroup(read, pid)
    parent = path.rsplit("/", 1)[0]
    if parent.rsplit("/", 1)[-1] != slice_name:
        raise LimitNotEnforced(f"Failed to start in {slice_name}: the scope is in {parent}")
    directory = f"{CGROUP_ROOT}{parent}"
    for name, field in SLICE_FILES:
        if name == "memory.swap.max" and not _swap_is_accounted(slice_name, directory, read):
            continue
        _check_memory(slice_name, directory, name, getattr(limits, field), read)


def _check_cpu(unit: str, directory: str, quota_usec: int, read: Callable[[str], str]) -> None:
    text = _read_limit(unit, directory, "cpu.max", read)
    quota, _, period = text.partition(" ")
    if not (quota.isdigit() and period.isdigit()):
        raise LimitNotEnforced(f"{unit}: cpu.max is {text!r}, not a quota", hint=DELEGATION_HINT)
    per_second = int(quota) * USEC_PER_SEC // int(period)
    if abs(per_second - quota_usec) > quota_usec // 100 + 1000:
        raise LimitNotEnforced(
            f"{unit}: cpu.max allows {per_second} µs per second, not the requested {quota_usec}",
            hint=DELEGATION_HINT,
        )


def _swap_is_accounted(unit: str, directory: str, read: Callable[[str], str]) -> bool:
    """Whether the scope has swap files to check; refuse where swap exists but is not accounted.

    ``memory.swap.max`` exists only where the kernel accounts swap. Without any swap there is
    nothing to bound; with swap but no accounting (``swapaccount=0``), the bound cannot hold.
    """
    try:
        read(f"{directory}/memory.swap.max")
        return True
    except FileNotFoundError:
        pass
    try:
        swaps = read("/proc/swaps").splitlines()  # a header line, then one line per swap area
    except FileNotFoundError:
        swaps = []
    if len(swaps) > 1:
        raise LimitNotEnforced(
            f"{unit}: swap is on but not accounted, so its swap bound cannot be enforced",
            hint="boot without swapaccount=0, or turn swap off",
        )
    return False


def _read_limit(unit: str, directory: str, name: str, read: Callable[[str], str]) -> str:
    try:
        return read(f"{directory}/{name}").strip()
    except FileNotFoundError as error:
        controller = name.split(".", 1)[0]
        raise LimitNotEnforced(
            f"{unit}: the {controller} controller is not available to your user manager",
            hint=DELEGATION_HINT,
        ) from error


def read_text(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()
