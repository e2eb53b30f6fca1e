"""What the helper checks on every call, as plain data in and a verdict out (no I/O).

The helper runs as root on behalf of any local user, so it takes nothing on trust. Its checks
are rtkit's (``rtkit-daemon.c``), made for a scope instead of a scheduling class:

- the process is named by a pidfd, and it is the caller's own: the PID the bus saw at connect
  time (``GetConnectionCredentials``) is the pidfd's, and the pidfd is still alive after every
  read, so no read was of a process that took a reused PID (rtkit compares the process's start
  time, ``verify_process_starttime``, for the same reason);
- its real, effective, saved and filesystem uids are all the caller's, and none is root (rtkit's
  ``verify_process_user``; a process in the middle of a setuid exec has an euid of 0);
- it is a process of the user's own session tree (``user-UID.slice``) and not already in a scope
  the helper holds: moving a held app to a new scope would lift its limits;
- only an allow-list of properties, with the bounds ``ssc.limits`` gives a profile's values;
  everything else (``ExecStart``, ``User``, ``Slice``, ``Delegate``, ``AuxiliaryUnits``,
  ``FailureAction``…) is refused, as xdg-dbus-proxy refuses what its policy does not name;
- the unit name and the slice are the helper's, from an escaped app ID (``ssc.unit_names``);
- a burst of calls from one user is refused (rtkit: ``RTKIT_ACTIONS_PER_BURST_MAX`` per
  ``RTKIT_ACTIONS_BURST_SEC``), and so are scopes beyond a number per user.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from ..limits import MAX_CPU_PERMYRIAD, MAX_SIZE, MIN_MEMORY_CEILING, OOM_POLICIES, UINT32_MAX
from ..pidfds import pid_of_fdinfo as pid_of_fdinfo  # the helper checks the pidfd it is given
from ..unit_names import app_id_of, scope_name

BUS_NAME = "org.ssc.Helper1"
OBJECT_PATH = "/org/ssc/Helper1"
INTERFACE = "org.ssc.Helper1"
ERROR_PREFIX = "org.ssc.Helper1.Error."
# Where ``ssc-helper install`` puts the bus activation file: where it is, the helper is.
ACTIVATION_FILE = f"/usr/share/dbus-1/system-services/{BUS_NAME}.service"
ACTION_CONTAIN = "org.ssc.helper.contain"  # use the helper: allow_active=yes
ACTION_RAISE = "org.ssc.helper.raise"  # raise a limit it holds: auth_admin_keep

# rtkit allows 25 actions per 20 s; a desktop session that restores its apps at login starts
# more at once, so: 50 calls per 10 s per user, and at most 256 held scopes per user.
BURST_CALLS = 50
BURST_SECONDS = 10.0
MAX_SCOPES = 256
DESCRIPTION_MAX = 256  # what ssc.unit_properties.describe makes
APP_ID_MAX = 255
NO_LIMIT = 2**64 - 1  # systemd's "infinity" on the wire (MemoryHigh=infinity and the like)
USEC_PER_PERMYRIAD = 100  # CPUQuota=1% is 10 000 µs per second


class Refusal(Exception):
    """A call the helper will not carry out: a D-Bus error name and a one-line message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.name = ERROR_PREFIX + kind
        self.message = message


class Bound(NamedTuple):
    signature: str
    low: int
    high: int


# The resource properties a profile can set (``ssc.profiles.LIMIT_KEYS``), as they travel on
# the wire (``ssc.unit_properties.resource_properties``), with the bounds ``ssc.limits`` parses
# them to.
SIZE_BOUNDS = {
    "MemoryMax": Bound("t", MIN_MEMORY_CEILING, MAX_SIZE),
    "MemoryHigh": Bound("t", MIN_MEMORY_CEILING, NO_LIMIT),  # sscctl set drops it: infinity
    "MemorySwapMax": Bound("t", 0, MAX_SIZE),
}
SCALE_BOUNDS = {
    "MemoryMaxScale": Bound("u", 1, UINT32_MAX),
    "MemoryHighScale": Bound("u", 1, UINT32_MAX),
    "MemorySwapMaxScale": Bound("u", 0, UINT32_MAX),
    "TasksMaxScale": Bound("u", 1, UINT32_MAX),
}
OTHER_BOUNDS = {
    "CPUQuotaPerSecUSec": Bound("t", 100 * USEC_PER_PERMYRIAD, MAX_CPU_PERMYRIAD * 100),
    "CPUWeight": Bound("t", 1, 10000),
    "TasksMax": Bound("t", 1, MAX_SIZE),
}
BOUNDS = {**SIZE_BOUNDS, **SCALE_BOUNDS, **OTHER_BOUNDS}
OOM_POLICY = "OOMPolicy"  # a scope's, at its start only
# A size and its share are one limit: at most one of the two in a call.
SAME_LIMIT = {f"{name}Scale": name for name in ("MemoryMax", "MemoryHigh", "MemorySwapMax")}
SAME_LIMIT["TasksMaxScale"] = "TasksMax"

WireProperty = tuple[str, tuple[str, object]]  # one (sv) of a(sv)


def checked_properties(properties: Sequence[WireProperty], *, at_start: bool) -> list[WireProperty]:
    """The properties, if every one is allowed and in bounds; else a ``Refusal`` naming it."""
    seen: set[str] = set()
    for name, (signature, value) in properties:
        limit = SAME_LIMIT.get(name, name)
        if limit in seen:
            raise Refusal("InvalidArgs", f"{name}: the same limit is given twice")
        seen.add(limit)
        if name == OOM_POLICY and at_start:
            if signature != "s" or value not in OOM_POLICIES:
                raise Refusal("InvalidArgs", f"{name}: not one of {', '.join(OOM_POLICIES)}")
            continue
        bound = BOUNDS.get(name)
        if bound is None:
            raise Refusal("ForbiddenProperty", f"{name}: not a property the helper sets")
        if signature != bound.signature or not isinstance(value, int) or isinstance(value, bool):
            raise Refusal("InvalidArgs", f"{name}: expected type {bound.signature!r}")
        if not bound.low <= value <= bound.high:
            raise Refusal("OutOfRange", f"{name}={value} is outside {bound.low}…{bound.high}")
    return list(properties)


def checked_description(description: str) -> str:
    if len(description) > DESCRIPTION_MAX or not description.isprintable():
        raise Refusal("InvalidArgs", "the description is not one printable line of ≤ 256")
    return description


UNIT_SUFFIXES: tuple[str, ...] = (".service", ".socket", ".target", ".device", ".mount")
UNIT_SUFFIXES += (".automount", ".swap", ".timer", ".path", ".slice", ".scope")


def scope_unit(app_id: str, random_digits: str) -> str:
    """``app-ssc-<escaped app id>-<digits>.scope``, as the launcher names its own (``scope_name``).

    The escape alone keeps any app ID one field of the name, so no app ID could pick another
    slice, a ``.service`` or a path; one that looks as if it tried (a ``/``, a unit's suffix, a
    control character) is refused all the same, since no desktop entry ID or program name has
    them and a refusal is clearer than a strange name.
    """
    if (
        not app_id
        or len(app_id) > APP_ID_MAX
        or not app_id.isprintable()
        or "/" in app_id
        or app_id.endswith(UNIT_SUFFIXES)
    ):
        raise Refusal(
            "InvalidArgs", f"{app_id[:80]!r} is not an app ID (a desktop entry's or a program's)"
        )
    return scope_name(app_id, random_digits)


def checked_unit(unit: str) -> str:
    """The app ID of a unit name the helper could have made (so it names no path and no other
    unit)."""
    app_id = app_id_of(unit)
    if app_id is None:
        raise Refusal("NotYourUnit", f"{unit!r} is not a scope the helper holds")
    return app_id


def held_slice(uid: int) -> str:
    """The slice of a user's held apps: inside ``user-UID.slice``, so an admin's per-user limits
    stay above it (slices nest by name: ``user-1000-ssc.slice`` is in ``user-1000.slice``)."""
    return f"user-{uid}-ssc.slice"


def user_cgroup(uid: int) -> str:
    return f"/user.slice/user-{uid}.slice"


def held_cgroup(uid: int) -> str:
    return f"{user_cgroup(uid)}/{held_slice(uid)}"


class Ids(NamedTuple):
    """A process's ``Uid:`` and ``Gid:`` lines: real, effective, saved, filesystem."""

    uids: tuple[int, ...]
    gids: tuple[int, ...]


def ids_of(status: str) -> Ids:
    """The ids in a ``/proc/PID/status`` text (proc(5))."""
    found: dict[str, tuple[int, ...]] = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Uid", "Gid"):
            found[key] = tuple(int(field) for field in rest.split())
    if len(found.get("Uid", ())) != 4 or len(found.get("Gid", ())) != 4:
        raise Refusal("BadProcess", "the process's ids cannot be read")
    return Ids(found["Uid"], found["Gid"])


def check_owner(ids: Ids, caller_uid: int) -> None:
    """All four uids are the caller's, and the caller is not root."""
    if caller_uid == 0:
        raise Refusal("NotAuthorized", "root needs no helper: it is for desktop users")
    if any(uid != caller_uid for uid in ids.uids):
        raise Refusal(
            "NotYourProcess",
            f"the process's uids {'/'.join(map(str, ids.uids))} are not all the caller's "
            f"({caller_uid})",
        )


def check_movable(cgroup: str | None, uid: int) -> None:
    """The process is in the user's own tree, and not in a scope the helper holds already."""
    if cgroup is None:
        raise Refusal("BadProcess", "the process's cgroup cannot be read")
    if not cgroup.startswith(user_cgroup(uid) + "/"):
        raise Refusal("BadProcess", f"the process is in {cgroup}, not in {user_cgroup(uid)}")
    if cgroup.startswith(held_cgroup(uid) + "/"):
        raise Refusal(
            "AlreadyHeld", "the process is in a scope the helper holds; its limits stay as they are"
        )


class RateLimit:
    """At most ``calls`` calls per ``seconds`` from one user (rtkit's burst limit)."""

    def __init__(self, calls: int = BURST_CALLS, seconds: float = BURST_SECONDS) -> None:
        self.calls = calls
        self.seconds = seconds
        self._recent: dict[int, deque[float]] = {}

    def allow(self, uid: int, now: float) -> bool:
        recent = self._recent.setdefault(uid, deque())
        while recent and recent[0] <= now - self.seconds:
            recent.popleft()
        if len(recent) >= self.calls:
            return False
        recent.append(now)
        return True


class Machine(NamedTuple):
    """What turns a share into an amount, as systemd computes it."""

    physical: int  # bytes of RAM
    page: int
    tasks: int  # the system's task limit (TasksMaxScale is a share of it)


def scope_limits(properties: Iterable[WireProperty], machine: Machine) -> dict[str, int]:
    """Each limit in the properties as the kernel would hold it: bytes, µs per second, tasks."""
    limits: dict[str, int] = {}
    for name, (_signature, value) in properties:
        if not isinstance(value, int):
            continue
        if name in SCALE_BOUNDS:
            whole = machine.tasks if name == "TasksMaxScale" else machine.physical
            amount = whole * value // UINT32_MAX
            if name != "TasksMaxScale":
                amount = amount // machine.page * machine.page
            limits[SAME_LIMIT[name]] = amount
        elif name in BOUNDS:
            limits[name] = value
    return limits


# Where each limit is held now, in the scope's cgroup (read by service.py's ``set_limits``).
CGROUP_FILES = {
    "MemoryMax": "memory.max",
    "MemoryHigh": "memory.high",
    "MemorySwapMax": "memory.swap.max",
    "TasksMax": "pids.max",
    "CPUWeight": "cpu.weight",
    "CPUQuotaPerSecUSec": "cpu.max",
}


def current_limit(name: str, text: str) -> int:
    """A cgroup file's text as the limit's number; ``max`` (no limit) as :data:`NO_LIMIT`."""
    text = text.strip()
    if name == "CPUQuotaPerSecUSec":
        quota, _, period = text.partition(" ")
        if quota == "max":
            return NO_LIMIT
        return int(quota) * 1_000_000 // int(period)
    return NO_LIMIT if text == "max" else int(text)


def raises(requested: Mapping[str, int], current: Mapping[str, int], page: int) -> list[str]:
    """The limits the request would raise above what the scope holds now.

    A ``MemoryHigh`` at or above the ceiling the scope will have throttles nothing, so lifting it
    there is not a raise (``sscctl set --memory`` drops it so). Equal values, and a share that
    rounds to the page it is, are not raises.
    """
    ceiling = requested.get("MemoryMax", current.get("MemoryMax", NO_LIMIT))
    raised = []
    for name, wanted in requested.items():
        held = current.get(name, NO_LIMIT)
        if name == "MemoryHigh" and wanted >= ceiling:
            continue
        slack = page if name in SIZE_BOUNDS else 1000 if name == "CPUQuotaPerSecUSec" else 0
        if wanted > held + slack:
            raised.append(name)
    return raised
