"""The launcher's side of ssc's agent: hand over this process's PIDFD, get the scope's answer.

``ask`` returns None whenever the launcher should start its scope itself (the direct path):
no agent installed or running, an agent that does not accept within ``ACCEPT_TIMEOUT``, one
that dies before it answers, a ``direct`` answer. It never returns None once the agent has
answered with a scope or an error: those are final, as the direct path's own would be.

It uses CPython's ``_socket`` rather than ``socket``: ``socket`` imports ``enum`` and
``selectors``, which cost the launch path more than the whole exchange with the agent (see
``bench/launch.py``); ``_socket`` is the C module ``socket`` wraps, with the same methods.
"""

from __future__ import annotations

import _socket
import os
import sys

from ..errors import SscError
from ..records import Record
from ..session import runtime_dir
from . import protocol

TYPE_CHECKING = False  # mypy reads it as true; typing stays off the launch path
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..launcher.launch import Request, Sandboxing

SOCKET = "agent.socket"  # in $XDG_RUNTIME_DIR/ssc/, where ssc-agent.socket listens
# A running agent accepts at once; one that systemd starts on this connection needs the
# interpreter's start (seconds under emulation). Past this, the launcher goes its own way.
ACCEPT_TIMEOUT = 10.0
# The scope's start job: as long as the direct path waits (ssc.user_manager.transient_units).
ANSWER_TIMEOUT = 150.0
_FD_SIZE = 4  # an int in SCM_RIGHTS data


class Answer(Record):
    """The agent's answer: the scope holds this process; what to print; how to sandbox it."""

    __slots__ = ("bus_socket", "said", "sandboxing", "unit")

    def __init__(
        self, unit: str, said: list[str], sandboxing: Sandboxing | None, bus_socket: str
    ) -> None:
        self.unit = unit
        self.said = said
        self.sandboxing = sandboxing
        self.bus_socket = bus_socket


class AgentRefusal(SscError):
    """The launch refused, as the agent says (the same message and exit code the launcher's
    own path gives)."""

    def __init__(self, message: str, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def socket_path(environ: Mapping[str, str] | None = None) -> str:
    """Where the agent listens: ``ssc-agent.socket``'s ``%t/ssc/agent.socket``."""
    return os.path.join(runtime_dir(environ), "ssc", SOCKET)


def ask(request: Request, program: str) -> Answer | None:
    """The agent's answer for this launch, or None: the launcher starts its scope itself."""
    try:
        pidfd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return None  # no PIDFDs here: the agent could not be sure whom it moves
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        message = protocol.encode(protocol.request_fields(request, program, dict(os.environ)))
        connection.settimeout(ACCEPT_TIMEOUT)
        try:
            connection.connect(socket_path())
            rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fd_bytes(pidfd))]
            connection.sendmsg([message], rights)
            if connection.recv(len(protocol.ACCEPTED)) != protocol.ACCEPTED:
                return None  # gone before it accepted (or not an agent of this version)
            connection.settimeout(ANSWER_TIMEOUT)
            data, ancillary, flags, _ = connection.recvmsg(
                protocol.MAX_MESSAGE, _socket.CMSG_SPACE(_FD_SIZE)
            )
        except OSError:  # no socket, nobody listening, a timeout, an agent killed meanwhile
            return None
        received = _received_fds(ancillary)
        if not data or flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
            _close_all(received)
            return None
        return _answer(protocol.decode(data), received)
    finally:
        connection.close()
        os.close(pidfd)


def _answer(fields: protocol.Fields, received: list[int]) -> Answer | None:
    """The answer in ``fields``; an error answer is raised as the launcher's own error."""
    said = protocol.values(fields, "say")
    error = protocol.value(fields, "error")
    unit = protocol.value(fields, "unit")
    tmp = protocol.value(fields, "tmp")
    if error is not None or unit is None:
        _close_all(received)
        if error is None:
            return None  # "direct": the launcher's own way
        for line in said:
            print(f"ssc: {line}", file=sys.stderr)
        code = protocol.value(fields, "exit") or "1"
        raise AgentRefusal(
            error, protocol.value(fields, "hint"), int(code) if code.isdigit() else 1
        )
    sandboxing = None
    if tmp is not None:
        from ..launcher.launch import Sandboxing

        if len(received) != 1:
            _close_all(received)
            raise SscError("ssc's agent sent no lock for the app's /tmp")
        sandboxing = Sandboxing(
            protocol.value(fields, "bwrap") or "",
            protocol.value(fields, "proxy") or "",
            protocol.values(fields, "filter"),
            tmp,
            received[0],
        )
    else:
        _close_all(received)
    digits = unit.removesuffix(".scope").rpartition("-")[2]
    return Answer(unit, said, sandboxing, f"bus-{digits}")


def _fd_bytes(fd: int) -> bytes:
    return fd.to_bytes(_FD_SIZE, sys.byteorder)


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The descriptors that came with the answer, not inherited by what this process starts
    (the bus proxy must not hold the app's /tmp lock): ``recvmsg`` does not set close-on-exec."""
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % _FD_SIZE
            fds += [
                int.from_bytes(data[i : i + _FD_SIZE], sys.byteorder)
                for i in range(0, usable, _FD_SIZE)
            ]
    for fd in fds:
        os.set_inheritable(fd, False)
    return fds


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
