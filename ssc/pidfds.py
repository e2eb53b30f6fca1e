"""What a pidfd names: the process's PID, and whether it still runs. Pure and light: the
helper (as root) and the agent both check that a pidfd passed to them is the caller's own."""

from __future__ import annotations

import signal


def pid_of_fdinfo(fdinfo: str) -> int | None:
    """The ``Pid:`` line of a pidfd's ``/proc/self/fdinfo/N`` (None: not a pidfd); -1 once the
    process has exited (Linux 5.x: ``pidfd_show_fdinfo``)."""
    for line in fdinfo.splitlines():
        key, _, value = line.partition(":")
        if key == "Pid":
            return int(value)
    return None


def pid_of(fd: int) -> int | None:
    """The PID the pidfd ``fd`` names; None if it is not a pidfd, -1 if the process exited."""
    with open(f"/proc/self/fdinfo/{fd}", encoding="ascii", errors="replace") as file:
        return pid_of_fdinfo(file.read())


def is_alive(fd: int) -> bool:
    """Whether the pidfd's process still runs, so that what was read under its PID was its own.

    The kernel looks for the process before it checks the permission to signal it: EPERM means
    it lives (a caller without CAP_KILL, another user's process).
    """
    try:
        signal.pidfd_send_signal(fd, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True
