"""The system helper: a D-Bus service on the system bus, run by root, started on demand.

It does one thing, as rtkit does one thing: it puts the caller's own process into a new
transient scope of the system manager, which no process of the user can change. Interface
``org.ssc.Helper1`` at ``/org/ssc/Helper1``:

- ``StartScope(h process, s app_id, s description, a(sv) limits) → s unit``: the caller's own
  process (a pidfd) in ``app-ssc-<app id>-<random>.scope``, in ``user-UID-ssc.slice``;
- ``SetLimits(s unit, a(sv) limits)``: new limits for one of the caller's held scopes; a raise
  asks polkit for ``org.ssc.helper.raise`` (by default an admin's password, kept a while);
- ``Stop(s unit)``: stops one of the caller's held scopes.

Every call is authorised by polkit's ``CheckAuthorization`` for the caller's
``system-bus-name``, never its PID (CVE-2013-4288 is that race), and fails closed when the
caller is gone by the time polkit answers (CVE-2021-3560). What each call checks is in
``checks``; this module is the I/O around it: the bus, ``/proc``, the cgroup tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from queue import Empty, Queue
from typing import Any, NamedTuple

from jeepney import (
    DBusAddress,
    HeaderFields,
    MatchRule,
    MessageType,
    new_error,
    new_method_call,
    new_method_return,
)
from jeepney.fds import NoFDError
from jeepney.io.threading import DBusRouter, open_dbus_connection
from jeepney.low_level import Message

from ..cgroup import CGROUP_ROOT, cgroup_of
from ..shared_ceiling import DEFAULT_SWAP, HIGH_SHARE, default_ceiling
from ..unit_names import random_part
from . import checks
from .checks import Refusal, WireProperty

SYSTEMD = DBusAddress(
    "/org/freedesktop/systemd1",
    bus_name="org.freedesktop.systemd1",
    interface="org.freedesktop.systemd1.Manager",
)
POLKIT = DBusAddress(
    "/org/freedesktop/PolicyKit1/Authority",
    bus_name="org.freedesktop.PolicyKit1",
    interface="org.freedesktop.PolicyKit1.Authority",
)
BUS = DBusAddress(
    "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
)
JOB_REMOVED = MatchRule(
    type="signal", interface=SYSTEMD.interface, member="JobRemoved", path=SYSTEMD.object_path
)
IDLE_EXIT_SECONDS = 60.0  # D-Bus starts it again for the next call
MAX_WORKERS = 16  # calls in progress at once; one waiting for a password holds only its own
POLKIT_SECONDS = 30.0
POLKIT_INTERACTIVE_SECONDS = 300.0  # a raise waits for the admin's password
SYSTEMD_SECONDS = 90.0
ALLOW_USER_INTERACTION = 1  # CheckAuthorization's flag
NAME_FLAG_DO_NOT_QUEUE = 4


class Caller(NamedTuple):
    """Who sent the call, as the bus knows it (from the socket, at connect time)."""

    name: str  # the unique bus name: polkit's subject
    uid: int
    pid: int
    process_fd_pid: int | None  # the PID of the bus's ProcessFD, where it has one


class CallError(Exception):
    """A D-Bus error reply from a service the helper asked (polkit, systemd, the bus)."""

    def __init__(self, reply: Message) -> None:
        self.name = str(reply.header.fields.get(HeaderFields.error_name, ""))
        self.text = str(reply.body[0]) if reply.body else self.name
        super().__init__(f"{self.name}: {self.text}")


class Helper:
    """The calls, each carried out or refused on its own thread."""

    def __init__(self, router: DBusRouter) -> None:
        self.router = router
        self.rate = checks.RateLimit()
        self.rate_lock = threading.Lock()
        self.slices: dict[int, int] = {}  # uid → the ceiling its held slice was given

    # --- the three methods --------------------------------------------------------------------

    def start_scope(self, message: Message, caller: Caller) -> tuple[str, tuple[Any, ...]]:
        process_fd, app_id, description, properties = _arguments(message, "hssa(sv)")
        fd = _raw_fd(process_fd)
        try:
            return "s", (self._start_scope(caller, fd, app_id, description, properties),)
        finally:
            os.close(fd)

    def _start_scope(
        self,
        caller: Caller,
        fd: int,
        app_id: str,
        description: str,
        properties: Sequence[WireProperty],
    ) -> str:
        pid = _process_of(fd)
        if pid != caller.pid or caller.process_fd_pid not in (None, pid):
            raise Refusal(
                "NotYourProcess", f"the pidfd names PID {pid}, not the caller's own ({caller.pid})"
            )
        checks.check_owner(checks.ids_of(_read(f"/proc/{pid}/status")), caller.uid)
        _still_alive(fd)
        checks.check_movable(cgroup_of(pid), caller.uid)
        _still_alive(fd)
        limits = checks.checked_properties(properties, at_start=True)
        checks.checked_description(description)
        unit = checks.scope_unit(app_id, random_part(os.urandom(8)))
        if _held_scope_count(caller.uid) >= checks.MAX_SCOPES:
            raise Refusal("TooManyScopes", f"uid {caller.uid} has {checks.MAX_SCOPES} held apps")
        self._authorize(caller, checks.ACTION_CONTAIN, {"app_id": app_id, "unit": unit})
        _still_alive(fd)
        slice_name = checks.held_slice(caller.uid)
        self._set_up_slice(slice_name, caller.uid)
        scope = [
            ("Description", ("s", description)),
            ("PIDFDs", ("ah", [fd])),
            ("Slice", ("s", slice_name)),
            ("CollectMode", ("s", "inactive-or-failed")),
            *limits,
        ]
        try:
            result = self._start_unit(unit, scope)
        except CallError as error:
            if "PIDFDs" not in error.text:
                raise
            # systemd before 255 knows no PIDFDs: the PID, then the pidfd must still be alive
            scope[1] = ("PIDs", ("au", [pid]))
            result = self._start_unit(unit, scope)
        _still_alive(fd)
        if result != "done":
            raise Refusal("Failed", f"{unit}: job {result}")
        if cgroup_of(pid) != f"{checks.held_cgroup(caller.uid)}/{unit}":
            self._call(_manager_call("StopUnit", "ss", (unit, "replace")), SYSTEMD_SECONDS)
            raise Refusal("Failed", f"{unit}: the process did not stay in it")
        return unit

    def set_limits(self, message: Message, caller: Caller) -> tuple[str, tuple[Any, ...]]:
        unit, properties = _arguments(message, "sa(sv)")
        app_id = checks.checked_unit(unit)
        directory = _own_scope_directory(unit, caller.uid)
        limits = checks.checked_properties(properties, at_start=False)
        machine = _machine()
        current = {
            name: checks.current_limit(name, _read(f"{directory}/{file}"))
            for name, file in checks.CGROUP_FILES.items()
            if os.path.exists(f"{directory}/{file}")
        }
        raised = checks.raises(checks.scope_limits(limits, machine), current, machine.page)
        details = {"app_id": app_id, "unit": unit, "raises": ",".join(raised)}
        self._authorize(caller, checks.ACTION_CONTAIN, details)
        if raised:
            self._authorize(caller, checks.ACTION_RAISE, details, interactive=True)
        self._call(
            _manager_call("SetUnitProperties", "sba(sv)", (unit, True, limits)), SYSTEMD_SECONDS
        )
        return "", ()

    def stop(self, message: Message, caller: Caller) -> tuple[str, tuple[Any, ...]]:
        unit, kill = _arguments(message, "sb")
        app_id = checks.checked_unit(unit)
        _own_scope_directory(unit, caller.uid)
        self._authorize(caller, checks.ACTION_CONTAIN, {"app_id": app_id, "unit": unit})
        if kill:
            kill_call = _manager_call("KillUnit", "ssi", (unit, "all", signal.SIGKILL))
            self._call(kill_call, SYSTEMD_SECONDS)
        result = self._run_job(_manager_call("StopUnit", "ss", (unit, "replace")))
        if result != "done":
            raise Refusal("Failed", f"{unit}: stop job {result}")
        return "", ()

    # --- what the methods share ---------------------------------------------------------------

    def caller_of(self, message: Message) -> Caller:
        return self._caller_named(str(message.header.fields.get(HeaderFields.sender, "")))

    def _caller_named(self, name: str) -> Caller:
        """The bus's ``GetConnectionCredentials``: uid and PID, and the PID of its
        ``ProcessFD`` where the bus has one (dbus-broker, dbus-daemon 1.15.6 on)."""
        reply = self._call(
            new_method_call(BUS, "GetConnectionCredentials", "s", (name,)), POLKIT_SECONDS
        )
        credentials: dict[str, tuple[str, Any]] = reply.body[0]
        uid = credentials.get("UnixUserID", ("u", None))[1]
        pid = credentials.get("ProcessID", ("u", None))[1]
        process_fd = credentials.get("ProcessFD", ("h", None))[1]
        fd_pid = None
        if process_fd is not None:
            fd = _raw_fd(process_fd)
            try:
                fd_pid = _process_of(fd)
            finally:
                os.close(fd)
        if not isinstance(uid, int) or not isinstance(pid, int):
            raise Refusal("NotAuthorized", "the bus does not say who the caller is")
        return Caller(name, uid, pid, fd_pid)

    def allow(self, caller: Caller) -> None:
        with self.rate_lock:
            allowed = self.rate.allow(caller.uid, time.monotonic())
        if not allowed:
            raise Refusal(
                "RateLimited",
                f"more than {checks.BURST_CALLS} calls in {checks.BURST_SECONDS:g} s from "
                f"uid {caller.uid}; try again in a moment",
            )

    def _authorize(
        self, caller: Caller, action: str, details: dict[str, str], interactive: bool = False
    ) -> None:
        """polkit's answer for the caller's bus name; then the caller must still be there."""
        subject = ("system-bus-name", {"name": ("s", caller.name)})
        flags = ALLOW_USER_INTERACTION if interactive else 0
        message = new_method_call(
            POLKIT, "CheckAuthorization", "(sa{sv})sa{ss}us", (subject, action, details, flags, "")
        )
        timeout = POLKIT_INTERACTIVE_SECONDS if interactive else POLKIT_SECONDS
        try:
            authorized, challenge, _details = self._call(message, timeout).body[0]
        except CallError as error:
            if not error.name.startswith("org.freedesktop.PolicyKit1."):
                # the bus's answer, not polkit's: no polkitd, or none that can be started
                raise Refusal(
                    "PolkitUnavailable", f"polkit cannot be asked ({error.text}); nothing was done"
                ) from error
            raise Refusal("NotAuthorized", f"polkit refused: {error.text}") from error
        except TimeoutError as error:
            raise Refusal("PolkitUnavailable", "polkit did not answer; nothing was done") from error
        if not authorized:
            how = "authentication was needed and not given" if challenge else "not allowed"
            raise Refusal("NotAuthorized", f"polkit: {action} for uid {caller.uid}: {how}")
        try:
            now = self._caller_named(caller.name)
        except (CallError, Refusal) as error:
            raise Refusal("CallerGone", "the caller left before polkit answered") from error
        if now != caller:
            raise Refusal("CallerGone", "the caller left before polkit answered")

    def _set_up_slice(self, name: str, uid: int) -> None:
        """The user's held apps together under the default shared ceiling (``ssc.shared_ceiling``).

        Not a transient slice: systemd's own ``user-.slice.d`` drop-in gives every slice named
        ``user-…`` ``StopWhenUnneeded=yes``, which would stop a transient one (and forget its
        limits) before the scope needs it. ``SetUnitProperties`` keeps them in a runtime
        drop-in instead, which outranks that one and holds whenever the slice starts again.
        """
        machine = _machine()
        ceiling = default_ceiling(machine.physical)  # the kernel holds it to the page
        memory_max = f"{CGROUP_ROOT}{checks.held_cgroup(uid)}/memory.max"
        try:
            held = checks.current_limit("MemoryMax", _read(memory_max))
        except (OSError, ValueError):
            held = None
        if held == ceiling // machine.page * machine.page or self.slices.get(uid) == ceiling:
            return  # held now, or kept in the drop-in for when the slice starts again
        properties: list[WireProperty] = [
            ("MemoryMax", ("t", ceiling)),
            ("MemoryHigh", ("t", int(ceiling * HIGH_SHARE))),
            ("MemorySwapMaxScale", ("u", DEFAULT_SWAP.scale())),
        ]
        settable = (name, True, properties)
        self._call(_manager_call("SetUnitProperties", "sba(sv)", settable), SYSTEMD_SECONDS)
        self.slices[uid] = ceiling

    def _start_unit(self, name: str, properties: Sequence[WireProperty]) -> str:
        body: tuple[Any, ...] = (name, "fail", list(properties), [])
        return self._run_job(_manager_call("StartTransientUnit", "ssa(sv)a(sa(sv))", body))

    def _run_job(self, call: Message) -> str:
        """The result of the job ``call`` queues, from its ``JobRemoved`` (subscribed first,
        since the signal can come before the reply), as systemd-run waits for it."""
        removed: Queue[Message] = Queue()
        with self.router.filter(JOB_REMOVED, queue=removed):
            job = self._call(call, SYSTEMD_SECONDS).body[0]
            deadline = time.monotonic() + SYSTEMD_SECONDS
            while True:
                signal_ = removed.get(timeout=max(0.0, deadline - time.monotonic()))
                _id, path, _unit, result = signal_.body
                if path == job:
                    return str(result)

    def _call(self, message: Message, timeout: float) -> Message:
        reply = self.router.send_and_get_reply(message, timeout=timeout)
        if reply.header.message_type == MessageType.error:
            raise CallError(reply)
        return reply


# --- the edges: /proc, the cgroup tree ------------------------------------------------------


def _arguments(message: Message, signature: str) -> tuple[Any, ...]:
    if message.header.fields.get(HeaderFields.signature, "") != signature:
        raise Refusal("InvalidArgs", f"the arguments' signature must be {signature}")
    return tuple(message.body)


def _raw_fd(value: Any) -> int:
    if not hasattr(value, "to_raw_fd"):
        raise Refusal("BadProcess", "no file descriptor was passed")
    fd: int = value.to_raw_fd()
    return fd


def _process_of(fd: int) -> int:
    """The PID a pidfd names, while it lives; a plain file or a dead process is refused."""
    try:
        pid = checks.pid_of_fdinfo(_read(f"/proc/self/fdinfo/{fd}"))
    except OSError as error:
        raise Refusal("BadProcess", "the descriptor cannot be read") from error
    if pid is None:
        raise Refusal("BadProcess", "the descriptor is not a pidfd")
    if pid <= 0:
        raise Refusal("ProcessGone", "the process has exited")
    _still_alive(fd)
    return pid


def _still_alive(fd: int) -> None:
    """The pidfd's process still runs, so what was just read under its PID was its own."""
    try:
        signal.pidfd_send_signal(fd, 0)
    except ProcessLookupError as error:
        raise Refusal("ProcessGone", "the process has exited") from error
    except PermissionError:
        pass  # it lives: the kernel looks for the process before it checks the permission
        # (the helper has no CAP_KILL, so another user's process gives EPERM, never ESRCH)
    except OSError as error:
        raise Refusal("BadProcess", f"the descriptor is not a live pidfd ({error})") from error


def _own_scope_directory(unit: str, uid: int) -> str:
    """The held scope's cgroup, if it is one of the caller's (its place says whose it is)."""
    directory = f"{CGROUP_ROOT}{checks.held_cgroup(uid)}/{unit}"
    if not os.path.isdir(directory):
        raise Refusal("NotYourUnit", f"{unit} is not one of your held apps (or it has exited)")
    return directory


def _held_scope_count(uid: int) -> int:
    try:
        return sum(
            entry.endswith(".scope")
            for entry in os.listdir(f"{CGROUP_ROOT}{checks.held_cgroup(uid)}")
        )
    except FileNotFoundError:
        return 0


def _machine() -> checks.Machine:
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        tasks = int(_read("/proc/sys/kernel/threads-max"))
    except (OSError, ValueError):
        tasks = checks.NO_LIMIT
    return checks.Machine(os.sysconf("SC_PHYS_PAGES") * page, page, tasks)


def _manager_call(method: str, signature: str, body: tuple[Any, ...]) -> Message:
    return new_method_call(SYSTEMD, method, signature, body)


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


# --- the loop --------------------------------------------------------------------------------

METHODS: dict[str, Callable[[Helper, Message, Caller], tuple[str, tuple[Any, ...]]]] = {
    "StartScope": Helper.start_scope,
    "SetLimits": Helper.set_limits,
    "Stop": Helper.stop,
}


def handle(helper: Helper, message: Message) -> Message:
    """The reply to one call: its return, or an error that says why nothing was done."""
    fields = message.header.fields
    member = fields.get(HeaderFields.member)
    method = (
        METHODS.get(str(member)) if fields.get(HeaderFields.interface) == checks.INTERFACE else None
    )
    try:
        if method is None:
            return new_error(
                message, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no method {member}",)
            )
        caller = helper.caller_of(message)
        helper.allow(caller)
        signature, body = method(helper, message, caller)
        _log(f"{member} by uid {caller.uid} (pid {caller.pid}): done {body[0] if body else ''}")
        return new_method_return(message, signature, body)
    except Refusal as refusal:
        _log(f"{member} refused: {refusal.message}")
        return new_error(message, refusal.name, "s", (refusal.message,))
    except CallError as error:
        _log(f"{member} failed: {error}")
        return new_error(message, checks.ERROR_PREFIX + "Failed", "s", (error.text,))
    except (OSError, TimeoutError, Empty) as error:
        _log(f"{member} failed: {error!r}")
        return new_error(
            message, checks.ERROR_PREFIX + "Failed", "s", (f"nothing was done: {error}",)
        )
    except Exception as error:  # a bug: refuse, say so, and serve the next call
        _log(f"{member} failed: {traceback.format_exc()}")
        return new_error(message, checks.ERROR_PREFIX + "Failed", "s", (f"helper error: {error}",))
    finally:
        for value in message.body:
            if hasattr(value, "close"):
                with contextlib.suppress(NoFDError):  # to_raw_fd took it: closed there
                    value.close()


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Workers:
    """How many calls are in progress, at most :data:`MAX_WORKERS`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0

    def take(self) -> bool:
        with self.lock:
            if self.active >= MAX_WORKERS:
                return False
            self.active += 1
            return True

    def give_back(self) -> None:
        with self.lock:
            self.active -= 1

    def busy(self) -> bool:
        with self.lock:
            return self.active > 0


def main() -> int:
    connection = open_dbus_connection("SYSTEM", enable_fds=True)
    router = DBusRouter(connection)
    helper = Helper(router)
    calls: Queue[Message] = Queue()
    with router.filter(MatchRule(type="method_call"), queue=calls):
        request = new_method_call(
            BUS, "RequestName", "su", (checks.BUS_NAME, NAME_FLAG_DO_NOT_QUEUE)
        )
        reply = router.send_and_get_reply(request, timeout=POLKIT_SECONDS)
        if reply.header.message_type == MessageType.error or reply.body[0] != 1:
            _log(f"cannot own {checks.BUS_NAME}: {reply.body}")
            return 1
        # JobRemoved is a broadcast: the bus routes it to us only for a match of ours.
        match = new_method_call(BUS, "AddMatch", "s", (JOB_REMOVED.serialise(),))
        router.send_and_get_reply(match, timeout=POLKIT_SECONDS)
        _serve(router, helper, calls, Workers())
    router.close()
    connection.close()
    return 0


def _serve(router: DBusRouter, helper: Helper, calls: Queue[Message], workers: Workers) -> None:
    """Each call on a thread of its own; after a quiet minute, give the name back (D-Bus then
    starts the helper again for the next call), answer what came meanwhile, and end."""
    idle_since = time.monotonic()
    releasing = False
    while True:
        try:
            message = calls.get(timeout=1.0)
        except Empty:
            if workers.busy():
                continue
            if releasing:
                return
            if time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                release = new_method_call(BUS, "ReleaseName", "s", (checks.BUS_NAME,))
                router.send_and_get_reply(release, timeout=POLKIT_SECONDS)
                releasing = True
            continue
        idle_since = time.monotonic()
        while not workers.take():
            time.sleep(0.01)  # the next call waits its turn; a flood ends at the rate limit

        def work(message: Message = message) -> None:
            try:
                router.send(handle(helper, message))
            finally:
                workers.give_back()

        threading.Thread(target=work, daemon=True).start()
