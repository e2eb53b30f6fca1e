"""One launch: decide who stays outside, then profile → scope → verify → exec the program.

1. A desktop launcher that started ssc will move the PID it knows into a scope of its own,
   late (``ssc.launchers``). Unless that move has provably happened already, ssc splits first:
   the parent stays outside as the supervisor the launcher knows (``ssc.supervise``), and the
   child goes on. The split comes before the D-Bus and profile machinery is imported, so the
   supervisor never holds it.
2. Everything that can fail on the user's input (an unknown profile, a missing program, no
   bubblewrap or xdg-dbus-proxy for strict) fails before the scope is created, so a refused
   launch leaves nothing behind.
3. The process names itself in ``StartTransientUnit`` (its PIDFD), in the slice of all contained
   apps (``ssc.shared``, set up first if it lacks its shared ceiling), waits for the job, and
   reads back that the kernel holds the limits, the scope's and the slice's. Once the scope
   exists, a failure ends this process and the empty scope is collected by the manager
   (``CollectMode=inactive-or-failed``).
   A profile with ``root_held`` asks ssc's system helper instead (``ssc.held``): the scope is
   then the system manager's, in the user's ``user-UID-ssc.slice``, and the same read-back
   follows.
4. It *becomes* the program, so the environment, working directory, terminal and exit status
   are the program's own; the supervisor mirrors that exit. Under strict it first starts the
   session bus's filtering proxy (``ssc.busproxy``) and becomes bwrap (``ssc.sandbox``), with
   the /tmp that all instances of the app share (``ssc.app_tmp``), which the supervisor
   removes once the last instance is gone.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from . import cgroup, launchers, supervise
from .errors import CommandNotExecutable, SscError
from .limits import Amount, CpuQuota

if TYPE_CHECKING:
    from .app_tmp import HeldTmp
    from .profiles import Limits, Profile
    from .units import Property


class Request(NamedTuple):
    """What the user asked for on the command line."""

    command: list[str]
    profile: str
    cpu: CpuQuota | None = None
    memory: Amount | None = None
    name: str | None = None
    debug: bool = False


class Strict(NamedTuple):
    """What a strict launch needs besides the scope, all found before the scope exists."""

    bwrap: str
    proxy: str
    bus_filters: list[str]
    tmp: HeldTmp


def effective_limits(profile: Profile, request: Request) -> Limits:
    """The profile's limits with the command line's overrides.

    An explicit ``--memory`` sets the ceiling; the profile's ``MemoryHigh``, which is placed
    relative to the profile's own ceiling, is dropped with it rather than left to throttle
    below (or far from) the ceiling the user asked for.
    """
    limits = profile.limits
    if request.cpu is not None:
        limits = limits._replace(cpu_quota=request.cpu)
    if request.memory is not None:
        limits = limits._replace(memory_max=request.memory, memory_high=None)
    return limits


def app_id(request: Request) -> str:
    """The application ID: ``--name``, else the program's basename."""
    return request.name or os.path.basename(request.command[0]) or request.command[0]


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
    if not launchers.move_is_done(own, cgroup.cgroup_of(os.getppid()), pid):
        # from here on, this is the child: the supervisor stays outside
        supervise.split(on_exit=lambda: _remove_app_tmp(app_id(request)))
    _run_in_own_scope(request)


def _run_in_own_scope(request: Request) -> NoReturn:
    # Imported here, after the split: the supervisor never holds D-Bus, TOML or the sandbox.
    from . import app_tmp, shared, units
    from .profiles import load_profile
    from .programs import resolve_command

    profile = load_profile(request.profile)
    limits = effective_limits(profile, request)
    search_path = os.environ.get("PATH", os.defpath)
    program = resolve_command(request.command[0], search_path)
    runtime_dir = app_tmp.runtime_dir()
    strict = _strict_needs(profile, request, program, search_path, runtime_dir)

    random_digits = units.random_part(os.urandom(8))
    cpu_count = os.cpu_count() or 1
    description = units.describe(request.command, profile.name)
    if profile.root_held:
        unit = _join_held_scope(app_id(request), description, limits, cpu_count, request.debug)
        slice_name, shared_limits = _held_slice()
    else:
        unit = units.scope_name(app_id(request), random_digits)
        slice_name, shared_limits = shared.SLICE, shared.load_shared(shared.physical_memory())
        _join_scope(unit, description, limits, cpu_count, shared_limits, request.debug)
    cgroup.verify_scope(unit, limits, cpu_count, cgroup.read_text)
    cgroup.verify_slice(slice_name, shared_limits, cgroup.read_text)

    if strict is None:
        _exec(program, request.command)  # argv[0] stays as typed, as a shell leaves it
    _exec_sandboxed(strict, [program, *request.command[1:]], runtime_dir, f"bus-{random_digits}")


def _run_in_enclosing_app(request: Request, unit: str) -> NoReturn:
    """Started from inside a strict app ("Open with" a contained viewer): run there.

    The sandbox keeps the app from the user manager, so no scope of its own can be had; the
    program stays in the enclosing app's scope, limits and sandbox, and is told so.
    """
    from .profiles import load_profile
    from .programs import resolve_command

    load_profile(request.profile)  # an unknown or broken profile is refused here too
    program = resolve_command(request.command[0], os.environ.get("PATH", os.defpath))
    print(
        f"ssc: {app_id(request)} runs inside {unit}, the strict app that started it "
        "(a strict app cannot start another in a scope of its own)",
        file=sys.stderr,
    )
    _exec(program, request.command)


def _strict_needs(
    profile: Profile, request: Request, program: str, search_path: str, runtime_dir: str
) -> Strict | None:
    """What strict needs, found (or refused) before any unit exists; None under relaxed."""
    if not profile.isolate:
        return None
    from . import app_tmp, busproxy, sandbox

    bwrap = sandbox.check_bwrap(runtime_dir)
    proxy = busproxy.find_proxy(search_path)
    entries = _bus_entries(request, program)
    bus_filters = busproxy.policy_arguments(
        profile.bus or busproxy.BusPolicy(), app_id(request), *entries
    )
    app_tmp.remove_unheld(runtime_dir)  # what instances that had no supervisor left
    return Strict(bwrap, proxy, bus_filters, app_tmp.hold(runtime_dir, app_id(request)))


def _join_scope(
    unit: str, description: str, limits: Limits, cpu_count: int, shared_limits: Limits, debug: bool
) -> None:
    """Start ``unit`` holding this process, named by its PIDFD (its PID on older managers), in
    the slice of all contained apps, which is made or given its limits first if it lacks them."""
    from . import shared, systemd, units

    pidfd = _own_pidfd()
    attempts = units.scope_property_attempts(
        description, limits, cpu_count, pidfd=pidfd, pid=os.getpid()
    )
    if debug:
        _debug(unit, attempts[0])
    try:
        connection = systemd.connect()
        try:
            if not cgroup.slice_holds(shared.slice_directory(), shared_limits, cgroup.read_text):
                slice_properties = shared.slice_properties(shared_limits)
                if debug:
                    _debug(shared.SLICE, slice_properties)
                systemd.set_up_slice(connection, shared.SLICE, slice_properties)
            systemd.start_scope(connection, unit, attempts)
        finally:
            connection.close()
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _join_held_scope(
    app: str, description: str, limits: Limits, cpu_count: int, debug: bool
) -> str:
    """Ask ssc's system helper for a scope the system manager holds (``ssc.held``); the
    helper names it, and its slice, itself."""
    from . import held, units

    properties = units.resource_properties(limits, cpu_count)
    if debug:
        _debug(f"a scope held by root for {app}", properties)
    return held.start_scope(app, description, properties)


def _held_slice() -> tuple[str, Limits]:
    """The held apps' slice and the shared ceiling the helper gives it (the default one)."""
    from . import shared
    from .helper.checks import held_slice

    return held_slice(os.getuid()), shared.default_limits(shared.physical_memory())


def _exec_sandboxed(strict: Strict, command: list[str], runtime_dir: str, socket: str) -> NoReturn:
    """Start the bus proxy from inside the scope (so it is the app's, and a portal reads the
    app's ID from its scope), then become bwrap running ``command``."""
    from . import busproxy, sandbox, systemd

    bus = busproxy.start(
        strict.proxy,
        systemd.session_bus_address(),
        _private_path(runtime_dir, socket),
        strict.bus_filters,
    )
    host = sandbox.read_host(dict(os.environ), runtime_dir, command[1:])
    os.set_inheritable(strict.tmp.lock_fd, True)  # held by bwrap and the program for their life
    _exec(strict.bwrap, sandbox.bwrap_argv(strict.bwrap, command, host, strict.tmp.directory, bus))


def _remove_app_tmp(app: str) -> None:
    """The supervisor's last act: the app's /tmp goes if this was its last instance."""
    from . import app_tmp

    app_tmp.remove_unheld(app_tmp.runtime_dir(), app)


def _bus_entries(request: Request, program: str) -> tuple[list[str], list[str]]:
    """What the desktop entries say: the IDs the program registers on the bus (when there is
    no --name), and the D-Bus-activatable apps that "Open with" may reach."""
    from . import appnames

    dirs = appnames.application_dirs(os.environ)
    return appnames.read_bus_entries(None if request.name else program, dirs)


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


def _debug(unit: str, properties: list[Property]) -> None:
    print(f"ssc: starting {unit}", file=sys.stderr)
    for prop in properties:
        print(f"ssc:   {prop.name} ({prop.signature}) = {prop.value!r}", file=sys.stderr)
