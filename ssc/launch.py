"""One launch: profile → properties → a scope holding this process → exec the program.

Everything that can fail on the user's input (an unknown profile, a missing program, no
bubblewrap) fails before the scope is created, so a refused launch leaves nothing behind; once
the scope exists, a failure ends this process and the empty scope is collected by the manager
(``CollectMode=inactive-or-failed``). The launcher process *becomes* the program, so its
environment, working directory, terminal, signals and exit status are the program's own.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple, NoReturn

from . import cgroup, sandbox, systemd, units
from .errors import CommandNotExecutable, SscError
from .limits import Amount, CpuQuota
from .profiles import Limits, Profile, load_profile
from .programs import resolve_command


class Request(NamedTuple):
    """What the user asked for on the command line."""

    command: list[str]
    profile: str
    cpu: CpuQuota | None = None
    memory: Amount | None = None
    name: str | None = None
    debug: bool = False


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
    profile = load_profile(request.profile)
    limits = effective_limits(profile, request)
    program = resolve_command(request.command[0], os.environ.get("PATH", os.defpath))
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    bwrap = sandbox.check_bwrap(runtime_dir) if profile.isolate else None

    unit = units.scope_name(app_id(request), os.urandom(16).hex())
    cpu_count = os.cpu_count() or 1
    pid = os.getpid()
    description = units.describe(request.command)
    pidfd = _own_pidfd()
    properties = units.scope_properties(description, limits, cpu_count, pidfd=pidfd, pid=pid)
    fallback = (
        units.scope_properties(description, limits, cpu_count, pidfd=None, pid=pid)
        if pidfd is not None
        else None
    )
    if request.debug:
        _debug(unit, properties)
    try:
        connection = systemd.connect()
        try:
            systemd.start_scope(connection, unit, properties, fallback)
        finally:
            connection.close()
    finally:
        if pidfd is not None:
            os.close(pidfd)
    cgroup.verify_scope(unit, limits, cpu_count, cgroup.read_text)

    if bwrap is None:
        _exec(program, request.command)  # argv[0] stays as typed, as a shell leaves it
    host = sandbox.read_host(dict(os.environ))
    _exec(bwrap, sandbox.bwrap_argv(bwrap, [program, *request.command[1:]], host))


def _own_pidfd() -> int | None:
    try:
        return os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return None  # kernels before 5.3: name the process by PID instead


def _exec(program: str, argv: list[str]) -> NoReturn:
    """Become ``program``: from here on, this process is the app (or its sandbox)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(program, argv)
    except OSError as error:
        raise CommandNotExecutable(f"{program}: {error.strerror}") from error


def _debug(unit: str, properties: list[units.Property]) -> None:
    print(f"ssc: starting {unit}", file=sys.stderr)
    for prop in properties:
        print(f"ssc:   {prop.name} ({prop.signature}) = {prop.value!r}", file=sys.stderr)
