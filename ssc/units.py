"""What ssc asks the manager for: the scope's name and its properties, as plain data.

Names follow systemd's desktop-environment convention (``docs/DESKTOP_ENVIRONMENTS.md``):
``app-<launcher>-<ApplicationID>-<RANDOM>.scope``, where ``-`` separates the fields, so a ``-``
inside the application ID must be escaped (``\\x2d``), as ``systemd-escape`` does.

Properties are an allow-list, each with the D-Bus signature the manager expects
(see ``src/core/dbus-cgroup.c`` and ``dbus-scope.c``); nothing typed by a user is passed
through as a raw property.
"""

from __future__ import annotations

from typing import NamedTuple

from .limits import Bytes, Percent, cpu_quota_usec
from .profiles import Limits

LAUNCHER = "ssc"
SLICE = "app.slice"
UNIT_NAME_MAX = 255  # systemd's UNIT_NAME_MAX is 256 including the terminating NUL
RANDOM_HEX_LENGTH = 32
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")
_NAME_PREFIX = f"app-{LAUNCHER}-"
_NAME_SUFFIX_LENGTH = 1 + RANDOM_HEX_LENGTH + len(".scope")
MAX_ESCAPED_APP_ID = UNIT_NAME_MAX - len(_NAME_PREFIX) - _NAME_SUFFIX_LENGTH


class Property(NamedTuple):
    """One ``(sv)`` entry of ``StartTransientUnit``'s property array."""

    name: str
    signature: str
    value: object

    def wire(self) -> tuple[str, tuple[str, object]]:
        return (self.name, (self.signature, self.value))


def escape_app_id(app_id: str) -> str:
    """Escape an application ID for use inside a unit name, as ``systemd-escape`` would.

    Bytes outside ``[A-Za-z0-9:_.]`` become ``\\xNN``; unlike ``systemd-escape`` a ``/`` is
    escaped too (not turned into ``-``), and a leading ``.`` is escaped, so any string, however
    hostile (``../x``, a newline), gives one valid field. Escapes are never cut in half when the
    result is shortened to fit the unit name limit.
    """
    pieces: list[str] = []
    length = 0
    for index, byte in enumerate(app_id.encode("utf-8", errors="surrogateescape")):
        if byte in _PLAIN and not (index == 0 and byte == ord(".")):
            piece = chr(byte)
        else:
            piece = f"\\x{byte:02x}"
        if length + len(piece) > MAX_ESCAPED_APP_ID:
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def scope_name(app_id: str, random_hex: str) -> str:
    """``app-ssc-<escaped app id>-<random hex>.scope``."""
    if len(random_hex) != RANDOM_HEX_LENGTH or set(random_hex) - set("0123456789abcdef"):
        raise ValueError(f"random part must be {RANDOM_HEX_LENGTH} lowercase hex digits")
    return f"{_NAME_PREFIX}{escape_app_id(app_id)}-{random_hex}.scope"


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


def describe(command: list[str]) -> str:
    """The scope's Description: the command line, as systemd-run uses, on one short line."""
    text = "".join(c if c.isprintable() else " " for c in " ".join(command))
    return text if len(text) <= 256 else text[:255] + "…"
