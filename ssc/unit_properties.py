"""What ssc asks the manager for: the scope's name and its properties, as plain data.

Names follow systemd's desktop-environment convention (``docs/DESKTOP_ENVIRONMENTS.md``):
``app-<launcher>-<ApplicationID>-<RANDOM>.scope``, where ``-`` separates the fields, so a ``-``
inside the application ID must be escaped (``\\x2d``), as ``systemd-escape`` does. The convention
leaves the form of RANDOM open; it is decimal digits here because GNOME's app tracking and the
Resources app recognise ``app-<launcher>-<id>-<digits>.scope`` (the form GNOME Shell itself uses,
with a PID), and put the scope's processes under the app.

Properties are an allow-list, each with the D-Bus signature the manager expects
(see ``src/core/dbus-cgroup.c`` and ``dbus-scope.c``); nothing typed by a user is passed
through as a raw property.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .limits import Bytes, Percent, cpu_quota_usec
from .profiles import Limits
from .shared_ceiling import SLICE

# The scope's name, made and read back, lives in ssc.unit_names (light: the helper uses it).
from .unit_names import app_id_of as app_id_of
from .unit_names import random_part as random_part
from .unit_names import scope_name as scope_name

_DESCRIPTION_MAX = 256
OOM_POLICY = "OOMPolicy"


class Property(NamedTuple):
    """One ``(sv)`` entry of ``StartTransientUnit``'s property array."""

    name: str
    signature: str
    value: object

    def wire(self) -> tuple[str, tuple[str, object]]:
        return (self.name, (self.signature, self.value))


def resource_properties(limits: Limits, cpu_count: int) -> list[Property]:
    """Limits as systemd-run sends them: shares as ``…Scale`` (0…UINT32_MAX), sizes in bytes."""
    props: list[Property] = []
    if limits.cpu_quota is not None:
        usec = cpu_quota_usec(limits.cpu_quota, cpu_count)
        props.append(Property("CPUQuotaPerSecUSec", "t", usec))
    if limits.cpu_weight is not None:
        props.append(Property("CPUWeight", "t", limits.cpu_weight))
    for name, amount in (
        ("MemoryMax", limits.memory_max),
        ("MemoryHigh", limits.memory_high),
        ("MemorySwapMax", limits.memory_swap_max),
    ):
        if isinstance(amount, Percent):
            props.append(Property(f"{name}Scale", "u", amount.scale()))
        elif isinstance(amount, Bytes):
            props.append(Property(name, "t", amount.value))
    if isinstance(limits.tasks_max, Percent):
        props.append(Property("TasksMaxScale", "u", limits.tasks_max.scale()))
    elif isinstance(limits.tasks_max, int):
        props.append(Property("TasksMax", "t", limits.tasks_max))
    if limits.oom_policy is not None:
        props.append(Property(OOM_POLICY, "s", limits.oom_policy))
    return props


def scope_properties(
    description: str, limits: Limits, cpu_count: int, *, pidfd: int | None, pid: int
) -> list[Property]:
    """Everything ``StartTransientUnit`` gets for the scope holding ssc's own process.

    With ``pidfd`` the process is named by ``PIDFDs`` (immune to PID reuse); without, by
    ``PIDs`` — the fallback systemd-run uses for managers that predate ``PIDFDs``.
    """
    process = (
        Property("PIDFDs", "ah", [pidfd]) if pidfd is not None else Property("PIDs", "au", [pid])
    )
    return [
        Property("Description", "s", description),
        process,
        Property("Slice", "s", SLICE),
        Property("CollectMode", "s", "inactive-or-failed"),
        *resource_properties(limits, cpu_count),
    ]


def scope_property_attempts(
    description: str, limits: Limits, cpu_count: int, *, pidfd: int | None, pid: int
) -> list[list[Property]]:
    """The property sets to offer, in order, each one for a manager that refused the one before.

    Managers from systemd 255 on get the process by ``PIDFDs``; older ones refuse it (``PIDs``
    instead, as systemd-run retries). Scopes honour ``OOMPolicy`` from systemd 253 on; older
    managers refuse it, and a requested ``continue`` is then dropped rather than the launch
    refused: systemd 252 stops a scope on any OOM kill in it whatever it is told, earlier ones
    never do (see the README). ``stop`` and ``kill`` are not dropped: their refusal is reported.
    """
    attempts = []
    if pidfd is not None:
        attempts.append(scope_properties(description, limits, cpu_count, pidfd=pidfd, pid=pid))
    attempts.append(scope_properties(description, limits, cpu_count, pidfd=None, pid=pid))
    if limits.oom_policy == "continue":
        without_policy = limits._replace(oom_policy=None)
        attempts.append(
            scope_properties(description, without_policy, cpu_count, pidfd=None, pid=pid)
        )
    return attempts


_PROFILE_TAG = re.compile(r" \(ssc ([A-Za-z0-9_-]{1,64})\)$")


def describe(command: list[str], profile: str) -> str:
    """The scope's Description: the command line (as systemd-run uses), then the profile.

    ``firefox --private-window (ssc strict)``, on one printable line of at most 256 characters;
    a long command line is cut, the profile never is, so ``profile_of`` can read it back.
    """
    tag = f" (ssc {profile})"
    text = "".join(c if c.isprintable() else " " for c in " ".join(command))
    room = _DESCRIPTION_MAX - len(tag)
    if len(text) > room:
        text = text[: room - 1] + "…"
    return text + tag


def profile_of(description: str) -> str | None:
    """The profile a scope was started with, read from its Description (None if not ssc's)."""
    match = _PROFILE_TAG.search(description)
    return match.group(1) if match else None
