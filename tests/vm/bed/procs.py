"""Child processes that cannot outlive the runner, and their failures reported with a log tail."""

from __future__ import annotations

import ctypes
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when the runner dies.

    This covers the one case no signal handler can: the runner being killed with SIGKILL
    (see prctl(2), PR_SET_PDEATHSIG). It survives exec, so it reaches qemu itself.
    """

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def cannot_start(tool: str, why: OSError | None = None) -> str:
    """The one-line reason ``tool`` could not be started (``why`` None: it is not on PATH)."""
    if why is None or (isinstance(why, FileNotFoundError) and "/" not in tool):
        return f"cannot start {tool}: not found on PATH"
    return f"cannot start {tool}: {why.strerror or why}"


def start(
    command: list[str],
    error: type[Exception],
    *,
    stdout: int | IO[Any],
    stderr: int | IO[Any],
    sig: int = signal.SIGKILL,
) -> subprocess.Popen[bytes]:
    """Start ``command`` (no stdin; ``sig`` when the runner dies), or raise ``error`` saying why.

    A tool that is missing or not executable is the caller's one-line ``error``, not a traceback.
    """
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=die_with_parent(sig),
        )
    except OSError as why:
        raise error(cannot_start(command[0], why)) from None


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} was not written)"
    return "\n".join(text.splitlines()[-lines:])


def run_checked(command: list[str], log: Path, error: type[Exception]) -> None:
    """Run ``command`` (output appended to ``log``); raise ``error`` with the log's tail on failure.

    The child gets SIGTERM if the runner dies, so tools that clean up after themselves
    (mmdebstrap unmounts what it mounted) still can. A tool that cannot be started at all is
    ``error`` too, with a one-line message naming it.
    """
    with open(log, "a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        proc = start(command, error, stdout=out, stderr=subprocess.STDOUT, sig=signal.SIGTERM)
        try:
            returncode = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    if returncode != 0:
        raise error(f"{command[0]} failed (exit {returncode}); last lines of {log}:\n{tail(log)}")
