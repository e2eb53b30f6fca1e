"""``sscctl agent enable|disable``: install ssc's launch agent as the user units
``ssc-agent.socket`` and ``ssc-agent.service``, or take them away.

``enable`` writes both (``ExecStart`` naming the installed ``ssc-agent``), enables the socket
(``WantedBy=sockets.target``) and starts it: the next launch starts the agent, and launches
from then on go through it. ``disable`` stops both, disables the socket and removes the files;
launches then start their scopes themselves, as before.
"""

from __future__ import annotations

from importlib import resources

from jeepney.io.blocking import DBusConnection

from ..errors import SscError
from ..user_manager import ssc_units, unit_control
from ..user_manager.transient_units import connect
from .client import socket_path

SOCKET_UNIT = "ssc-agent.socket"
SERVICE_UNIT = "ssc-agent.service"
EXECUTABLE = "ssc-agent"
MARKER = "# Written by sscctl agent enable; sscctl agent disable removes it.\n"


def unit_texts(executable: str) -> dict[str, str]:
    """Both units as written: the shipped files, marked, the service naming ``executable``."""
    return {
        SOCKET_UNIT: MARKER + _template(SOCKET_UNIT),
        SERVICE_UNIT: ssc_units.with_exec_start(
            _template(SERVICE_UNIT), ssc_units.exec_word(executable), MARKER
        ),
    }


def _template(name: str) -> str:
    resource = resources.files(__package__).joinpath(name)
    try:
        return resource.read_text(encoding="utf-8")
    except OSError as error:
        raise SscError(f"{resource}: cannot read: {error.strerror}") from error


def enable() -> list[str]:
    from ..desktop import files  # its atomic write

    texts = unit_texts(ssc_units.executable(EXECUTABLE))
    paths = {name: ssc_units.unit_dir() / name for name in texts}
    for path in paths.values():
        ssc_units.refuse_if_not_ours(path, MARKER, "replacing")
    for name, text in texts.items():
        files.write_atomic(paths[name], text)
    connection = connect()
    try:
        unit_control.reload(connection)
        unit_control.enable(connection, SOCKET_UNIT)
        unit_control.reload(connection)  # as systemctl enable does: the manager sees the new link
        # A running agent is stopped, so that the next launch starts the one just installed.
        ssc_units.ignoring_unknown(
            lambda: unit_control.run_job(connection, "StopUnit", SERVICE_UNIT)
        )
        result = unit_control.run_job(connection, "RestartUnit", SOCKET_UNIT)
    finally:
        connection.close()
    if result != "done":
        raise SscError(
            f"Failed to start {SOCKET_UNIT}: job {result}",
            hint=f"see: journalctl --user -u {SOCKET_UNIT}",
        )
    return [
        *(f"Installed {path}" for path in paths.values()),
        f"Enabled {SOCKET_UNIT} and started it: ssc's agent starts with the next launch, "
        f"on {socket_path()}, and launches go through it.",
    ]


def _stop(connection: DBusConnection, unit: str) -> str | None:
    """The stop job's result; None where the manager does not know ``unit``."""
    return ssc_units.ignoring_unknown(lambda: unit_control.run_job(connection, "StopUnit", unit))


def disable() -> list[str]:
    paths = {name: ssc_units.unit_dir() / name for name in (SOCKET_UNIT, SERVICE_UNIT)}
    present = [
        name
        for name, path in paths.items()
        if ssc_units.refuse_if_not_ours(path, MARKER, "removing")
    ]
    connection = connect()
    try:
        stopped = [_stop(connection, name) for name in (SERVICE_UNIT, SOCKET_UNIT)]
        ssc_units.ignoring_unknown(lambda: unit_control.disable(connection, SOCKET_UNIT))
        for name in present:
            ssc_units.remove(paths[name])
        if present:
            unit_control.reload(connection)
    finally:
        connection.close()
    if not present and all(result is None for result in stopped):
        return ["ssc's agent is not installed."]
    lines = [f"Stopped {SERVICE_UNIT} and {SOCKET_UNIT}, and disabled {SOCKET_UNIT}"]
    lines += [f"Removed {paths[name]}" for name in present]
    lines.append("Launches start their scopes themselves again.")
    return lines
