"""Limits held by root: the launcher's and sscctl's side of the system helper (``ssc.helper``).

A profile with ``root_held = true`` asks the helper, over the system bus, to put this process
into a scope of the system manager, in ``user-UID-ssc.slice``: nothing running as the user can
then raise its limits or move it out. The helper is optional and an admin installs it
(``ssc-helper install``); without it such a profile refuses, and never falls back to a scope
the user could change.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jeepney import DBusAddress, MessageType, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from .cgroup import CGROUP_ROOT
from .errors import SscError
from .helper.checks import BUS_NAME, ERROR_PREFIX, INTERFACE, OBJECT_PATH, held_cgroup

if TYPE_CHECKING:
    from .unit_properties import Property

HELPER = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
CALL_SECONDS = 330.0  # a raise waits for an admin's password (the helper gives polkit 300 s)
NOT_INSTALLED_HINT = (
    "the profile asks for limits held by root (root_held = true); an admin installs ssc's "
    "system helper once with: sudo /opt/ssc/bin/ssc-helper install (see the README, "
    '"Limits held by root"); or use a profile without root_held'
)
_NOT_INSTALLED = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}


class HelperError(SscError):
    """The helper refused a call, or cannot be reached; ``name`` is the D-Bus error's."""

    def __init__(self, message: str, name: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.name = name


def held_directory(uid: int | None = None) -> str:
    """The cgroup directory of the user's held apps (the helper's slice)."""
    return f"{CGROUP_ROOT}{held_cgroup(os.getuid() if uid is None else uid)}"


def start_scope(app_id: str, description: str, properties: Sequence[Property]) -> str:
    """Put this process into a scope the helper holds; its name, once the job is done."""
    try:
        pidfd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError) as error:  # Linux before 5.3: the helper takes no PIDs
        raise HelperError(
            f"Failed to start {app_id} under the helper: no pidfd for this process ({error})",
            "",
            "limits held by root need Linux 5.3 or later",
        ) from error
    try:
        body = (pidfd, app_id, description, [p.wire() for p in properties])
        reply = _call("StartScope", "hssa(sv)", body, f"start {app_id} under the helper")
    finally:
        os.close(pidfd)
    unit: str = reply[0]
    return unit


def set_limits(unit: str, properties: Sequence[Property]) -> None:
    """New limits for a held scope: a raise asks polkit for an admin's consent."""
    _call("SetLimits", "sa(sv)", (unit, [p.wire() for p in properties]), f"set limits on {unit}")


def stop(unit: str, *, kill: bool) -> None:
    """Stop a held scope (with ``kill``, SIGKILL first), once its stop job is done."""
    _call("Stop", "sb", (unit, kill), f"stop {unit}")


def system_connection() -> DBusConnection:
    """A connection to the system bus, able to pass a pidfd."""
    try:
        return open_dbus_connection(bus="SYSTEM", enable_fds=True)
    except (OSError, ValueError, KeyError) as error:
        raise HelperError(f"cannot reach the system bus ({error})", "") from error


def _call(method: str, signature: str, body: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    connection = system_connection()
    try:
        message = new_method_call(HELPER, method, signature, body)
        reply = _send(connection, message, what)
    finally:
        connection.close()
    if reply.header.message_type == MessageType.error:
        raise _failure(what, reply)
    return tuple(reply.body)


def _send(connection: DBusConnection, message: Any, what: str) -> Any:
    try:
        return connection.send_and_get_reply(message, timeout=CALL_SECONDS)
    except (OSError, TimeoutError) as error:
        raise HelperError(f"Failed to {what}: the helper did not answer ({error})", "") from error


def _failure(what: str, reply: Any) -> HelperError:
    from jeepney import HeaderFields

    name = str(reply.header.fields.get(HeaderFields.error_name, ""))
    text = str(reply.body[0]) if reply.body else name
    if name in _NOT_INSTALLED:
        return HelperError(
            f"Failed to {what}: ssc's system helper is not installed", name, NOT_INSTALLED_HINT
        )
    if name.startswith("org.freedesktop.DBus.Error.Spawn"):
        return HelperError(
            f"Failed to {what}: ssc's system helper did not start ({text})",
            name,
            "see: journalctl -u ssc-helper.service",
        )
    if name.startswith(ERROR_PREFIX):
        return HelperError(f"Failed to {what}: the helper refused: {text}", name)
    return HelperError(f"Failed to {what}: {text}", name)
