"""One launch: decide who stays outside, then profile → scope → verify → exec the program.

1. A desktop launcher that started ssc will move the PID it knows into a scope of its own,
   late (``ssc.launcher.desktop_launchers``). Unless that move has provably happened already, ssc
   splits first: the parent stays outside as the supervisor the launcher knows
   (``ssc.launcher.supervise``), and the child goes on. The split comes before the D-Bus and profile
   machinery is imported, so the supervisor never holds it.
2. If ssc's agent runs (``ssc.agent``), the child hands it its PIDFD, and the agent does steps
   3 and 4 as the child would, with a warm bus connection and the parsed profiles; the child
   then goes on to 5. Without an agent, or where it cannot serve the launch, the child does
   them itself (``ssc.launcher.launch_plan`` is the code both run). The launch path up to here
   imports neither D-Bus nor TOML, nor ``typing``, ``re``, ``enum`` or ``socket``: launch
   latency is a feature (``bench/launch.py``).
3. Everything that can fail on the user's input (an unknown profile, a missing program, no
   bubblewrap or xdg-dbus-proxy for strict) fails before the scope is created, so a refused
   launch leaves nothing behind.
4. The process is named in ``StartTransientUnit`` (its PIDFD), in the slice of all contained
   apps (``ssc.shared_ceiling``, set up first if it lacks its shared ceiling); the job is waited
   for, and the kernel read back: it holds the limits, the scope's and the slice's. Once the scope
   exists, a failure ends this process and the empty scope is collected by the manager
   (``CollectMode=inactive-or-failed``).
   A profile with ``root_held`` asks ssc's system helper instead (``ssc.held``): the scope is
   then the system manager's, in the user's ``user-UID-ssc.slice``, and the same read-back
   follows.
5. It *becomes* the program, so the environment, working directory, terminal and exit status
   are the program's own; the supervisor mirrors that exit. Under strict it first starts the
   session bus's filtering proxy (``ssc.strict.bus_proxy``) and becomes bwrap
   (``ssc.strict.sandbox``), with the /tmp that all instances of the app share
   (``ssc.strict.app_tmp``), which the supervisor removes once the last instance is gone.
"""

from __future__ import annotations

import os
import sys
import time

from .. import cgroup
from ..errors import CommandNotExecutable, SscError
from ..records import Record
from . import desktop_launchers, supervise

# Annotations only: importing typing costs the launch path more than it does (see ssc.limits).
# mypy reads TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from typing import NoReturn

    from ..limits import Amount, CpuQuota
    from .launch_plan import LaunchPlan, Say
else:
    import _signal as signal  # signal's C module, without its enum (see ssc.launcher.supervise)


class Request(Record):
    """What the user asked for on the command line."""

    __slots__ = ("command", "cpu", "debug", "memory", "name", "profile")

    def __init__(
        self,
        command: list[str],
        profile: str,
        cpu: CpuQuota | None = None,
        memory: Amount | None = None,
        name: str | None = None,
        debug: bool = False,
    ) -> None:
        self.command = command
        self.profile = profile
        self.cpu = cpu
        self.memory = memory
        self.name = name
        self.debug = debug

    def app_id(self) -> str:
        """The application ID: ``--name``, else the program's basename."""
        return self.name or os.path.basename(self.command[0]) or self.command[0]


class Sandboxing(Record):
    """What becoming a strict app needs once the scope holds this process: bubblewrap, the bus
    proxy and its filters, and the app's /tmp with the lock that keeps it
    (``ssc.strict.app_tmp``)."""

    __slots__ = ("bus_filters", "bwrap", "proxy", "tmp_directory", "tmp_lock_fd")

    def __init__(
        self, bwrap: str, proxy: str, bus_filters: list[str], tmp_directory: str, tmp_lock_fd: int
    ) -> None:
        self.bwrap = bwrap
        self.proxy = proxy
        self.bus_filters = bus_filters
        self.tmp_directory = tmp_directory
        self.tmp_lock_fd = tmp_lock_fd


def launch(request: Request) -> NoReturn:
    if os.geteuid() == 0:
        raise SscError(
            "refusing to run as root: ssc starts programs as you, in your own user manager",
            hint="run it as your desktop user, without sudo",
        )
    pid = os.getpid()
    own = cgroup.cgroup_of(pid)
    enclosing = cgroup.enclosing_strict_app(own)
    if enclosing is not None:
        _run_in_enclosing_app(request, enclosing)
    if not desktop_launchers.move_is_done(own, cgroup.cgroup_of(os.getppid()), pid):
        # from here on, this is the child: the supervisor stays outside
        supervise.split(on_exit=lambda: _remove_app_tmp(request.app_id()))
    _run_in_own_scope(request)


def _run_in_own_scope(request: Request) -> NoReturn:
    from ..agent import client
    from .programs import resolve_command

    program = resolve_command(request.command[0], os.environ.get("PATH", os.defpath))
    asked = time.perf_counter()
    answer = client.ask(request, program)
    if answer is None:  # no agent, or not for this launch: the launcher starts its scope
        _run_direct(request, program)
    for line in answer.said:
        _say(line)
    if request.debug:
        _say(f"timing: the agent answered in {_ms_since(asked)}")
    if answer.sandboxing is None:
        _exec(program, request.command)  # argv[0] stays as typed, as a shell leaves it
    command = [program, *request.command[1:]]
    _exec_sandboxed(answer.sandboxing, command, answer.bus_socket, request.debug)


def _run_direct(request: Request, program: str) -> NoReturn:
    """The launch without ssc's agent: this process plans, starts and verifies its scope.

    Imported here: the supervisor and the agent's path never hold D-Bus, TOML or the sandbox.
    """
    from ..strict import app_tmp
    from . import launch_plan

    plan = launch_plan.plan_launch(request, program, os.environ)
    sandboxing = None
    if plan.strict is not None:
        runtime_dir = app_tmp.runtime_dir()
        app_tmp.remove_unheld(runtime_dir)  # what instances that had no supervisor left
        tmp = app_tmp.hold(runtime_dir, plan.app)
        sandboxing = Sandboxing(*plan.strict, tmp.directory, tmp.lock_fd)
    say = _say if request.debug else None
    if plan.profile.root_held:
        _join_held_scope(plan, say)
    else:
        _join_scope(plan, say)
    if sandboxing is None:
        _exec(program, request.command)
    command = [program, *request.command[1:]]
    _exec_sandboxed(sandboxing, command, f"bus-{plan.random_digits}", request.debug)


def _run_in_enclosing_app(request: Request, unit: str) -> NoReturn:
    """Started from inside a strict app ("Open with" a contained viewer): run there.

    The sandbox keeps the app from the user manager, so no scope of its own can be had; the
    program stays in the enclosing app's scope, limits and sandbox, and is told so.
    """
    from ..profiles import load_profile
    from .programs import resolve_command

    load_profile(request.profile)  # an unknown or broken profile is refused here too
    program = resolve_command(request.command[0], os.environ.get("PATH", os.defpath))
    print(
        f"ssc: {request.app_id()} runs inside {unit}, the strict app that started it "
        "(a strict app cannot start another in a scope of its own)",
        file=sys.stderr,
    )
    _exec(program, request.command)


def _join_scope(plan: LaunchPlan, say: Say | None) -> None:
    """Start the planned scope holding this process, named by its PIDFD (its PID on older
    managers), then read back that the kernel holds it there with its limits."""
    from ..user_manager import transient_units
    from . import launch_plan

    pidfd = _own_pidfd()
    started = time.perf_counter()
    try:
        connection = transient_units.connect()
        connected = time.perf_counter()
        try:
            launch_plan.join_scope(connection, plan, pidfd=pidfd, pid=os.getpid(), say=say)
        finally:
            connection.close()
    finally:
        if pidfd is not None:
            os.close(pidfd)
    joined = time.perf_counter()
    launch_plan.verify(plan)
    if say is not None:
        say(
            f"timing: connected to the bus in {_ms_since(started, connected)}, started the "
            f"scope in {_ms_since(connected, joined)}, read it back in {_ms_since(joined)}"
        )


def _join_held_scope(plan: LaunchPlan, say: Say | None) -> None:
    """Ask ssc's system helper for a scope the system manager holds (``ssc.held``): the helper
    names it, and its slice (with the default shared ceiling), itself."""
    from .. import held, shared_ceiling, unit_properties
    from ..helper.checks import held_slice

    cpu_count = os.cpu_count() or 1
    properties = unit_properties.resource_properties(plan.limits, cpu_count)
    if say is not None:
        say(f"starting a scope held by root for {plan.app}")
        for prop in properties:
            say(f"  {prop.name} ({prop.signature}) = {prop.value!r}")
    unit = held.start_scope(plan.app, plan.description, properties)
    cgroup.verify_scope(unit, plan.limits, cpu_count, cgroup.read_text)
    default_shared = shared_ceiling.default_limits(shared_ceiling.physical_memory())
    cgroup.verify_slice(held_slice(os.getuid()), default_shared, cgroup.read_text)


def _exec_sandboxed(
    sandboxing: Sandboxing, command: list[str], bus_socket: str, debug: bool
) -> NoReturn:
    """Start the bus proxy from inside the scope (so it is the app's, and a portal reads the
    app's ID from its scope), then become bwrap running ``command``."""
    from .. import session
    from ..strict import bus_proxy, sandbox

    runtime = session.runtime_dir()
    started = time.perf_counter()
    bus = bus_proxy.start(
        sandboxing.proxy,
        session.session_bus_address(),
        _private_path(runtime, bus_socket),
        sandboxing.bus_filters,
    )
    if debug:
        _say(f"timing: the bus proxy was ready in {_ms_since(started)}")
    host = sandbox.read_host(dict(os.environ), runtime, command[1:])
    os.set_inheritable(sandboxing.tmp_lock_fd, True)  # held by bwrap and the program for life
    argv = sandbox.bwrap_argv(sandboxing.bwrap, command, host, sandboxing.tmp_directory, bus)
    _exec(sandboxing.bwrap, argv)


def _remove_app_tmp(app: str) -> None:
    """The supervisor's last act: the app's /tmp goes if this was its last instance."""
    from ..strict import app_tmp

    app_tmp.remove_unheld(app_tmp.runtime_dir(), app)


def _private_path(runtime_dir: str, name: str) -> str:
    """A path in ssc's own directory of ``$XDG_RUNTIME_DIR``, made private on first use."""
    directory = os.path.join(runtime_dir, "ssc")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, name)


def _own_pidfd() -> int | None:
    try:
        return os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return None  # kernels before 5.3: name the process by PID instead


def _exec(program: str, argv: list[str]) -> NoReturn:
    """Become ``program``: from here on, this process is the app (or its sandbox).

    Python ignores SIGPIPE and SIGXFSZ for itself; an ignored signal stays ignored across
    ``exec``, so both get their default back, as ``subprocess`` does (``restore_signals``).
    """
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(program, argv)
    except OSError as error:
        raise CommandNotExecutable(f"{program}: {error.strerror}") from error


def _say(line: str) -> None:
    print(f"ssc: {line}", file=sys.stderr)


def _ms_since(start: float, end: float | None = None) -> str:
    """``--debug``'s figures (``bench/launch.py`` reads them)."""
    return f"{((time.perf_counter() if end is None else end) - start) * 1000:.1f} ms"
