"""``sscctl notify enable|disable``: install the watcher as the user service
``ssc-notify.service``, bound to the graphical session, or take it away.

The unit is the shipped one (``contrib/systemd/user/ssc-notify.service``) with ``ExecStart``
naming the installed ``ssc-notify`` by its absolute path (a session's PATH may lack it). It is
written to ``$XDG_CONFIG_HOME/systemd/user/``, enabled (``WantedBy=graphical-session.target``)
and (re)started now over the manager's D-Bus API, as ``systemctl --user enable --now`` does.
A file there that sscctl did not write is never replaced or removed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import SscError
from ..user_manager import ssc_units, unit_control
from ..user_manager.ssc_units import exec_word as exec_word
from ..user_manager.transient_units import connect

UNIT = "ssc-notify.service"
EXECUTABLE = "ssc-notify"
MARKER = "# Written by sscctl notify enable; sscctl notify disable removes it.\n"


def unit_text(template: str, executable: str, *, throttling: bool) -> str:
    """The shipped unit with ssc's marker on top and ``ExecStart`` naming ``executable``."""
    command = exec_word(executable) + (" --throttling" if throttling else "")
    return ssc_units.with_exec_start(template, command, MARKER)


# --- files (the edge) --------------------------------------------------------------------------


def unit_path() -> Path:
    return ssc_units.unit_dir() / UNIT


def is_installed() -> bool:
    return unit_path().exists()


def template() -> str:
    resource = resources.files(__package__).joinpath(UNIT)
    try:
        return resource.read_text(encoding="utf-8")
    except OSError as error:
        raise SscError(f"{resource}: cannot read: {error.strerror}") from error


def executable(argv0: str | None = None) -> str:
    """The absolute path of ``ssc-notify``: beside the running ``sscctl``, else on PATH."""
    return ssc_units.executable(EXECUTABLE, argv0)


# --- commands ----------------------------------------------------------------------------------


def enable(*, throttling: bool) -> list[str]:
    from ..desktop import files  # its atomic write; imported here, off the watcher's path

    path = unit_path()
    ssc_units.refuse_if_not_ours(path, MARKER, "replacing")
    text = unit_text(template(), executable(), throttling=throttling)
    files.write_atomic(path, text)
    connection = connect()
    try:
        unit_control.reload(connection)
        unit_control.enable(connection, UNIT)
        result = unit_control.run_job(connection, "RestartUnit", UNIT)
    finally:
        connection.close()
    if result != "done":
        raise SscError(
            f"Failed to start {UNIT}: job {result}", hint=f"see: journalctl --user -u {UNIT}"
        )
    what = "and when an app is slowed down at its MemoryHigh " if throttling else ""
    return [
        f"Installed {path}",
        f"Enabled {UNIT} for the graphical session, and started it: a notification comes when "
        f"a contained app reaches its memory limit {what}".rstrip()
        + ".",
    ]


def disable() -> list[str]:
    path = unit_path()
    present = ssc_units.refuse_if_not_ours(path, MARKER, "removing")
    connection = connect()
    try:
        stopped = ssc_units.ignoring_unknown(
            lambda: unit_control.run_job(connection, "StopUnit", UNIT)
        )
        ssc_units.ignoring_unknown(lambda: unit_control.disable(connection, UNIT))
        if present:
            ssc_units.remove(path)
            unit_control.reload(connection)
    finally:
        connection.close()
    if not present and stopped is None:
        return [f"{UNIT} is not installed."]
    lines = [f"Stopped and disabled {UNIT}"]
    if present:
        lines.append(f"Removed {path}")
    return lines


def suggestion() -> str | None:
    """The line ``sscctl desktop install`` prints the first time, while the watcher is not in."""
    if is_installed():
        return None
    return (
        "Tip: 'sscctl notify enable' shows a notification when a contained app "
        "reaches its memory limit."
    )
