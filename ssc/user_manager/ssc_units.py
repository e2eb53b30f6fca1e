"""ssc's own user units (the notification watcher, the launch agent): their files and their
install, as ``systemctl --user enable --now`` and ``disable --now`` do, over the manager's API.

A unit is the shipped file with ``ExecStart`` naming the installed executable by its absolute
path (a session's PATH may lack it), a marker line on top, written to
``$XDG_CONFIG_HOME/systemd/user/``. A file there without the marker is the user's own: it is
never replaced or removed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import SscError
from . import unit_control

_NEEDS_QUOTES = re.compile(r"[\s\"'\\;]")
_T = TypeVar("_T")


# --- unit files (pure) -------------------------------------------------------------------------


def exec_word(word: str) -> str:
    """One word of ``ExecStart=`` (systemd.service(5) "Command lines"): ``%`` is a specifier,
    and quotes and backslashes are escaped inside double quotes."""
    escaped = word.replace("%", "%%")
    if not _NEEDS_QUOTES.search(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def with_exec_start(template: str, command: str, marker: str) -> str:
    """``template`` with ``marker`` on top and its ``ExecStart=`` line running ``command``."""
    lines = [
        f"ExecStart={command}" if line.startswith("ExecStart=") else line
        for line in template.splitlines()
    ]
    if not any(line.startswith("ExecStart=") for line in lines):
        raise ValueError("the unit template has no ExecStart= line")
    return marker + "\n".join(lines) + "\n"


# --- files (the edge) --------------------------------------------------------------------------


def unit_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(config) / "systemd" / "user"


def executable(name: str, argv0: str | None = None) -> str:
    """The absolute path of ssc's executable ``name``: beside the running one, else on PATH."""
    program = sys.argv[0] if argv0 is None else argv0
    if program:
        beside = Path(program).resolve().parent / name
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    raise SscError(
        f"cannot find {name} beside sscctl or on PATH",
        hint="install ssc, which provides ssc, sscctl, ssc-notify and ssc-agent",
    )


def is_ours(path: Path, marker: str) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(marker)
    except (OSError, UnicodeDecodeError):
        return False


def refuse_if_not_ours(path: Path, marker: str, doing: str) -> bool:
    """Whether ``path`` is there; an SscError if it is there and the user's own."""
    present = path.exists() or path.is_symlink()
    if present and not is_ours(path, marker):
        raise SscError(f"{path}: not written by sscctl; not {doing} it")
    return present


def remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as error:
        raise SscError(f"{path}: cannot remove: {error.strerror}") from error


def ignoring_unknown(action: Callable[[], _T]) -> _T | None:
    """What ``action`` returns; None where the manager does not know the unit (or its file)."""
    try:
        return action()
    except unit_control.BusError as error:
        if error.name in (unit_control.NO_SUCH_UNIT, "org.freedesktop.DBus.Error.FileNotFound"):
            return None
        raise
