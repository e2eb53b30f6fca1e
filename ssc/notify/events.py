"""From ``memory.events`` changes to notifications: what happened, what to tell, and when (pure).

The kernel counts, in each scope's ``memory.events``, the processes it killed (``oom_kill``)
and the times the scope ran into its own ceiling (``oom``). A kill without an ``oom`` of the
scope's own came from above: the shared ceiling of all contained apps when the slice's own
``oom`` rose with it (``ssc.shared_ceiling``; the kernel counts an OOM in the cgroup whose limit was
hit and its ancestors, never below), else the system running out of memory. It does not say
*which* process died, so the watcher keeps the scope's processes as they were when it pressed
against its ceiling (``max`` rises first), and the largest of those that are gone after the
kill are the ones named — the OOM killer picks the largest.

Kills are folded, as uwsm's fumon replaces its notification instead of stacking another:
kills of one app within :data:`SETTLE` seconds make one notification; more kills within
:data:`FOLD_WINDOW` of it update that notification (``replaces_id``), with the count so far,
at most every :data:`UPDATE_INTERVAL` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ..ctl.report import human_size
from ..ctl.usage import MemoryEvents

SETTLE = 1.0  # kills that come within this many seconds are one notification
UPDATE_INTERVAL = 5.0  # an app's notification changes at most this often
FOLD_WINDOW = 120.0  # a kill within this of the app's last notification updates it
THROTTLE_QUIET = 600.0  # "slowed down" at most this often per app
NAMED_VICTIMS = 3  # processes named in one notification; the rest are counted


class Victim(NamedTuple):
    """A process as it was before a kill; ``size`` is what the OOM killer weighs (RSS + swap)."""

    pid: int
    name: str
    size: int


class Kill(NamedTuple):
    """Kills seen in one reading of a scope's ``memory.events``, and what the scope was like."""

    kills: int
    at_limit: bool  # the scope's own OOM (its ceiling), not the system's
    limit: int | None  # memory.max at the time; None: no ceiling
    peak: int | None  # memory.peak at the time
    before: Mapping[int, Victim]  # the scope's processes before the kill
    shared_limit: int | None = None  # the shared ceiling, when it was that OOM


class Pending(NamedTuple):
    """Kills of one app waiting to be told."""

    app_id: str
    kills: int
    at_limit: bool
    limit: int | None
    peak: int | None
    before: Mapping[int, Victim]
    due: float
    shared_limit: int | None = None


class Shown(NamedTuple):
    """An app's last kill notification, which later kills update."""

    notification_id: int
    at: float
    kills: int
    victims: tuple[Victim, ...]


class Notice(NamedTuple):
    summary: str
    body: str


def kills_in(before: MemoryEvents, after: MemoryEvents) -> int:
    return max(0, after.oom_kill - before.oom_kill)


def at_ceiling(before: MemoryEvents, after: MemoryEvents) -> bool:
    """Whether the scope pressed against ``memory.max`` (reclaim ran there, or OOM came)."""
    return after.max > before.max or after.oom > before.oom


class Change(NamedTuple):
    """What one new reading of a scope's ``memory.events`` says."""

    at_ceiling: bool  # it pressed against memory.max: worth a look at its processes
    kills: int  # processes killed since kills were last told
    at_limit: bool  # ... by the scope's own OOM (its ceiling), not the system's
    throttled: bool  # reclaim at memory.high


class Counters:
    """A scope's ``memory.events`` as last read, and as it was when kills were last told:
    the kernel counts ``oom`` before ``oom_kill``, and a read may fall between the two."""

    def __init__(self, seen: MemoryEvents) -> None:
        self.seen = seen
        self.at_kill = seen

    def update(self, now: MemoryEvents) -> Change:
        before, self.seen = self.seen, now
        kills = kills_in(self.at_kill, now)
        at_limit = kills > 0 and now.oom > self.at_kill.oom
        if kills:
            self.at_kill = now
        return Change(at_ceiling(before, now), kills, at_limit, now.high > before.high)


def victims(before: Mapping[int, Victim], alive: set[int], count: int) -> list[Victim]:
    """The ``count`` largest processes of ``before`` that are gone now: the ones killed."""
    gone = [victim for pid, victim in before.items() if pid not in alive]
    return sorted(gone, key=lambda v: (-v.size, v.pid))[:count]


class Folder:
    """Pending kills and shown notifications, per app. Time is given, never read."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.shown: dict[str, Shown] = {}

    def add(self, app_id: str, kill: Kill, now: float) -> None:
        pending = self.pending.get(app_id)
        if pending is not None:
            self.pending[app_id] = pending._replace(
                kills=pending.kills + kill.kills,
                at_limit=pending.at_limit or kill.at_limit,
                limit=kill.limit if kill.limit is not None else pending.limit,
                peak=max(pending.peak or 0, kill.peak or 0) or None,
                before={**pending.before, **kill.before},
                shared_limit=kill.shared_limit or pending.shared_limit,
            )
            return
        due = now + SETTLE
        shown = self.current(app_id, now)
        if shown is not None:
            due = max(due, shown.at + UPDATE_INTERVAL)
        self.pending[app_id] = Pending(
            app_id,
            kill.kills,
            kill.at_limit,
            kill.limit,
            kill.peak,
            kill.before,
            due,
            kill.shared_limit,
        )

    def current(self, app_id: str, now: float) -> Shown | None:
        """The app's notification that new kills update, if it is recent enough."""
        shown = self.shown.get(app_id)
        if shown is None or now - shown.at > FOLD_WINDOW:
            return None
        return shown

    def next_due(self) -> float | None:
        return min((p.due for p in self.pending.values()), default=None)

    def take_due(self, now: float) -> list[Pending]:
        due = [p for p in self.pending.values() if p.due <= now]
        for pending in due:
            del self.pending[pending.app_id]
        return due

    def told(
        self, app_id: str, notification_id: int, now: float, kills: int, named: Sequence[Victim]
    ) -> None:
        self.shown[app_id] = Shown(notification_id, now, kills, tuple(named))

    def forget_old(self, now: float) -> None:
        for app_id, shown in list(self.shown.items()):
            if now - shown.at > FOLD_WINDOW:
                del self.shown[app_id]


def _who(named: Sequence[Victim], count: int) -> str:
    """``python3 (PID 42)``, ``a, b and c``, ``a and 2 more``, ``A process``, ``3 processes``."""
    shown = [f"{v.name} (PID {v.pid})" for v in named[:NAMED_VICTIMS]]
    unnamed = count - len(shown)
    if not shown:
        return "A process" if count == 1 else f"{count} processes"
    if unnamed > 0:
        return f"{', '.join(shown)} and {unnamed} more"
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def kill_notice(
    app_name: str,
    count: int,
    named: Sequence[Victim],
    *,
    at_limit: bool,
    limit: int | None,
    peak: int | None,
    alive: bool,
    shared_limit: int | None = None,
) -> Notice:
    """``Firefox: a process was stopped`` / ``python3 (PID 42) reached Firefox's memory limit
    of 8 GiB (peak 8.0 GiB); the rest of Firefox keeps running.`` A kill at the shared
    ceiling (``shared_limit``) says that all contained apps together reached it."""
    summary = (
        f"{app_name}: a process was stopped"
        if count == 1
        else f"{app_name}: {count} processes were stopped"
    )
    who = _who(named, count)
    verb = "was" if count == 1 else "were"
    if at_limit and limit is not None:
        peak_text = f" (peak {human_size(peak, decimals=1)})" if peak else ""
        body = f"{who} reached {app_name}'s memory limit of {human_size(limit)}{peak_text}"
    elif shared_limit is not None:
        body = (
            f"{who} {verb} stopped: all contained apps together reached their shared limit "
            f"of {human_size(shared_limit, decimals=1)}"
        )
    else:
        body = f"{who} {verb} stopped by the kernel: the system ran out of memory"
    body += f"; the rest of {app_name} keeps running." if alive else "."
    return Notice(summary, body)


def should_warn_throttled(last: float | None, now: float) -> bool:
    return last is None or now - last >= THROTTLE_QUIET


def throttle_notice(app_name: str, limit: int | None, current: int) -> Notice:
    """``Firefox is being slowed down``: reclaim at its ``memory.high``, near its ceiling."""
    near = f" of {human_size(limit)}" if limit else ""
    return Notice(
        f"{app_name} is being slowed down",
        f"{app_name} is near its memory limit{near} (using {human_size(current, decimals=1)}):"
        " the kernel holds it back while it reclaims memory.",
    )


def escape_markup(text: str) -> str:
    """For servers that read the body as markup (the ``body-markup`` capability)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
