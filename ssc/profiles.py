"""Profiles: named sets of limits and an isolation switch, stored as TOML data files.

Built-in profiles live in ``ssc/profiles/``; a user adds a profile, or overrides keys of a
built-in one, with a file of the same name in ``$XDG_CONFIG_HOME/ssc/profiles/``. A profile file::

    description = "what it is for"
    isolate = true              # strict isolation with bubblewrap (private /tmp, no new privileges)
    root_held = true            # limits held by root, through the system helper (ssc.held)

    [limits]                    # systemd's names and value syntax; "infinity" removes a limit
    CPUQuota = "all-but-one"
    MemoryMax = "70%"

    [bus]                       # with isolate: the session bus names the app may use
    talk = ["org.freedesktop.Notifications"]
    own = ["{app_id}.*"]

Parsing and merging are pure (text in, ``Profile`` out); ``load_profile`` is the file edge.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from .errors import SscError, UsageError
from .limits import (
    Amount,
    CpuQuota,
    LimitError,
    Percent,
    parse_cpu_quota,
    parse_memory,
    parse_oom_policy,
    parse_tasks,
    parse_weight,
)
from .strict.bus_policy import FIELDS, BusPolicy, check_entry

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_NO_LIMIT = "infinity"
_T = TypeVar("_T")


class Limits(NamedTuple):
    """Resource limits; None means "not limited by ssc"."""

    cpu_quota: CpuQuota | None = None
    memory_max: Amount | None = None
    memory_high: Amount | None = None
    memory_swap_max: Amount | None = None
    tasks_max: int | Percent | None = None
    cpu_weight: int | None = None
    oom_policy: str | None = None  # None: the manager's DefaultOOMPolicy (stop)


class Profile(NamedTuple):
    name: str
    description: str = ""
    isolate: bool = False
    root_held: bool = False  # the scope is the system manager's, through ssc's helper
    limits: Limits = Limits()
    bus: BusPolicy | None = None  # the session bus allow-list, used when isolate is set
    sources: tuple[str, ...] = ()  # the files it was read from, built-in first


class ProfileError(SscError):
    """A profile file that cannot be used; the message names the file and the key."""


def _swap(text: str) -> Amount:
    return parse_memory(text, minimum=0)  # no swap at all is a sensible bound


# Profile key → (Limits field, parser). Only these keys exist: anything else is an error.
LIMIT_KEYS: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "CPUQuota": ("cpu_quota", parse_cpu_quota),
    "MemoryMax": ("memory_max", parse_memory),
    "MemoryHigh": ("memory_high", parse_memory),
    "MemorySwapMax": ("memory_swap_max", _swap),
    "TasksMax": ("tasks_max", parse_tasks),
    "CPUWeight": ("cpu_weight", parse_weight),
    "OOMPolicy": ("oom_policy", parse_oom_policy),
}
# Keys for which "infinity" means something: every limit, but not the OOM policy.
_UNLIMITABLE = frozenset(LIMIT_KEYS) - {"OOMPolicy"}


def parse_profile(text: str, source: str, base: Profile) -> Profile:
    """The profile in ``text`` merged over ``base``: keys it sets replace the base's, key by key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{source}: not valid TOML: {error}") from error
    profile = base._replace(sources=(*base.sources, source))
    for key, value in data.items():
        if key == "description":
            profile = profile._replace(description=_expect(source, key, value, str))
        elif key == "isolate":
            profile = profile._replace(isolate=_expect(source, key, value, bool))
        elif key == "root_held":
            profile = profile._replace(root_held=_expect(source, key, value, bool))
        elif key == "limits":
            table = _expect(source, key, value, dict)
            profile = profile._replace(limits=_parse_limits(table, source, profile.limits))
        elif key == "bus":
            table = _expect(source, key, value, dict)
            profile = profile._replace(bus=_parse_bus(table, source, profile.bus or BusPolicy()))
        else:
            known = "description, isolate, root_held, limits, bus"
            raise ProfileError(f"{source}: unknown key {key!r} (known: {known})")
    return profile


def _parse_bus(table: dict[str, Any], source: str, base: BusPolicy, key: str = "bus") -> BusPolicy:
    """A ``[bus]`` table: each of its lists replaces the base's list of that name, and each of
    its ``[bus.apps."ID"]`` tables is merged so over the base's table for that app."""
    changes: dict[str, Any] = {}
    for name, value in table.items():
        if name == "apps" and key == "bus":
            changes["apps"] = _parse_bus_apps(
                _expect(source, "bus.apps", value, dict), source, base
            )
            continue
        if name not in FIELDS:
            known = ", ".join(FIELDS if key != "bus" else (*FIELDS, "apps"))
            raise ProfileError(f"{source}: unknown key {key}.{name} (known: {known})")
        entries = _expect(source, f"{key}.{name}", value, list)
        for entry in entries:
            text = _expect(source, f"{key}.{name}", entry, str)
            refusal = check_entry(name, text)
            if refusal is not None:
                raise ProfileError(f"{source}: {key}.{name}: {refusal}")
        changes[name] = tuple(entries)
    return base._replace(**changes)


def _parse_bus_apps(
    table: dict[str, Any], source: str, base: BusPolicy
) -> tuple[tuple[str, BusPolicy], ...]:
    apps = dict(base.apps)
    for app, value in table.items():
        key = f'bus.apps."{app}"'
        policy = _parse_bus(
            _expect(source, key, value, dict), source, apps.get(app, BusPolicy()), key
        )
        apps[app] = policy
    return tuple(apps.items())


def _parse_limits(table: dict[str, Any], source: str, base: Limits) -> Limits:
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in LIMIT_KEYS:
            raise ProfileError(
                f"{source}: unknown key limits.{key} (known: {', '.join(LIMIT_KEYS)})"
            )
        attribute, parse = LIMIT_KEYS[key]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # TasksMax = 4096 reads as naturally as TasksMax = "4096"
        text = _expect(source, f"limits.{key}", value, str)
        if text == _NO_LIMIT and key in _UNLIMITABLE:
            changes[attribute] = None
            continue
        try:
            changes[attribute] = parse(text)
        except LimitError as error:
            raise ProfileError(f"{source}: limits.{key}: {error}") from error
    return base._replace(**changes)


def _expect(source: str, key: str, value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind):
        raise ProfileError(f"{source}: {key} must be a {_type_name(kind)}, not {value!r}")
    return value


def _type_name(kind: type) -> str:
    names = {str: "string", bool: "boolean (true or false)", dict: "table", list: "list"}
    return names.get(kind, kind.__name__)


def user_profile_dir(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_CONFIG_HOME/ssc/profiles`` of ``environ`` (by default this process's)."""
    config = config_home(os.environ if environ is None else environ)
    return os.path.join(config, "ssc", "profiles")


def config_home(environ: Mapping[str, str]) -> str:
    """``$XDG_CONFIG_HOME``, else ``$HOME/.config`` (the base directory spec)."""
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or "~", ".config")
    return os.path.expanduser(config)


def profile_paths(name: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Where profile ``name`` may be read from: the built-in file, then the user's."""
    file = f"{name}.toml"
    return os.path.join(BUILTIN_DIR, file), os.path.join(user_profile_dir(environ), file)


def profile_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every profile a user can name: the built-in ones and the user's own."""
    names: set[str] = set()
    for directory in (BUILTIN_DIR, user_profile_dir(environ)):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        stems = (entry.removesuffix(".toml") for entry in entries if entry.endswith(".toml"))
        names.update(stem for stem in stems if _NAME.fullmatch(stem))
    return sorted(names)


def check_name(name: str) -> None:
    """Refuse a profile name that could name a path (letters, digits, ``-`` and ``_`` only)."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid profile name {name!r} (letters, digits, '-' and '_' only)")


def load_profile(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    """The built-in profile ``name``, with the user's file of that name merged over it.

    ``environ`` says where the user's files are (by default, this process's environment).
    """
    check_name(name)
    profile = Profile(name=name)
    found = False
    for path in profile_paths(name, environ):
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as error:
            raise ProfileError(f"{path}: cannot read: {error}") from error
        profile = parse_profile(text, path, profile)
        found = True
    if not found:
        raise UsageError(
            f"unknown profile {name!r} (known: {', '.join(profile_names(environ))})",
            hint=f"add one as {profile_paths(name, environ)[1]}",
        )
    if profile.isolate and profile.bus is None:
        # isolated as strict is: a profile of the user's own without a [bus] table of its own
        profile = profile._replace(bus=_builtin_bus_policy())
    return profile


def _builtin_bus_policy() -> BusPolicy:
    """The built-in strict profile's session bus allow-list."""
    path = os.path.join(BUILTIN_DIR, "strict.toml")
    with open(path, encoding="utf-8") as file:
        bus = parse_profile(file.read(), path, Profile(name="strict")).bus
    if bus is None:
        raise ProfileError(f"{path}: the built-in strict profile has no [bus] table")
    return bus
