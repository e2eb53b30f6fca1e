"""The edge for terminal settings: the ``gsettings`` tool, which checks every write against the
installed schema and stores it wherever the desktop keeps settings (dconf, on GNOME).

Failures become ``SscError`` values that say which key could not be read or written.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from typing import Protocol

from ..errors import SscError
from .terminal import Change, Write


class Settings(Protocol):
    """What the terminal commands need from a settings store (tests pass a fake one)."""

    def schemas(self) -> frozenset[str]: ...

    def get(self, schema: str, key: str) -> str: ...

    def apply(self, changes: Sequence[Change]) -> None: ...


class GSettingsTool:
    """Settings through the ``gsettings`` command."""

    def __init__(self, executable: str = "gsettings") -> None:
        self.executable = executable

    def schemas(self) -> frozenset[str]:
        """The installed schemas, fixed and relocatable; none when gsettings is missing."""
        if shutil.which(self.executable) is None:
            return frozenset()
        fixed = self._run("list-schemas").split()
        relocatable = self._run("list-relocatable-schemas").split()
        return frozenset(fixed + relocatable)

    def get(self, schema: str, key: str) -> str:
        return self._run("get", schema, key).strip()

    def apply(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self._run(*_arguments(change))

    def _run(self, *args: str) -> str:
        command = [self.executable, *args]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as error:
            raise SscError(f"Failed to run {self.executable}: {error.strerror}") from error
        if result.returncode != 0:
            reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise SscError(f"gsettings {' '.join(args)}: {reason[0]}")
        return result.stdout


def _arguments(change: Change) -> list[str]:
    schema = f"{change.schema}:{change.path}" if change.path else change.schema
    if isinstance(change, Write):
        return ["set", schema, change.key, change.value]
    if change.key is None:
        return ["reset-recursively", schema]
    return ["reset", schema, change.key]
