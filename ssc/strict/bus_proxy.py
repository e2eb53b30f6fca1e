"""The session bus under strict: xdg-dbus-proxy, Flatpak's filtering proxy, started for the app.

As Flatpak does it (``common/flatpak-run-dbus.c``): the proxy gets the write end of a pipe as
``--fd`` and writes one byte there once it listens; the launcher waits for that byte, then hands
the read end to bwrap as ``--sync-fd``. When the sandbox is gone, the read end closes and the
proxy removes its socket and exits. The proxy is started from inside the app's scope, so
xdg-desktop-portal, which sees the proxy's process as the caller, reads the app's ID from the
scope's name. What it lets through is ``ssc.strict.bus_policy``'s.

On the launch path: no ``typing`` or ``re`` here (see ``ssc.limits``).
"""

from __future__ import annotations

import os

from ..errors import SscError
from ..records import Record

TYPE_CHECKING = False  # mypy reads it as true; typing stays off the launch path
if TYPE_CHECKING:
    from collections.abc import Iterable

PROXY = "xdg-dbus-proxy"
READY_TIMEOUT = 60.0  # seconds for the proxy to listen: generous, for a loaded machine


class ProxiedBus(Record):
    """A running proxy: where it listens, and the descriptor that keeps it alive."""

    __slots__ = ("socket", "sync_fd")

    def __init__(self, socket: str, sync_fd: int) -> None:
        self.socket = socket
        self.sync_fd = sync_fd


def proxy_argv(
    proxy: str, bus_address: str, socket: str, ready_fd: int, filters: Iterable[str]
) -> list[str]:
    """The proxy's command line: one proxied bus, which stops when ``ready_fd`` closes."""
    return [proxy, f"--fd={ready_fd}", bus_address, socket, *filters]


def find_proxy(search_path: str) -> str:
    """The path of xdg-dbus-proxy, or an error saying that strict cannot run without it."""
    from ..launcher.programs import resolve_command

    try:
        return resolve_command(PROXY, search_path)
    except SscError:
        raise SscError(
            "strict isolation needs xdg-dbus-proxy, which is not installed",
            hint="install it (Debian/Ubuntu/Fedora: package xdg-dbus-proxy, present wherever "
            "Flatpak is), or use --isolation=relaxed to run with limits only",
        ) from None


def start(proxy: str, bus_address: str, socket: str, filters: list[str]) -> ProxiedBus:
    """Start the proxy, wait until it listens, and return the read end that keeps it alive.

    The proxy is double-forked, so that it is nobody's child here: the process that starts it
    becomes bwrap, whose only child must be the app. It stays in this process's scope.
    """
    read_end, write_end = os.pipe()
    try:
        _spawn_detached(proxy_argv(proxy, bus_address, socket, write_end, filters), write_end)
    finally:
        os.close(write_end)  # the proxy holds it now: a proxy that dies gives end-of-file
    ready = _read_one_byte(read_end, READY_TIMEOUT)
    if ready != b"x":
        os.close(read_end)
        reason = "it did not answer" if ready is None else "it exited"
        raise SscError(
            f"Failed to start xdg-dbus-proxy for the session bus: {reason}",
            hint="its own message, if any, is above",
        )
    os.set_inheritable(read_end, True)
    return ProxiedBus(socket, read_end)


def _read_one_byte(fd: int, timeout: float) -> bytes | None:
    """One byte, or b"" at end-of-file, or None if nothing came in time."""
    import select

    readable, _, _ = select.select([fd], [], [], timeout)
    if not readable:
        return None
    try:
        return os.read(fd, 1)
    except OSError:
        return b""


def _spawn_detached(argv: list[str], keep: int) -> None:
    """Run ``argv`` as a grandchild, which the user manager (a subreaper) adopts."""
    intermediate = os.fork()
    if intermediate == 0:
        try:
            if os.fork() == 0:
                _exec_keeping(argv, keep)
        finally:
            os._exit(0)
    os.waitpid(intermediate, 0)


def _exec_keeping(argv: list[str], keep: int) -> None:
    try:
        os.set_inheritable(keep, True)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # stderr stays: the proxy's own message is worth seeing
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
