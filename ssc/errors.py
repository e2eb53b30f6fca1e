"""Errors are values: each knows its one-line message, an optional hint and its exit code.

Exactly one place per command (``ssc.launcher.cli.main``, ``ssc.ctl.cli.main``) turns them into
output on stderr and an exit status, as click does with its ``ClickException``.
"""

from __future__ import annotations


class SscError(Exception):
    """A failure the user can read: one line, plus a hint line where the user can act."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self, prog: str) -> str:
        text = f"{prog}: {self.message}"
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text


class UsageError(SscError):
    """Bad options or arguments, found before anything is started."""

    exit_code = 2


class CommandNotExecutable(SscError):
    """The program exists but cannot be executed (the shell's 126)."""

    exit_code = 126


class CommandNotFound(SscError):
    """The program is not on PATH or does not exist (the shell's 127)."""

    exit_code = 127
