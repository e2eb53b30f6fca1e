"""What ``sscctl ps``, ``top``, ``set`` and ``stop`` do, in terms of the manager edge
(``ssc.user_manager.unit_control``), the cgroup readers (``ssc.ctl.usage``) and the pure modules.

``set`` and ``stop`` check everything first (the values, then the TARGET against what runs)
and change nothing when any of it is wrong; ``set`` then reads the cgroup back until the
kernel holds the new values, as the launcher does after it starts a scope.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from jeepney.io.blocking import DBusConnection

from .. import held, unit_properties
from ..cgroup import expected_memory, memory_holds
from ..errors import SscError
from ..limits import USEC_PER_SEC, Amount, CpuQuota, cpu_quota_usec
from ..profiles import Limits
from ..user_manager import unit_control
from ..user_manager.transient_units import connect
from . import apps, usage
from .report import SHARED_NAME, Process, Shared, Status, short_size

if TYPE_CHECKING:
    from .processes import Sampler

SAMPLE_SECONDS = 0.5  # ps: CPU use is measured over this long
CONFIRM_SECONDS = 5.0  # set: how long the kernel may take to hold the new values
NO_LIMIT = 2**64 - 1  # what systemd reads as "infinity" for MemoryHigh and the like
DELEGATION_HINT = (
    "your user manager lacks the cpu or memory controller: see contrib/systemd/ in ssc's sources"
)


class Sampling(NamedTuple):
    at: float  # time.monotonic()
    usage: usage.Usage


def scopes(
    connection: DBusConnection,
    cache: dict[str, apps.Scope] | None = None,
    *,
    held_by_root: bool = False,
) -> list[apps.Scope]:
    """The ssc scopes running now, with their app and cgroup (``cache`` spares ``top`` the
    per-unit calls for scopes it has seen). With ``held_by_root``, ``connection`` is to the
    system bus, and only the user's own held scopes count (their cgroup says whose they are)."""
    own_held = held.held_directory() + "/"
    found = []
    names: dict[str, apps.App] = {}
    for entry in unit_control.list_scopes(connection):
        if cache is not None and entry.name in cache:
            found.append(cache[entry.name])
            continue
        app_id = unit_properties.app_id_of(entry.name)
        if app_id is None:
            continue
        try:
            group = unit_control.get_property(
                connection, entry.path, unit_control.SCOPE_INTERFACE, "ControlGroup"
            )
            since = unit_control.get_property(
                connection, entry.path, unit_control.UNIT_INTERFACE, "ActiveEnterTimestamp"
            )
        except unit_control.BusError:
            continue  # gone since it was listed
        if not group:
            continue
        if held_by_root and not usage.cgroup_directory(group).startswith(own_held):
            continue  # another user's
        if app_id not in names:
            names[app_id] = apps.lookup(app_id)
        scope = apps.Scope(
            entry.name,
            names[app_id],
            unit_properties.profile_of(entry.description),
            usage.cgroup_directory(group),
            int(since) or None,
            held_by_root,
        )
        found.append(scope)
        if cache is not None:
            cache[entry.name] = scope
    return found


def held_scopes(cache: dict[str, apps.Scope] | None = None) -> list[apps.Scope]:
    """The user's scopes that ssc's system helper holds (none without its slice: no call)."""
    if not os.path.isdir(held.held_directory()):
        return []
    connection = held.system_connection()
    try:
        return scopes(connection, cache, held_by_root=True)
    finally:
        connection.close()


def read(scope: apps.Scope) -> Sampling | None:
    try:
        return Sampling(time.monotonic(), usage.read_usage(scope.cgroup))
    except usage.ScopeGone:
        return None


def status(
    scope: apps.Scope,
    before: Sampling | None,
    after: Sampling,
    sample_processes: Callable[[list[int]], list[Process]] | None = None,
) -> Status:
    cpu = usage.cpu_percent(before.usage, after.usage, after.at - before.at) if before else None
    since = scope.since_usec
    age = time.time() - since / USEC_PER_SEC if since else None
    pids = usage.read_procs(scope.cgroup)
    processes = sample_processes(pids) if sample_processes is not None else None
    return Status(scope, after.usage, pids, cpu, age, processes)


def ps(*, verbose: bool) -> tuple[list[Status], Shared | None]:
    """Every running scope, with CPU use measured over half a second, and all of them together
    (their slice; None when it is not there)."""
    connection = connect()
    try:
        found = scopes(connection)
    finally:
        connection.close()
    found += held_scopes()
    sampler = _sampler() if verbose else None
    shared_before = _read_shared()
    first = {scope.unit: read(scope) for scope in found}
    if sampler is not None:
        for scope in found:
            sampler.sample(usage.read_procs(scope.cgroup))
    if found:
        time.sleep(SAMPLE_SECONDS)
    statuses = []
    for scope in found:
        second = read(scope)
        if second is None:
            continue
        sample = sampler.sample if sampler is not None else None
        statuses.append(status(scope, first[scope.unit], second, sample))
    shared_after = _read_shared()
    if shared_after is None:
        return statuses, None
    cpu = None
    if shared_before is not None:
        seconds = shared_after.at - shared_before.at
        cpu = usage.cpu_percent(shared_before.usage, shared_after.usage, seconds)
    return statuses, Shared(shared_after.usage, cpu)


def _read_shared() -> Sampling | None:
    """The slice of all contained apps, read as a scope is."""
    from ..shared_ceiling import slice_directory

    try:
        return Sampling(time.monotonic(), usage.read_usage(slice_directory()))
    except (usage.ScopeGone, OSError):
        return None


def top(interval: float) -> Iterator[list[Status]]:
    """Every ``interval`` seconds, every running scope and its processes (the first after a
    short first interval, so that it has CPU figures too)."""
    sampler = _sampler()
    cache: dict[str, apps.Scope] = {}
    last: dict[str, Sampling] = {}
    connection = connect()
    try:
        first = True
        while True:
            found = scopes(connection, cache) + held_scopes(cache)
            statuses = []
            readings: dict[str, Sampling] = {}
            for scope in found:
                now = read(scope)
                if now is None:
                    continue
                readings[scope.unit] = now
                statuses.append(status(scope, last.get(scope.unit), now, sampler.sample))
            last = readings
            for unit in set(cache) - set(readings):
                del cache[unit]
            sampler.keep_only(pid for s in statuses for pid in s.pids)
            if first:
                first = False
                time.sleep(min(interval, SAMPLE_SECONDS))
                continue
            yield statuses
            time.sleep(interval)
    finally:
        connection.close()


def _sampler() -> Sampler:
    from .processes import Sampler  # psutil: only where per-process figures are asked for

    return Sampler()


# --- set ---------------------------------------------------------------------------------------


def cpu_holds(actual_percent: float | None, quota_usec: int) -> bool:
    if actual_percent is None:
        return False
    per_second = actual_percent * USEC_PER_SEC / 100
    return abs(per_second - quota_usec) <= quota_usec // 100 + 1000


def change_properties(
    memory: Amount | None, cpu: CpuQuota | None, cpu_count: int
) -> list[unit_properties.Property]:
    """The wire properties for ``set``: as the launcher sends them; a new ceiling also drops
    ``MemoryHigh``, as ``ssc --memory`` does (it was placed relative to the old ceiling)."""
    properties = unit_properties.resource_properties(
        Limits(cpu_quota=cpu, memory_max=memory), cpu_count
    )
    if memory is not None:
        properties.append(unit_properties.Property("MemoryHigh", "t", NO_LIMIT))
    return properties


def describe_change(before: usage.Usage, after: usage.Usage, memory: bool, cpu: bool) -> str:
    """``memory 256M → 300M, CPU 150% → 50%``."""

    def size(value: int | None) -> str:
        return "none" if value is None else short_size(value)

    def quota(value: float | None) -> str:
        return "none" if value is None else f"{value:.0f}%"

    parts = []
    if memory:
        parts.append(f"memory {size(before.memory_max)} → {size(after.memory_max)}")
        if before.memory_high is not None:
            parts.append(f"MemoryHigh {size(before.memory_high)} → {size(after.memory_high)}")
    if cpu:
        parts.append(f"CPU {quota(before.cpu_quota)} → {quota(after.cpu_quota)}")
    return ", ".join(parts)


def set_shared(memory: str) -> list[str]:
    """A new shared ceiling for all contained apps: set live, read back until the kernel holds
    it, then kept in shared.toml for the next login. A value the file cannot take, or the
    kernel does not hold, changes nothing in the file."""
    from .. import cgroup, shared_ceiling
    from ..user_manager import transient_units

    text = shared_ceiling.with_ceiling(shared_ceiling.read_shared_text(), memory)
    limits = shared_ceiling.parse_shared(
        text, shared_ceiling.shared_file(), shared_ceiling.physical_memory()
    )
    directory = shared_ceiling.slice_directory()
    try:
        before = usage.read_usage(directory)
    except (usage.ScopeGone, OSError):
        before = None
    connection = connect()
    try:
        transient_units.set_up_slice(
            connection, shared_ceiling.SLICE, shared_ceiling.slice_properties(limits)
        )
    finally:
        connection.close()
    deadline = time.monotonic() + CONFIRM_SECONDS
    while not cgroup.slice_holds(directory, limits, cgroup.read_text):
        if time.monotonic() > deadline:
            raise SscError(
                f"{shared_ceiling.SLICE}: the kernel does not hold the new ceiling {memory}",
                hint=cgroup.DELEGATION_HINT,
            )
        time.sleep(0.05)
    shared_ceiling.write_shared_text(text)
    after = usage.read_usage(directory)
    change = describe_change(before or after, after, memory=True, cpu=False)
    return [
        f"{SHARED_NAME} ({shared_ceiling.SLICE}): {change}; kept in {shared_ceiling.shared_file()}"
    ]


def set_limits(target: str, memory: Amount | None, cpu: CpuQuota | None) -> list[str]:
    cpu_count = os.cpu_count() or 1
    page = os.sysconf("SC_PAGE_SIZE")
    physical = os.sysconf("SC_PHYS_PAGES") * page
    properties = change_properties(memory, cpu, cpu_count)
    connection = connect()
    try:
        chosen = apps.resolve(target, scopes(connection) + held_scopes())
        befores = {scope.unit: _usage_or_gone(scope) for scope in chosen}
        lines = []
        for scope in chosen:
            if scope.held:
                held.set_limits(scope.unit, properties)  # a raise asks polkit
            else:
                unit_control.set_properties(connection, scope.unit, properties)
            after = _confirm(scope, memory, cpu, cpu_count, page, physical)
            before = befores[scope.unit]
            change = describe_change(before, after, memory is not None, cpu is not None)
            lines.append(f"{scope.app.name} ({scope.unit}): {change}")
        return lines
    finally:
        connection.close()


def _usage_or_gone(scope: apps.Scope) -> usage.Usage:
    try:
        return usage.read_usage(scope.cgroup)
    except usage.ScopeGone as error:
        raise SscError(f"{scope.unit}: the app exited") from error


def _confirm(
    scope: apps.Scope,
    memory: Amount | None,
    cpu: CpuQuota | None,
    cpu_count: int,
    page: int,
    physical: int,
) -> usage.Usage:
    """The cgroup's reading once it holds the new values (the manager applies them a moment
    after it replies); an error naming the value when it does not."""
    memory_wanted = expected_memory(memory, page, physical) if memory is not None else None
    cpu_wanted = cpu_quota_usec(cpu, cpu_count) if cpu is not None else None
    deadline = time.monotonic() + CONFIRM_SECONDS
    while True:
        now = _usage_or_gone(scope)
        memory_ok = memory_wanted is None or memory_holds(now.memory_max, memory_wanted, page)
        cpu_ok = cpu_wanted is None or cpu_holds(now.cpu_quota, cpu_wanted)
        if memory_ok and cpu_ok:
            return now
        if time.monotonic() > deadline:
            if not memory_ok:
                held = "max" if now.memory_max is None else str(now.memory_max)
                raise SscError(
                    f"{scope.unit}: memory.max is {held}, not the requested {memory}",
                    hint=DELEGATION_HINT,
                )
            raise SscError(
                f"{scope.unit}: cpu.max allows {now.cpu_quota}% of a CPU, not the requested {cpu}",
                hint=DELEGATION_HINT,
            )
        time.sleep(0.05)


# --- stop --------------------------------------------------------------------------------------


def stop(target: str, *, kill: bool) -> list[str]:
    connection = connect()
    try:
        chosen = apps.resolve(target, scopes(connection) + held_scopes())
        lines = []
        for scope in chosen:
            if scope.held:
                held.stop(scope.unit, kill=kill)
            else:
                _stop_one(connection, scope.unit, kill)
            verb = "Killed" if kill else "Stopped"
            lines.append(f"{verb} {scope.app.name} ({scope.unit})")
        return lines
    finally:
        connection.close()


def _stop_one(connection: DBusConnection, unit: str, kill: bool) -> None:
    """Stop the scope (its processes get SIGTERM, then SIGKILL after the manager's stop
    timeout); with ``kill``, SIGKILL at once. A scope that is gone meanwhile is stopped."""
    try:
        if kill:
            unit_control.kill(connection, unit, signal.SIGKILL)
        result = unit_control.run_job(connection, "StopUnit", unit)
    except unit_control.BusError as error:
        if error.name == unit_control.NO_SUCH_UNIT:
            return
        raise
    if result != "done":
        raise SscError(
            f"Failed to stop {unit}: job {result}", hint=f"see: journalctl --user -u {unit}"
        )
