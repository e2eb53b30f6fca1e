"""The D-Bus edge for running units: list ssc's scopes, read their properties, steer them, and
install, start and stop ssc's own user service.

Methods of ``org.freedesktop.systemd1.Manager`` (``org.freedesktop.systemd1(5)``):
``ListUnitsByPatterns``, ``SetUnitProperties`` (with ``runtime``: the change lasts until the
unit is gone), ``StopUnit``, ``KillUnit``, ``RestartUnit``, ``Reload``, ``EnableUnitFiles``,
``DisableUnitFiles`` and ``Subscribe``. Jobs are waited for as ``systemctl`` does: the match
for ``JobRemoved`` is added before the call that queues the job.

Messages are built by pure functions (tested without a bus); the functions that take a
connection send them and turn D-Bus errors into ``SscError``, so nothing above sees jeepney.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

from jeepney import DBusAddress, MatchRule, MessageType, Properties, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection
from jeepney.low_level import Message
from jeepney.wrappers import DBusErrorResponse

from ..errors import SscError
from ..unit_properties import Property
from .transient_units import SYSTEMD, job_result, manager_signal_rule

SSC_SCOPES = "app-ssc-*.scope"
SCOPE_INTERFACE = "org.freedesktop.systemd1.Scope"
UNIT_INTERFACE = "org.freedesktop.systemd1.Unit"
CALL_TIMEOUT = 30.0
JOB_TIMEOUT = 150.0  # a stop waits for the app to exit: up to systemd's TimeoutStopSec (90 s)
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"


class BusError(SscError):
    """The manager refused a call; ``name`` is the D-Bus error name, for callers that expect one."""

    def __init__(self, message: str, name: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.name = name


class UnitEntry(NamedTuple):
    """One row of ``ListUnitsByPatterns``: the fields ssc uses."""

    name: str
    description: str
    active_state: str
    path: str


# --- messages (pure) ---------------------------------------------------------------------------


def list_units_message(patterns: Sequence[str]) -> Message:
    return new_method_call(SYSTEMD, "ListUnitsByPatterns", "asas", ([], list(patterns)))


def property_message(path: str, interface: str, name: str) -> Message:
    return Properties(DBusAddress(path, bus_name=SYSTEMD.bus_name, interface=interface)).get(name)


def set_properties_message(unit: str, properties: Sequence[Property]) -> Message:
    """``SetUnitProperties`` with ``runtime`` true: nothing is written that outlives the unit."""
    wire = [p.wire() for p in properties]
    return new_method_call(SYSTEMD, "SetUnitProperties", "sba(sv)", (unit, True, wire))


def unit_job_message(method: str, unit: str) -> Message:
    """``StopUnit``, ``StartUnit`` or ``RestartUnit`` in mode ``replace``."""
    return new_method_call(SYSTEMD, method, "ss", (unit, "replace"))


def kill_message(unit: str, signal: int) -> Message:
    return new_method_call(SYSTEMD, "KillUnit", "ssi", (unit, "all", signal))


def enable_message(names: Sequence[str]) -> Message:
    """``EnableUnitFiles`` (persistent, replacing symlinks in the way), as systemctl enable."""
    return new_method_call(SYSTEMD, "EnableUnitFiles", "asbb", (list(names), False, True))


def disable_message(names: Sequence[str]) -> Message:
    return new_method_call(SYSTEMD, "DisableUnitFiles", "asb", (list(names), False))


def unit_entries(body: tuple[Any, ...]) -> list[UnitEntry]:
    """The ``a(ssssssouso)`` reply of ``ListUnits…`` as entries."""
    return [UnitEntry(row[0], row[1], row[3], row[6]) for row in body[0]]


# --- calls (the edge) --------------------------------------------------------------------------


def call(connection: DBusConnection, message: Message, what: str) -> Message:
    """Send ``message`` and return its reply; an error reply or a lost bus is an SscError."""
    try:
        reply = connection.send_and_get_reply(message, timeout=CALL_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise SscError(f"{what}: {error or 'timed out'}") from error
    if reply.header.message_type == MessageType.error:
        raise _failure(what, DBusErrorResponse(reply))
    return reply


def _failure(what: str, error: DBusErrorResponse) -> BusError:
    detail = error.data[0] if error.data and isinstance(error.data[0], str) else error.name
    if error.name in (
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ):
        return BusError(
            f"{what}: no systemd user manager on the bus",
            error.name,
            hint="run it in your desktop session, where your user manager runs",
        )
    return BusError(f"{what}: {detail}", error.name)


def list_scopes(connection: DBusConnection) -> list[UnitEntry]:
    """ssc's scopes that are running (active), by name."""
    reply = call(connection, list_units_message([SSC_SCOPES]), "Failed to list units")
    entries = [e for e in unit_entries(reply.body) if e.active_state == "active"]
    return sorted(entries, key=lambda entry: entry.name)


def get_property(connection: DBusConnection, path: str, interface: str, name: str) -> Any:
    reply = call(connection, property_message(path, interface, name), f"Failed to read {name}")
    _signature, value = reply.body[0]
    return value


def set_properties(connection: DBusConnection, unit: str, properties: Sequence[Property]) -> None:
    call(connection, set_properties_message(unit, properties), f"Failed to set {unit}")


def kill(connection: DBusConnection, unit: str, signal: int) -> None:
    call(connection, kill_message(unit, signal), f"Failed to kill {unit}")


def reload(connection: DBusConnection) -> None:
    """``daemon-reload``: the reply comes once the manager has read its unit files again."""
    call(connection, new_method_call(SYSTEMD, "Reload"), "Failed to reload the user manager")


def enable(connection: DBusConnection, name: str) -> None:
    call(connection, enable_message([name]), f"Failed to enable {name}")


def disable(connection: DBusConnection, name: str) -> None:
    call(connection, disable_message([name]), f"Failed to disable {name}")


def subscribe(connection: DBusConnection) -> None:
    """Ask the manager to send unit and job signals (it sends none while no one listens)."""
    call(connection, new_method_call(SYSTEMD, "Subscribe"), "Failed to subscribe to the manager")


def add_match(connection: DBusConnection, rule: MatchRule) -> None:
    call(connection, message_bus.AddMatch(rule), "Failed to listen to the user manager")


def run_job(connection: DBusConnection, method: str, unit: str) -> str:
    """Queue ``method`` (StopUnit, RestartUnit…) for ``unit``; wait for the job; its result.

    ``done`` is success; ``failed``, ``timeout``, ``canceled``… are returned as they are.
    """
    what = f"Failed to {method.removesuffix('Unit').lower()} {unit}"
    # The signal may come before the reply: listen first (see transient_units.start_scope).
    add_match(connection, manager_signal_rule("JobRemoved", sender=SYSTEMD.bus_name))
    with connection.filter(manager_signal_rule("JobRemoved"), queue=deque()) as removed:
        job = call(connection, unit_job_message(method, unit), what).body[0]
        try:
            return job_result(connection, removed, job, JOB_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise SscError(f"{what}: {error or 'timed out waiting for the job'}") from error
