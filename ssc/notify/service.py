"""``sscctl notify enable|disable``: install the watcher as the user service
``ssc-notify.service``, bound to the graphical session, or take it away.

The unit is the shipped one (``contrib/systemd/user/ssc-notify.service``) with ``ExecStart``
naming the installed ``ssc-notify`` by its absolute path (a session's PATH may lack it). It is
written to ``$XDG_CONFIG_HOME/systemd/user/``, enabled (``WantedBy=graphical-session.target``)
and (re)started now over the manager's D-Bus API, as ``systemctl --user enable --now`` does.
A file there that sscctl did not write is never replaced or removed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

from .. import manager
from ..errors import SscError
from ..systemd import connect

UNIT = "ssc-notify.service"
EXECUTABLE = "ssc-notify"
MARKER = "# Written by sscctl notify enable; sscctl notify disable removes it.\n"
_NEEDS_QUOTES = re.compile(r"[\s\"'\\;]")
_T = TypeVar("_T")


# --- the unit file (pure) ----------------------------------------------------------------------


def exec_word(word: str) -> str:
    """One word of ``ExecStart=`` (systemd.service(5) "Command lines"): ``%`` is a specifier,
    and quotes and backslashes are escaped inside double quotes."""
    escaped = word.replace("%", "%%")
    if not _NEEDS_QUOTES.search(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(template: str, executable: str, *, throttling: bool) -> str:
    """The shipped unit with ssc's marker on top and ``ExecStart`` naming ``executable``."""
    command = exec_word(executable) + (" --throttling" if throttling else "")
    lines = [
        f"ExecStart={command}" if line.startswith("ExecStart=") else line
        for line in template.splitlines()
    ]
    if not any(line.startswith("ExecStart=") for line in lines):
        raise ValueError("the unit template has no ExecStart= line")
    return MARKER + "\n".join(lines) + "\n"


# --- files (the edge) --------------------------------------------------------------------------


def unit_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(config) / "systemd" / "user"


def unit_path() -> Path:
    return unit_dir() / UNIT


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
    program = sys.argv[0] if argv0 is None else argv0
    if program:
        beside = Path(program).resolve().parent / EXECUTABLE
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    found = shutil.which(EXECUTABLE)
    if found:
        return os.path.abspath(found)
    raise SscError(
        f"cannot find {EXECUTABLE} beside sscctl or on PATH",
        hint="install ssc, which provides ssc, sscctl and ssc-notify",
    )


def _is_ours(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


# --- commands ----------------------------------------------------------------------------------


def enable(*, throttling: bool) -> list[str]:
    from ..desktop import files  # its atomic write; imported here, off the watcher's path

    path = unit_path()
    if (path.exists() or path.is_symlink()) and not _is_ours(path):
        raise SscError(f"{path}: not written by sscctl; not replacing it")
    text = unit_text(template(), executable(), throttling=throttling)
    files.write_atomic(path, text)
    connection = connect()
    try:
        manager.reload(connection)
        manager.enable(connection, UNIT)
        result = manager.run_job(connection, "RestartUnit", UNIT)
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
    present = path.exists() or path.is_symlink()
    if present and not _is_ours(path):
        raise SscError(f"{path}: not written by sscctl; not removing it")
    connection = connect()
    try:
        stopped = _ignoring_unknown(lambda: manager.run_job(connection, "StopUnit", UNIT))
        _ignoring_unknown(lambda: manager.disable(connection, UNIT))
        if present:
            try:
                path.unlink()
            except OSError as error:
                raise SscError(f"{path}: cannot remove: {error.strerror}") from error
            manager.reload(connection)
    finally:
        connection.close()
    if not present and stopped is None:
        return [f"{UNIT} is not installed."]
    lines = [f"Stopped and disabled {UNIT}"]
    if present:
        lines.append(f"Removed {path}")
    return lines


def _ignoring_unknown(action: Callable[[], _T]) -> _T | None:
    """What ``action`` returns; None where the manager does not know the unit (or its file)."""
    try:
        return action()
    except manager.BusError as error:
        if error.name in (manager.NO_SUCH_UNIT, "org.freedesktop.DBus.Error.FileNotFound"):
            return None
        raise


def suggestion() -> str | None:
    """The line ``sscctl desktop install`` prints the first time, while the watcher is not in."""
    if is_installed():
        return None
    return (
        "Tip: 'sscctl notify enable' shows a notification when a contained app "
        "reaches its memory limit."
    )
