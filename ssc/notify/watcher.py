"""``ssc-notify``: the watcher behind ``sscctl notify enable``, run as the user service
``ssc-notify.service``. It tells the user when the kernel stops a process of a contained app
at the app's memory ceiling (and, with ``--throttling``, when an app is held back at its
``MemoryHigh``).

It sleeps in one ``epoll`` until something happens: the kernel wakes it when a scope's
``memory.events`` changes (kernfs signals ``POLLPRI`` on the open file), and the user manager
when a job of an ssc scope ends (``JobRemoved``, after ``Subscribe``) or a unit goes
(``UnitRemoved``). Nothing is polled while nothing happens; a resync of the scope list every
few minutes guards against a missed signal.

It imports neither click nor psutil, and reads processes from ``/proc`` itself: it is meant
to cost next to nothing for as long as the session lasts.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from jeepney.io.blocking import DBusConnection
from jeepney.low_level import HeaderFields, Message

from .. import cgroup, held, shared_ceiling, unit_properties
from ..ctl import apps, usage
from ..errors import SscError
from ..helper.checks import ACTIVATION_FILE
from ..strict import app_tmp
from ..user_manager import unit_control
from ..user_manager.transient_units import SYSTEMD, connect, manager_signal_rule
from . import events
from .notifications import Notifier

RESYNC_SECONDS = 300.0
SNAPSHOT_INTERVAL = 0.25  # at most this often per scope, while it presses against its ceiling
SNAPSHOT_KEPT = 10.0  # a snapshot older than this says nothing about a kill
USAGE = "usage: ssc-notify [--throttling]\n"


class Watched:
    """One scope being watched: its open ``memory.events`` and what was last seen in it."""

    def __init__(self, unit: str, app_id: str, directory: str, fd: int, seen: usage.MemoryEvents):
        self.unit = unit
        self.app_id = app_id
        self.directory = directory
        self.fd = fd
        self.counters = events.Counters(seen)
        self.processes: dict[int, events.Victim] = {}
        self.snapshot_at = -1e9


class Options(NamedTuple):
    throttling: bool = False


def parse_args(argv: list[str]) -> Options:
    throttling = False
    for word in argv:
        if word == "--throttling":
            throttling = True
        elif word in ("-h", "--help"):
            raise SystemExit(USAGE.rstrip())
        else:
            raise SscError(f"unknown option {word!r}", hint=USAGE.strip())
    return Options(throttling)


# --- /proc and the cgroup (the edge) -----------------------------------------------------------


def parse_status_size(text: str) -> int:
    """What the OOM killer weighs, near enough: ``VmRSS`` + ``VmSwap`` of ``/proc/PID/status``."""
    total = 0
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmSwap:")):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                total += int(fields[1]) * 1024
    return total


def processes_of(directory: str) -> dict[int, events.Victim]:
    found = {}
    for pid in usage.read_procs(directory):
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as file:
                name = file.read().strip()
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as file:
                size = parse_status_size(file.read())
        except OSError:
            continue
        found[pid] = events.Victim(pid, name, size)
    return found


def read_events(fd: int) -> usage.MemoryEvents:
    """Read the open ``memory.events`` again (which also re-arms its POLLPRI)."""
    return usage.parse_memory_events(os.pread(fd, 4096, 0).decode("ascii"))


def read_number(directory: str, name: str) -> int | None:
    try:
        return usage.parse_limit(cgroup.read_text(os.path.join(directory, name)))
    except (OSError, ValueError):
        return None


def notify_ready() -> None:
    """``sd_notify(READY=1)``: the unit (Type=notify) is started once the watch is up."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"READY=1")


# --- the watcher -------------------------------------------------------------------------------


class Watcher:
    def __init__(
        self,
        connection: DBusConnection,
        options: Options,
        log: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self.options = options
        self.log = log
        self.clock = clock
        self.notifier = Notifier(connection, log)
        self.folder = events.Folder()
        self.watched: dict[str, Watched] = {}
        self.by_fd: dict[int, Watched] = {}
        self.apps: dict[str, apps.App] = {}
        self.throttled_at: dict[str, float] = {}
        self.signals: deque[Message] = deque()
        self.epoll = select.epoll()
        self.bus_fd = connection.sock.fileno()
        self.epoll.register(self.bus_fd, select.EPOLLIN)
        self.system: DBusConnection | None = None  # where held apps' signals come from
        self.resync_at = 0.0
        self.shared_ooms = self.read_shared_ooms()  # the slice's own OOMs, as last seen

    # --- setup and the scope list

    def listen(self) -> None:
        """Signals first, then the list (as gsd-systemd-notify does): no scope is missed."""
        for member in ("JobRemoved", "UnitRemoved"):
            unit_control.add_match(self.connection, manager_signal_rule(member, SYSTEMD.bus_name))
            self.connection.filter(manager_signal_rule(member), queue=self.signals)
        unit_control.subscribe(self.connection)
        self.listen_held()
        self.sync(first=True)

    def listen_held(self) -> None:
        """Apps whose limits root holds (``ssc.held``) are the system manager's: its signals
        too, where ssc's helper is installed (else no held app can run, and nothing is heard)."""
        if not os.path.exists(ACTIVATION_FILE):
            return
        try:
            self.system = held.system_connection()
        except SscError as error:
            self.log(f"held apps are not watched: {error.message}")
            return
        for member in ("JobRemoved", "UnitRemoved"):
            unit_control.add_match(self.system, manager_signal_rule(member, SYSTEMD.bus_name))
            self.system.filter(manager_signal_rule(member), queue=self.signals)
        unit_control.subscribe(self.system)
        self.epoll.register(self.system.sock.fileno(), select.EPOLLIN)

    def sync(self, *, first: bool = False) -> None:
        """Watch every running ssc scope, and stop watching those that are gone.

        A scope found after the first sync started after the watcher did, so whatever its
        counters show happened since: a kill before its watch was up is told all the same.
        """
        running = {e.name: e for e in unit_control.list_scopes(self.connection)}
        held_now = self.held_scopes()
        for unit in set(self.watched) - set(running) - set(held_now):
            self.drop(unit)
        for unit, entry in running.items():
            if unit not in self.watched:
                self.add(unit, entry.path, new=not first)
        for unit, directory in held_now.items():
            if unit not in self.watched:
                self.watch(unit, directory, new=not first)
        self.resync_at = self.clock() + RESYNC_SECONDS

    def held_scopes(self) -> dict[str, str]:
        """The user's held scopes and their cgroups: the helper's slice says whose they are."""
        if self.system is None:
            return {}
        directory = held.held_directory()
        try:
            names = os.listdir(directory)
        except OSError:
            return {}  # no held app runs: the slice is stopped
        return {
            name: os.path.join(directory, name)
            for name in names
            if unit_properties.app_id_of(name) is not None
        }

    def add(self, unit: str, path: str, *, new: bool) -> None:
        app_id = unit_properties.app_id_of(unit)
        if app_id is None:
            return
        try:
            group = unit_control.get_property(
                self.connection, path, unit_control.SCOPE_INTERFACE, "ControlGroup"
            )
        except unit_control.BusError:
            return  # gone since it was listed
        if not group:
            return
        self.watch(unit, usage.cgroup_directory(group), new=new)

    def watch(self, unit: str, directory: str, *, new: bool) -> None:
        """Watch the scope's ``memory.events``; a new scope's kills so far are told at once."""
        app_id = unit_properties.app_id_of(unit)
        if app_id is None:
            return
        try:
            fd = os.open(os.path.join(directory, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            self.log(f"{unit}: cannot watch memory.events: {error.strerror}")
            return
        try:
            seen = read_events(fd)
            self.epoll.register(fd, select.EPOLLPRI)
        except OSError:
            os.close(fd)
            return
        watched = Watched(unit, app_id, directory, fd, usage.MemoryEvents() if new else seen)
        self.watched[unit] = watched
        self.by_fd[fd] = watched
        if new and seen != usage.MemoryEvents():
            self.on_memory_events(watched)

    def drop(self, unit: str) -> None:
        watched = self.watched.pop(unit, None)
        if watched is None:
            return
        del self.by_fd[watched.fd]
        with contextlib.suppress(OSError):
            self.epoll.unregister(watched.fd)
        os.close(watched.fd)
        if not any(w.app_id == watched.app_id for w in self.watched.values()):
            self.apps.pop(watched.app_id, None)  # its desktop entry may change before it is back
            # A strict app that ran with no supervisor (in place) leaves its /tmp to whoever
            # comes next: the watcher hears it go, and removes it if no instance holds it.
            app_tmp.remove_unheld(app_tmp.runtime_dir(), watched.app_id)

    def app(self, app_id: str) -> apps.App:
        if app_id not in self.apps:
            self.apps[app_id] = apps.lookup(app_id)
        return self.apps[app_id]

    # --- events

    def on_memory_events(self, watched: Watched) -> None:
        try:
            change = watched.counters.update(read_events(watched.fd))
        except OSError:
            self.drop(watched.unit)  # the cgroup was removed
            return
        now = self.clock()
        earlier = watched.processes if now - watched.snapshot_at <= SNAPSHOT_KEPT else {}
        if change.at_ceiling and now - watched.snapshot_at >= SNAPSHOT_INTERVAL:
            watched.processes = processes_of(watched.directory)
            watched.snapshot_at = now
        if change.kills:
            # The victim may be gone from the snapshot just taken: the earlier one has it.
            before = {**earlier, **watched.processes} or processes_of(watched.directory)
            limit = read_number(watched.directory, "memory.max")
            peak = read_number(watched.directory, "memory.peak")
            at_limit = change.at_limit and limit is not None
            kill = events.Kill(
                change.kills, at_limit, limit, peak, before, self.shared_limit_hit(watched)
            )
            self.log(f"{watched.unit}: the kernel killed {change.kills} process(es)")
            self.folder.add(watched.app_id, kill, now)
            watched.processes = {}
            watched.snapshot_at = -1e9
        elif self.options.throttling and change.throttled:
            self.on_throttled(watched, now)

    def read_shared_ooms(self) -> int:
        """The OOMs of the slice of all contained apps: the times its shared ceiling was hit."""
        try:
            with open(os.path.join(shared_ceiling.slice_directory(), "memory.events")) as f:
                return usage.parse_memory_events(f.read()).oom
        except OSError:
            return 0

    def shared_limit_hit(self, watched: Watched) -> int | None:
        """The shared ceiling, if the slice hit it since the last kill seen; else None."""
        ooms, self.shared_ooms = self.shared_ooms, self.read_shared_ooms()
        if self.shared_ooms <= ooms:
            return None
        return read_number(os.path.dirname(watched.directory), "memory.max")

    def on_throttled(self, watched: Watched, now: float) -> None:
        if not events.should_warn_throttled(self.throttled_at.get(watched.app_id), now):
            return
        self.throttled_at[watched.app_id] = now
        limit = read_number(watched.directory, "memory.max") or read_number(
            watched.directory, "memory.high"
        )
        current = read_number(watched.directory, "memory.current") or 0
        app = self.app(watched.app_id)
        self.notifier.send(events.throttle_notice(app.name, limit, current), app)

    def on_signal(self, message: Message) -> None:
        member = message.header.fields.get(HeaderFields.member)
        if member == "JobRemoved":
            _id, _job, unit, _result = message.body
        else:
            unit, _path = message.body
        if unit_properties.app_id_of(unit) is None:
            return
        if member == "UnitRemoved":
            self.drop(unit)
        else:
            self.sync()

    def flush(self) -> None:
        now = self.clock()
        for pending in self.folder.take_due(now):
            alive_pids: set[int] = set()
            alive = False
            for watched in self.watched.values():
                if watched.app_id == pending.app_id:
                    alive = True
                    alive_pids.update(usage.read_procs(watched.directory))
            named = events.victims(pending.before, alive_pids, pending.kills)
            app = self.app(pending.app_id)
            shown = self.folder.current(pending.app_id, now)
            count = pending.kills + (shown.kills if shown else 0)
            all_named = (*(shown.victims if shown else ()), *named)
            notice = events.kill_notice(
                app.name,
                count,
                all_named,
                at_limit=pending.at_limit,
                limit=pending.limit,
                peak=pending.peak,
                alive=alive,
                shared_limit=pending.shared_limit,
            )
            replaces = shown.notification_id if shown else 0
            notification_id = self.notifier.send(notice, app, replaces)
            self.log(f"{app.app_id}: {notice.summary}: {notice.body}")
            if notification_id is not None:
                self.folder.told(pending.app_id, notification_id, now, count, all_named)
        self.folder.forget_old(now)

    # --- the loop

    def drain_bus(self) -> None:
        """Take in every message the connections have, buffered or waiting on the socket."""
        for connection in (self.connection, self.system):
            while connection is not None:
                try:
                    connection.recv_messages(timeout=0)
                except TimeoutError:
                    break

    def timeout(self) -> float:
        now = self.clock()
        wake = min(self.resync_at, self.folder.next_due() or self.resync_at)
        return max(0.0, wake - now)

    def settle(self) -> None:
        """Handle every signal there is; what handling one sends may bring more in."""
        while True:
            self.drain_bus()
            if not self.signals:
                return
            while self.signals:
                self.on_signal(self.signals.popleft())

    def run_once(self) -> None:
        self.settle()
        for fd, mask in self.epoll.poll(self.timeout()):
            if fd == self.bus_fd:
                if mask & (select.EPOLLHUP | select.EPOLLERR):
                    raise SscError("the session bus went away")
                continue  # read by settle(), at the top of the next round
            if self.system is not None and fd == self.system.sock.fileno():
                if mask & (select.EPOLLHUP | select.EPOLLERR):
                    raise SscError("the system bus went away")
                continue
            watched = self.by_fd.get(fd)
            if watched is not None:
                self.on_memory_events(watched)
        self.flush()
        if self.clock() >= self.resync_at:
            self.sync()

    def run(self) -> None:
        while True:
            self.run_once()


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ssc-notify``."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        connection = connect()
        watcher = Watcher(connection, options, _log)
        watcher.listen()
        _log(f"ssc-notify: watching {len(watcher.watched)} ssc scope(s)")
        notify_ready()
        watcher.run()
    except SscError as error:
        print(error.render("ssc-notify"), file=sys.stderr)
        return error.exit_code
    except (OSError, ConnectionError) as error:
        print(f"ssc-notify: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
