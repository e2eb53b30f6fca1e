"""What one launch asks the user manager for, decided before any unit exists, and the scope.

Two processes start a launch's scope, with the same code: the launcher itself, over a bus
connection of its own (the direct path, ``ssc.launcher.launch``), and ssc's per-user agent, which
keeps a warm connection and the parsed profiles and is handed the launcher's PIDFD (``ssc.agent``).

1. ``plan_launch`` reads the profile and the shared ceiling and, under strict, finds bubblewrap
   and the bus proxy and builds the proxy's filters. Everything that can fail on the user's
   input fails here, before the scope exists, so a refused launch leaves nothing behind.
2. ``join_scope`` gives the slice of all contained apps its ceiling if it lacks it, then starts
   the scope holding the process (``StartTransientUnit``, waiting for the job).
3. ``verify`` reads back from the kernel that the process is in the scope, in the slice, and
   that both hold their limits.

The environment that says where the user's files are (``XDG_CONFIG_HOME``, ``PATH``…) is the
launcher's, passed in: the agent runs with the user manager's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from .. import cgroup, shared_ceiling, unit_properties
from ..profiles import Limits, Profile, load_profile

if TYPE_CHECKING:
    from jeepney.io.blocking import DBusConnection

    from .launch import Request

Say = Callable[[str], None]  # where --debug's lines go: stderr, or the agent's answer


class StrictPlan(NamedTuple):
    """What strict needs besides the scope, all found before the scope exists."""

    bwrap: str
    proxy: str
    bus_filters: list[str]


class LaunchPlan(NamedTuple):
    app: str
    profile: Profile
    limits: Limits
    description: str
    unit: str  # the scope's name in the user manager (a held scope is named by the helper)
    random_digits: str
    shared_limits: Limits | None  # app-ssc.slice's; None when root holds the scope (and its slice)
    strict: StrictPlan | None


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


def plan_launch(
    request: Request,
    program: str,
    environ: Mapping[str, str],
    load: Callable[[str, Mapping[str, str]], Profile] = load_profile,
) -> LaunchPlan:
    """Everything the scope and the sandbox need, refused here if the user's input is wrong."""
    profile = load(request.profile, environ)
    app = request.app_id()
    random_digits = unit_properties.random_part(os.urandom(8))
    return LaunchPlan(
        app=app,
        profile=profile,
        limits=effective_limits(profile, request),
        description=unit_properties.describe(request.command, profile.name),
        unit=unit_properties.scope_name(app, random_digits),
        random_digits=random_digits,
        shared_limits=None if profile.root_held else _shared_limits(environ),
        strict=_strict_plan(profile, request, program, environ) if profile.isolate else None,
    )


def _shared_limits(environ: Mapping[str, str]) -> Limits:
    return shared_ceiling.load_shared(shared_ceiling.physical_memory(), environ)


def _slice_limits(plan: LaunchPlan) -> Limits:
    if plan.shared_limits is None:
        raise ValueError(f"{plan.unit} is held by root: its slice is the helper's, not ssc's")
    return plan.shared_limits


def _strict_plan(
    profile: Profile, request: Request, program: str, environ: Mapping[str, str]
) -> StrictPlan:
    from ..strict import app_tmp, bus_names, bus_policy, bus_proxy, sandbox

    search_path = environ.get("PATH", os.defpath)
    bwrap = sandbox.check_bwrap(app_tmp.runtime_dir(environ), search_path)
    proxy = bus_proxy.find_proxy(search_path)
    # What the desktop entries say: the IDs the program registers on the bus (when there is
    # no --name), and the D-Bus-activatable apps that "Open with" may reach.
    dirs = bus_names.application_dirs(environ)
    entries = bus_names.read_bus_entries(None if request.name else program, dirs)
    policy = profile.bus or bus_policy.BusPolicy()
    filters = bus_policy.policy_arguments(policy, request.app_id(), *entries)
    return StrictPlan(bwrap, proxy, filters)


def join_scope(
    connection: DBusConnection, plan: LaunchPlan, *, pidfd: int | None, pid: int, say: Say | None
) -> None:
    """Start ``plan.unit`` holding the process (named by ``pidfd``, by ``pid`` on managers that
    predate PIDFDs), in the slice of all contained apps, given its ceiling first if it lacks it."""
    from ..user_manager import transient_units

    attempts = unit_properties.scope_property_attempts(
        plan.description, plan.limits, os.cpu_count() or 1, pidfd=pidfd, pid=pid
    )
    if say is not None:
        _say_properties(say, plan.unit, attempts[0])
    shared_limits = _slice_limits(plan)
    if not cgroup.slice_holds(shared_ceiling.slice_directory(), shared_limits, cgroup.read_text):
        slice_properties = shared_ceiling.slice_properties(shared_limits)
        if say is not None:
            _say_properties(say, shared_ceiling.SLICE, slice_properties)
        transient_units.set_up_slice(connection, shared_ceiling.SLICE, slice_properties)
    transient_units.start_scope(connection, plan.unit, attempts)


def verify(plan: LaunchPlan, pid: int | str = "self") -> None:
    """Raise unless the kernel holds the process in the scope and slice, with their limits."""
    cgroup.verify_scope(plan.unit, plan.limits, os.cpu_count() or 1, cgroup.read_text, pid)
    cgroup.verify_slice(shared_ceiling.SLICE, _slice_limits(plan), cgroup.read_text, pid)


def _say_properties(say: Say, unit: str, properties: list[unit_properties.Property]) -> None:
    say(f"starting {unit}")
    for prop in properties:
        say(f"  {prop.name} ({prop.signature}) = {prop.value!r}")
