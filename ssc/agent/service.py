"""``ssc-agent``: the per-user agent that starts contained apps' scopes for the launcher.

It runs as the user's service ``ssc-agent.service``, started by its socket
(``ssc-agent.socket``, ``%t/ssc/agent.socket``, a ``SOCK_SEQPACKET`` socket only the user can
reach) on the first launch, and stays: it keeps warm connections to the user manager and the
parsed profiles, which is what a launch would otherwise pay for each time (``bench/launch.py``).

Each connection is one launch, in a thread of its own:

1. The request comes with one file descriptor, which must be a pidfd of the peer itself: the
   peer's credentials (``SO_PEERCRED``) must carry this user's uid, and the pidfd's PID the
   peer's PID. The agent moves no other process than the one asking, as the system helper
   (``ssc.helper``) and rtkit check their callers.
2. It answers ``accepted``, then plans the launch with the launcher's environment, starts the
   scope holding the launcher's process and reads back from the kernel that it holds
   (``ssc.launcher.launch_plan``: the same code as the launcher's own path), and checks that the
   pidfd still names a live process, so what was read under its PID was the launcher's.
3. It answers with the scope, or the error the launcher would have given, or ``direct`` where
   the launcher must go its own way: a profile whose limits root holds (the helper checks that
   its caller is the process to move), or a launcher on another bus than the agent's.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn

from jeepney.io.blocking import DBusConnection

from .. import pidfds
from ..errors import SscError
from ..launcher import launch_plan
from ..profiles import Profile, load_profile, profile_paths
from ..strict import app_tmp
from ..user_manager import transient_units
from . import protocol
from .client import SOCKET, socket_path

MAX_CONCURRENT = 64  # launches in progress at once; more wait in the socket's backlog
MAX_CONNECTIONS = 8  # bus connections in use at once; more launches wait for one
IDLE_CONNECTIONS = 4  # warm bus connections kept between launches
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_MAX_FDS = 8  # room for this many passed descriptors (one is expected); more is refused
_SD_LISTEN_FDS_START = 3  # sd_listen_fds(3)


class Refused(Exception):
    """A request the agent does not serve, with the reason it logs and answers."""


# --- what the agent keeps --------------------------------------------------------------------


class ProfileCache:
    """Parsed profiles, each kept while the files it was read from hold the same bytes.

    The files are read on every launch (a few hundred bytes each); only the TOML parse is
    saved. Their contents, not their times, are compared: a file rewritten within one tick of
    the kernel's coarse clock keeps its modification time, and one of the same size its size.
    """

    def __init__(self, load: Callable[[str, Mapping[str, str]], Profile] = load_profile) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._profiles: dict[tuple[object, ...], Profile] = {}

    def load(self, name: str, environ: Mapping[str, str]) -> Profile:
        from ..profiles import BUILTIN_DIR, check_name

        check_name(name)
        paths = (*profile_paths(name, environ), os.path.join(BUILTIN_DIR, "strict.toml"))
        key = (name, *paths, *(_contents(path) for path in paths))
        with self._lock:
            cached = self._profiles.get(key)
        if cached is not None:
            return cached
        profile = self._load(name, environ)  # an error is not kept: the next launch reads again
        with self._lock:
            if len(self._profiles) >= 64:
                self._profiles.clear()
            self._profiles[key] = profile
        return profile


def _contents(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read(1 << 20)
    except OSError:
        return None


class ConnectionPool:
    """Warm connections to the session bus: at most ``MAX_CONNECTIONS``, each serving one launch
    at a time, a few kept idle between launches.

    A launch waits for a free connection rather than open one more: fifty launches at once
    would otherwise connect fifty times at once, and the bus's listening socket refuses what
    overflows its backlog (EAGAIN), where launches of their own would have come one by one.
    """

    def __init__(self, connect: Callable[[], DBusConnection] = transient_units.connect) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._idle: list[DBusConnection] = []
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    @contextmanager
    def connection(self) -> Iterator[DBusConnection]:
        with self._slots:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                connection = self._connect()
            try:
                yield connection
            except BaseException:
                connection.close()  # it may be broken, or hold a half-read reply: never reused
                raise
            with self._lock:
                if len(self._idle) < IDLE_CONNECTIONS:
                    self._idle.append(connection)
                    return
            connection.close()


# --- one launch ------------------------------------------------------------------------------


class Agent:
    def __init__(
        self, profiles: ProfileCache, pool: ConnectionPool, uid: int | None = None
    ) -> None:
        self.profiles = profiles
        self.pool = pool
        self.uid = os.getuid() if uid is None else uid  # the only user it serves
        self.bus_address = transient_units.session_bus_address()

    def serve(self, peer: socket.socket) -> None:
        """One launch on the connection ``peer``; the connection is closed at the end."""
        with peer:
            try:
                fields, pidfd, pid = self._receive(peer)
            except OSError:
                return  # gone before its request was read
            except Refused as refusal:
                print(f"ssc-agent: refused a request: {refusal}", file=sys.stderr)
                with contextlib.suppress(OSError):  # a caller that left needs no answer
                    _send(peer, protocol.refused(f"ssc's agent refused: {refusal}", None, 1, []))
                return
            if protocol.value(fields, "version") != protocol.VERSION:
                self._make_way(peer, pidfd, protocol.value(fields, "version"))
            try:
                peer.sendall(protocol.ACCEPTED)
                answer, lock_fd = self._launch(fields, pidfd, pid)
                try:
                    _send(peer, answer, lock_fd)
                finally:
                    if lock_fd is not None:
                        os.close(lock_fd)
            except OSError:
                pass  # the launcher is gone: what it was given, it no longer holds
            finally:
                os.close(pidfd)

    def _make_way(self, peer: socket.socket, pidfd: int, version: str | None) -> NoReturn:
        """A launcher of another version of ssc (an upgrade while this agent ran): it goes its
        own way, and this agent exits, so that the socket starts the installed one next time.
        A launch this agent serves meanwhile sees it gone and goes its own way too."""
        print(f"ssc-agent: a launcher speaks version {version}, not {protocol.VERSION}: exiting")
        with contextlib.suppress(OSError):
            peer.sendall(protocol.ACCEPTED)
            _send(peer, protocol.direct(f"ssc's agent is of another version ({protocol.VERSION})"))
        os.close(pidfd)
        peer.close()
        os._exit(0)

    def _receive(self, peer: socket.socket) -> tuple[protocol.Fields, int, int]:
        """The request, the pidfd that came with it and the peer's PID, once both are checked."""
        data, ancillary, flags, _ = peer.recvmsg(
            protocol.MAX_MESSAGE, socket.CMSG_SPACE(4 * _MAX_FDS)
        )
        fds = [
            fd
            for level, kind, payload in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for fd in struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4])
        ]
        for fd in fds:
            os.set_inheritable(fd, False)  # recvmsg does not set close-on-exec
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise Refused("the request is too large")
            pid, uid, _gid = _UCRED.unpack(
                peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            if uid != self.uid:
                raise Refused(f"the caller is uid {uid}, not this agent's user")
            if len(fds) != 1:
                raise Refused(f"{len(fds)} descriptors came with the request, not one pidfd")
            _check_is_peer(fds[0], pid)
            fields = protocol.decode(data)
        except (Refused, protocol.ProtocolError, OSError) as error:
            for fd in fds:
                os.close(fd)
            raise error if isinstance(error, Refused) else Refused(str(error)) from error
        return fields, fds[0], pid

    def _launch(
        self, fields: protocol.Fields, pidfd: int, pid: int
    ) -> tuple[protocol.Fields, int | None]:
        """The answer for the request in ``fields``, and the /tmp lock to send with it."""
        said: list[str] = []
        lock_fd = None
        try:
            request, program, environ = protocol.parse_request(fields)
            if transient_units.session_bus_address(environ) != self.bus_address:
                return protocol.direct("the launcher is on another session bus"), None
            say = said.append if request.debug else None
            started = time.perf_counter()
            plan = launch_plan.plan_launch(request, program, environ, self.profiles.load)
            if plan.profile.root_held:
                return protocol.direct("root holds this profile's limits"), None
            answer = []
            if plan.strict is not None:
                runtime_dir = app_tmp.runtime_dir(environ)
                app_tmp.remove_unheld(runtime_dir)  # what instances without a supervisor left
                tmp = app_tmp.hold(runtime_dir, plan.app)
                lock_fd = tmp.lock_fd
                answer = protocol.sandboxed(*plan.strict, tmp.directory)
            planned = time.perf_counter()
            with self.pool.connection() as connection:
                launch_plan.join_scope(connection, plan, pidfd=pidfd, pid=pid, say=say)
            joined = time.perf_counter()
            launch_plan.verify(plan, pid)
            if not pidfds.is_alive(pidfd):
                raise SscError("the launcher exited while its scope was started")
            if say is not None:
                say(
                    f"timing: agent planned in {_ms(started, planned)}, started the scope in "
                    f"{_ms(planned, joined)}, read it back in {_ms(joined, time.perf_counter())}"
                )
            return protocol.started(plan.unit, said) + answer, lock_fd
        except protocol.ProtocolError as error:
            print(f"ssc-agent: a malformed request: {error}", file=sys.stderr)
            refusal = protocol.refused(
                f"ssc's agent could not read the request: {error}", None, 1, []
            )
        except SscError as error:
            refusal = protocol.refused(error.message, error.hint, error.exit_code, said)
        except Exception as error:  # answer every launch: the agent itself lives on
            print(f"ssc-agent: internal error: {type(error).__name__}: {error}", file=sys.stderr)
            message = f"internal error in ssc's agent: {type(error).__name__}: {error}"
            hint = "see: journalctl --user -u ssc-agent.service, and report it"
            refusal = protocol.refused(message, hint, 1, said)
        if lock_fd is not None:
            os.close(lock_fd)  # refused: the /tmp goes with the next launch's clean-up
        return refusal, None


def _check_is_peer(fd: int, peer_pid: int) -> None:
    try:
        pid = pidfds.pid_of(fd)
    except OSError as error:
        raise Refused("the descriptor cannot be read") from error
    if pid is None:
        raise Refused("the descriptor is not a pidfd")
    if pid != peer_pid or not pidfds.is_alive(fd):
        raise Refused(f"the pidfd names process {pid}, not the caller ({peer_pid})")


def _send(peer: socket.socket, fields: protocol.Fields, fd: int | None = None) -> None:
    rights = [] if fd is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
    peer.sendmsg([protocol.encode(fields)], rights)


def _ms(start: float, end: float) -> str:
    return f"{(end - start) * 1000:.1f} ms"


# --- the process -----------------------------------------------------------------------------


def listening_socket(environ: Mapping[str, str] = os.environ) -> socket.socket:
    """The socket systemd passes (``sd_listen_fds``), else one bound here at the usual path."""
    if environ.get("LISTEN_PID") == str(os.getpid()) and environ.get("LISTEN_FDS") == "1":
        return socket.socket(fileno=_SD_LISTEN_FDS_START)
    path = socket_path(environ)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket left by an agent that was killed
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(128)
    return listener


def serve_forever(listener: socket.socket, agent: Agent) -> None:
    slots = threading.BoundedSemaphore(MAX_CONCURRENT)
    while True:
        slots.acquire()
        try:
            peer, _ = listener.accept()
        except OSError:
            slots.release()
            raise

        def serve(peer: socket.socket = peer) -> None:
            try:
                agent.serve(peer)
            finally:
                slots.release()

        threading.Thread(target=serve, name="launch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ssc-agent``."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        print(f"ssc-agent: takes no arguments (it listens on $XDG_RUNTIME_DIR/ssc/{SOCKET})")
        return 2
    try:
        listener = listening_socket()
        agent = Agent(ProfileCache(), ConnectionPool())
        serve_forever(listener, agent)
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        print(f"ssc-agent: {error}", file=sys.stderr)
        return 1
    return 0
