"""An application's desktop entry → the entry that starts it through ssc (pure).

The contained entry is the original with these changes, and no others:

- ``Exec``, and the ``Exec`` of every ``[Desktop Action …]``, becomes
  ``<ssc> --isolation=<profile> --name=<app id> -- <the original arguments>``, re-quoted by
  ``exec_line.join``. Field codes stay in the arguments, for the launcher to expand; ssc then
  starts what the original command line would have started, in its own scope.
- ``DBusActivatable`` is dropped: a launcher that sees it activates the application over
  D-Bus and never reads ``Exec``, so the program would start outside any scope of ours. An
  action with no ``Exec`` can only be activated over D-Bus, so it is dropped too (its group and
  its name in ``Actions``).
- ``X-SSC-Profile``, ``X-SSC-Source`` and ``X-SSC-Source-SHA256`` record the profile and the file
  the entry was made from. They also mark the entry as ssc's: ``sscctl`` replaces and removes
  only entries that carry them.

Everything else — ``TryExec``, ``Terminal``, ``NoDisplay``, ``Hidden``, ``MimeType``, ``Icon``,
``StartupWMClass``, localized keys, comments — is kept line for line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import exec_line
from .keyfile import (
    ACTION_PREFIX,
    Group,
    KeyFile,
    decode_list,
    decode_string,
    encode_list,
    encode_string,
    with_group,
    with_value,
    without_group,
    without_key,
)

SSC_PROFILE = "X-SSC-Profile"
SSC_SOURCE = "X-SSC-Source"
SSC_SOURCE_SHA256 = "X-SSC-Source-SHA256"
DBUS_ACTIVATABLE = "DBusActivatable"


class NotContainable(ValueError):
    """An entry ssc cannot make a contained launcher of; the caller adds the file's name."""


@dataclass(frozen=True)
class Origin:
    """Where a contained entry came from, as recorded in it."""

    path: str
    sha256: str


def is_ssc_entry(entry: KeyFile) -> bool:
    """Whether ssc wrote ``entry`` (it carries ssc's keys)."""
    return entry.main.get(SSC_PROFILE) is not None


def recorded_profile(entry: KeyFile) -> str:
    return decode_string(entry.main.get(SSC_PROFILE) or "")


def recorded_origin(entry: KeyFile) -> Origin:
    return Origin(
        path=decode_string(entry.main.get(SSC_SOURCE) or ""),
        sha256=decode_string(entry.main.get(SSC_SOURCE_SHA256) or ""),
    )


def contained_command(ssc: str, profile: str, app_id: str, args: Sequence[str]) -> list[str]:
    """The command line that starts ``args`` through ssc, in a scope named after ``app_id``."""
    return [ssc, f"--isolation={profile}", f"--name={app_id}", "--", *args]


def exec_args(group: Group) -> list[str] | None:
    """The arguments of the group's ``Exec``, or None when it has none."""
    raw = group.get("Exec")
    if raw is None:
        return None
    try:
        return exec_line.split(decode_string(raw))
    except exec_line.ExecError as error:
        raise NotContainable(f"[{group.name}] Exec: {error}") from error


def with_exec(group: Group, args: Sequence[str]) -> Group:
    return with_value(group, "Exec", encode_string(exec_line.join(args)))


def contain(entry: KeyFile, *, ssc: str, profile: str, app_id: str, origin: Origin) -> KeyFile:
    """The contained entry for ``entry`` (see the module's docstring); NotContainable if none."""
    main = entry.main
    _check_application(main)
    args = exec_args(main)
    if args is None:
        if _is_true(main.get(DBUS_ACTIVATABLE)):
            raise NotContainable("has no Exec key: it is started over D-Bus only")
        raise NotContainable("has no Exec key: nothing to start")
    if not args:
        raise NotContainable("has an empty Exec key")

    main = with_exec(main, contained_command(ssc, profile, app_id, args))
    main = without_key(main, DBUS_ACTIVATABLE)
    main = with_value(main, SSC_PROFILE, encode_string(profile))
    main = with_value(main, SSC_SOURCE, encode_string(origin.path))
    main = with_value(main, SSC_SOURCE_SHA256, origin.sha256)
    result = with_group(entry, main)

    for group in entry.groups[1:]:
        if not group.name.startswith(ACTION_PREFIX):
            continue
        action_args = exec_args(group)
        if action_args:
            command = contained_command(ssc, profile, app_id, action_args)
            result = with_group(result, with_exec(group, command))
        else:
            result = _without_action(result, group.name.removeprefix(ACTION_PREFIX))
    return result


def _check_application(main: Group) -> None:
    kind = main.get("Type")
    if kind is None:
        raise NotContainable("has no Type key")
    kind = decode_string(kind)
    if kind in ("Link", "Directory"):
        raise NotContainable(f"is a Type={kind} entry, not an application")
    if kind != "Application":
        raise NotContainable(f"has Type={kind}, not Application")
    if main.get("Name") is None:
        raise NotContainable("has no Name key")


def _without_action(entry: KeyFile, action: str) -> KeyFile:
    entry = without_group(entry, ACTION_PREFIX + action)
    main = entry.main
    listed = main.get("Actions")
    if listed is not None:
        remaining = [name for name in decode_list(listed) if name != action]
        if remaining:
            main = with_value(main, "Actions", encode_list(remaining))
        else:
            main = without_key(main, "Actions")
    return with_group(entry, main)


def _is_true(raw: str | None) -> bool:
    return raw is not None and raw.strip() == "true"
