"""The D-Bus edge: the user's systemd manager, a transient scope, and the job that starts it.

This is what ``systemd-run --user --scope`` does (``start_transient_scope`` in systemd's
``src/run/run.c``): subscribe to ``JobRemoved`` first, call ``StartTransientUnit`` with the
process named by ``PIDFDs`` (retrying with ``PIDs`` for managers that do not know ``PIDFDs``),
then wait for the job and treat any result but ``done`` as a failure. D-Bus errors are turned
into ``SscError`` here, so nothing above this module sees jeepney.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence

from jeepney import DBusAddress, MatchRule, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import Message
from jeepney.wrappers import DBusErrorResponse

from ..errors import SscError
from ..session import session_bus_address as session_bus_address
from ..unit_properties import Property

SYSTEMD = DBusAddress(
    "/org/freedesktop/systemd1",
    bus_name="org.freedesktop.systemd1",
    interface="org.freedesktop.systemd1.Manager",
)
JOB_TIMEOUT = (
    120.0  # generous: a loaded machine under emulation can take long; systemd-run waits forever
)
_RETRY_WITH_FEWER = {  # "Cannot set property X, or unknown property."
    "org.freedesktop.DBus.Error.UnknownProperty",
    "org.freedesktop.DBus.Error.PropertyReadOnly",
}
_NO_MANAGER = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}
_NO_MANAGER_HINT = (
    "ssc needs your systemd user manager and its session bus (Debian/Ubuntu: dbus-user-session); "
    "run it from your desktop session, or check DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR"
)


def connect() -> DBusConnection:
    """A connection to the session bus, able to pass file descriptors (for ``PIDFDs``)."""
    address = session_bus_address()
    try:
        return open_dbus_connection(bus=address, enable_fds=True)
    except (OSError, ValueError, KeyError) as error:
        raise SscError(
            f"Failed to connect to the session bus at {address}: {error}", hint=_NO_MANAGER_HINT
        ) from error


def start_scope(
    connection: DBusConnection, name: str, attempts: Sequence[Sequence[Property]]
) -> None:
    """Start the transient scope ``name`` and wait until its start job is done.

    ``attempts`` are property sets in order of preference (see ``units.scope_property_attempts``):
    the next is sent only when the manager refuses the one before for a property it does not
    know, as systemd-run retries ``PIDFDs`` with ``PIDs``.
    """
    if not attempts:
        raise ValueError("no property set to offer")
    result = _start_and_wait(
        connection, name, lambda: _start_first_accepted(connection, name, attempts)
    )
    if result != "done":
        raise SscError(
            f"Failed to start transient scope unit {name}: job {result}",
            hint=f"see: journalctl --user -u {name}",
        )


def set_up_slice(connection: DBusConnection, name: str, properties: Sequence[Property]) -> None:
    """Make the slice ``name`` with ``properties``, or give them to it if it exists already.

    A slice that another launch made a moment ago (or that the manager made from a scope's
    ``Slice=``) makes ``StartTransientUnit`` fail with ``UnitExists``; ``SetUnitProperties``
    then sets the same limits on it, for as long as the manager runs (``runtime``).
    """

    def start_or_set() -> str | None:
        try:
            return _start_transient_unit(connection, name, properties)
        except DBusErrorResponse as error:
            if error.name != "org.freedesktop.systemd1.UnitExists":
                raise _start_failure(name, error) from error
        wire = [p.wire() for p in properties]
        message = new_method_call(SYSTEMD, "SetUnitProperties", "sba(sv)", (name, True, wire))
        _call(connection, message, name)
        return None  # no job: the properties hold at once

    result = _start_and_wait(connection, name, start_or_set)
    if result not in (None, "done"):
        raise SscError(
            f"Failed to start {name}: job {result}", hint=f"see: journalctl --user -u {name}"
        )


def _start_and_wait(
    connection: DBusConnection, name: str, start: Callable[[], str | None]
) -> str | None:
    """The result of the job that ``start`` returns (None when it starts none).

    Subscribed before the call: the signal can come before the call's reply. The bus routes
    only systemd's signals to us (the match names its well-known name); jeepney's own filter
    compares header fields literally, where the sender is systemd's unique name, so it
    matches without one. The queue holds every launch's JobRemoved, not just ours.

    The match is removed afterwards (its reply is not waited for): a connection that is kept,
    as ssc's agent keeps one, neither collects match rules nor receives signals while idle.
    """
    rule = manager_signal_rule("JobRemoved", sender=SYSTEMD.bus_name)
    _call(connection, message_bus.AddMatch(rule), name)
    try:
        with connection.filter(manager_signal_rule("JobRemoved"), bufsize=65536) as removed:
            job = start()
            return None if job is None else _wait_for_job(connection, removed, job, name)
    finally:
        with contextlib.suppress(OSError):
            connection.send(message_bus.RemoveMatch(rule))


def _start_first_accepted(
    connection: DBusConnection, name: str, attempts: Sequence[Sequence[Property]]
) -> str:
    """The job of the first property set the manager accepts; only the last refusal is told."""
    for properties in attempts[:-1]:
        try:
            return _start_transient_unit(connection, name, properties)
        except DBusErrorResponse as error:
            if error.name not in _RETRY_WITH_FEWER:
                raise _start_failure(name, error) from error
    try:
        return _start_transient_unit(connection, name, attempts[-1])
    except DBusErrorResponse as error:
        raise _start_failure(name, error) from error


def manager_signal_rule(member: str, sender: str | None = None) -> MatchRule:
    """A signal of the manager's (``JobRemoved``, ``UnitRemoved``…).

    For the bus's AddMatch, name systemd as the ``sender``: the bus routes by well-known name.
    For jeepney's own filter, leave it out: jeepney compares header fields literally, and the
    sender there is systemd's unique name.
    """
    return MatchRule(
        type="signal",
        sender=sender,
        interface=SYSTEMD.interface,
        member=member,
        path=SYSTEMD.object_path,
    )


def _start_transient_unit(
    connection: DBusConnection, name: str, properties: Sequence[Property]
) -> str:
    message = new_method_call(
        SYSTEMD,
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        (name, "fail", [p.wire() for p in properties], []),
    )
    reply = _reply_or_raise(_send(connection, message, name))
    job: str = reply.body[0]
    return job


def _wait_for_job(connection: DBusConnection, removed: deque[Message], job: str, name: str) -> str:
    try:
        return job_result(connection, removed, job, JOB_TIMEOUT)
    except TimeoutError as error:
        raise SscError(f"Timed out waiting for {name} to start") from error
    except OSError as error:  # the bus went away (the session is ending)
        raise SscError(f"Failed to start transient scope unit {name}: {error}") from error


def job_result(
    connection: DBusConnection, removed: deque[Message], job: str, timeout: float
) -> str:
    """The result of ``job`` from its ``JobRemoved(id, job, unit, result)`` signal.

    ``removed`` is the queue of a filter on ``manager_signal_rule("JobRemoved")``; jeepney's
    TimeoutError and OSError (a lost bus) are left to the caller to put in its own words.
    """
    while True:
        signal = connection.recv_until_filtered(removed, timeout=timeout)
        _id, path, _unit, result = signal.body
        if path == job:
            return str(result)


def _call(connection: DBusConnection, message: Message, unit: str) -> Message:
    try:
        return _reply_or_raise(_send(connection, message, unit))
    except DBusErrorResponse as error:
        raise _start_failure(unit, error) from error


def _send(connection: DBusConnection, message: Message, unit: str) -> Message:
    try:
        return connection.send_and_get_reply(message, timeout=JOB_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise SscError(f"Failed to start transient scope unit {unit}: {error}") from error


def _reply_or_raise(reply: Message) -> Message:
    if reply.header.message_type == MessageType.error:
        raise DBusErrorResponse(reply)
    return reply


def _start_failure(name: str, error: DBusErrorResponse) -> SscError:
    detail = error.data[0] if error.data else error.name
    if error.name in _NO_MANAGER:
        return SscError(
            f"Failed to start transient scope unit {name}: no systemd user manager on the bus",
            hint=_NO_MANAGER_HINT,
        )
    if error.name in _RETRY_WITH_FEWER and "OOMPolicy" in str(detail):
        return SscError(
            f"Failed to start transient scope unit {name}: {detail}",
            hint='scopes honour OOMPolicy from systemd 253 on; use OOMPolicy = "continue" here',
        )
    if error.name == "org.freedesktop.systemd1.UnitExists":
        return SscError(
            f"Failed to start transient scope unit {name}: the name is taken ({detail})"
        )
    return SscError(f"Failed to start transient scope unit {name}: {detail}")
