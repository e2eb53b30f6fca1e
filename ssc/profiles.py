"""Profiles: named sets of limits and an isolation switch, stored as TOML data files.

Built-in profiles live in ``ssc/profiles/``; a user adds a profile, or overrides keys of a
built-in one, with a file of the same name in ``$XDG_CONFIG_HOME/ssc/profiles/``. A profile file::

    description = "what it is for"
    isolate = true              # strict isolation with bubblewrap (private /tmp, no new privileges)

    [limits]                    # systemd's names and value syntax; "infinity" removes a limit
    CPUQuota = "all-but-one"
    MemoryMax = "70%"

Parsing and merging are pure (text in, ``Profile`` out); ``load_profile`` is the file edge.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .errors import SscError, UsageError
from .limits import (
    Amount,
    CpuQuota,
    LimitError,
    Percent,
    parse_cpu_quota,
    parse_memory,
    parse_tasks,
    parse_weight,
)

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "strict"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_NO_LIMIT = "infinity"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Limits:
    """Resource limits; None means "not limited by ssc"."""

    cpu_quota: CpuQuota | None = None
    memory_max: Amount | None = None
    memory_high: Amount | None = None
    memory_swap_max: Amount | None = None
    tasks_max: int | Percent | None = None
    cpu_weight: int | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    isolate: bool = False
    limits: Limits = field(default_factory=Limits)
    sources: tuple[Path, ...] = ()


class ProfileError(SscError):
    """A profile file that cannot be used; the message names the file and the key."""


def _memory_ceiling(text: str) -> Amount:
    return parse_memory(text)


def _swap(text: str) -> Amount:
    return parse_memory(text, minimum=0)  # no swap at all is a sensible bound


# Profile key → (Limits field, parser). Only these keys exist: anything else is an error.
LIMIT_KEYS: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "CPUQuota": ("cpu_quota", parse_cpu_quota),
    "MemoryMax": ("memory_max", _memory_ceiling),
    "MemoryHigh": ("memory_high", _memory_ceiling),
    "MemorySwapMax": ("memory_swap_max", _swap),
    "TasksMax": ("tasks_max", parse_tasks),
    "CPUWeight": ("cpu_weight", parse_weight),
}


def parse_profile(text: str, source: Path, base: Profile) -> Profile:
    """The profile in ``text`` merged over ``base``: keys it sets replace the base's, key by key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{source}: not valid TOML: {error}") from error
    profile = replace(base, sources=(*base.sources, source))
    for key, value in data.items():
        if key == "description":
            profile = replace(profile, description=_expect(source, key, value, str))
        elif key == "isolate":
            profile = replace(profile, isolate=_expect(source, key, value, bool))
        elif key == "limits":
            table = _expect(source, key, value, dict)
            profile = replace(profile, limits=_parse_limits(table, source, profile.limits))
        else:
            raise ProfileError(
                f"{source}: unknown key {key!r} (known: description, isolate, limits)"
            )
    return profile


def _parse_limits(table: dict[str, Any], source: Path, base: Limits) -> Limits:
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
        if text == _NO_LIMIT:
            changes[attribute] = None
            continue
        try:
            changes[attribute] = parse(text)
        except LimitError as error:
            raise ProfileError(f"{source}: limits.{key}: {error}") from error
    return replace(base, **changes)


def _expect(source: Path, key: str, value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind):
        raise ProfileError(f"{source}: {key} must be a {_type_name(kind)}, not {value!r}")
    return value


def _type_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true or false)", dict: "table"}.get(kind, kind.__name__)


def user_profile_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(config) / "ssc" / "profiles"


def profile_names() -> list[str]:
    """Every profile a user can name: the built-in ones and the user's own."""
    names = {p.stem for p in BUILTIN_DIR.glob("*.toml")}
    names.update(p.stem for p in user_profile_dir().glob("*.toml") if _NAME.fullmatch(p.stem))
    return sorted(names)


def load_profile(name: str) -> Profile:
    """The built-in profile ``name``, with the user's file of that name merged over it."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid profile name {name!r} (letters, digits, '-' and '_' only)")
    profile = Profile(name=name)
    found = False
    for directory in (BUILTIN_DIR, user_profile_dir()):
        path = directory / f"{name}.toml"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as error:
            raise ProfileError(f"{path}: cannot read: {error}") from error
        profile = parse_profile(text, path, profile)
        found = True
    if not found:
        raise UsageError(
            f"unknown profile {name!r} (known: {', '.join(profile_names())})",
            hint=f"add one as {user_profile_dir() / (name + '.toml')}",
        )
    return profile
