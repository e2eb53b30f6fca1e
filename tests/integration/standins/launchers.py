"""Stand-ins for desktop launchers: the one D-Bus call with which they move a PID they spawned.

GNOME Shell (gnome-desktop ``gnome_start_systemd_scope``): ``StartTransientUnit`` of
``app-gnome-<app id>-<pid>.scope`` in mode ``fail`` with ``Description`` and ``PIDs=[pid]``,
sent after the spawn, its result ignored. VTE (``src/systemd.cc``): ``vte-spawn-<uuid>.scope``
with ``PIDs=[pid]`` right after the child's exec. Either moves that one process, wherever it is.
"""

from __future__ import annotations

import time
import uuid

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

from ..conftest import own_scope_of

MANAGER = DBusAddress(
    "/org/freedesktop/systemd1",
    bus_name="org.freedesktop.systemd1",
    interface="org.freedesktop.systemd1.Manager",
)


def gnome_scope(app_id: str, pid: int) -> str:
    return f"app-gnome-{app_id}-{pid}.scope"


def vte_scope() -> str:
    return f"vte-spawn-{uuid.uuid4()}.scope"


def move_pid(unit: str, pid: int) -> None:
    """``StartTransientUnit(unit, "fail", PIDs=[pid])``, as the launchers send it.

    Returns once the process sits in the new scope (GNOME does not wait, but a test must know
    when the move has landed).
    """
    properties = [
        ("Description", ("s", f"stand-in launcher: {unit}")),
        ("PIDs", ("au", [pid])),
        # Not sent by GNOME Shell; here so that the stand-in's scopes never outlive a test.
        ("CollectMode", ("s", "inactive-or-failed")),
    ]
    call = new_method_call(
        MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))", (unit, "fail", properties, [])
    )
    with open_dbus_connection(bus="SESSION") as connection:
        reply = connection.send_and_get_reply(call, timeout=60)
    if reply.header.message_type.name == "error":
        raise RuntimeError(f"StartTransientUnit({unit}) failed: {reply.body}")
    deadline = time.monotonic() + 60
    while not own_scope_of(pid).endswith(f"/{unit}"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not arrive in {unit}: {own_scope_of(pid)}")
        time.sleep(0.05)
