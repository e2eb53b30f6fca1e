"""What each ``sscctl`` command does, in terms of the pure modules and the edges.

Every command checks all of its input before it changes anything: an unknown ID, an entry
that is not an application, an unknown profile or a directory it cannot write stops it with
nothing written. Each returns the lines to report; ``ssc.ctl.cli`` prints them.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import SscError, UsageError
from . import contain, files, ids, keyfile, terminal
from .gsettings import Settings

SHELL_ID = "ssc-shell.desktop"


@dataclass(frozen=True)
class Planned:
    desktop_id: str
    target: Path
    text: str
    source: Path


@dataclass(frozen=True)
class Report:
    """What a command did (one line each) and what went wrong after its work was done."""

    lines: list[str]
    warnings: list[str]


@dataclass(frozen=True)
class Listed:
    desktop_id: str
    profile: str
    source: str
    note: str  # "" when the source is as it was at install time


def check_profile(profile: str) -> None:
    """Fail (UsageError) for a profile ssc does not know, naming the ones it does."""
    from ..profiles import load_profile

    load_profile(profile)


def desktop_id_argument(name: str) -> str:
    try:
        return ids.normalize(name)
    except ValueError as error:
        raise UsageError(str(error), hint="give the file's name, e.g. firefox-esr") from error


# --- desktop entries --------------------------------------------------------------------------


def install_entries(names: Iterable[str], profile: str, force: bool) -> Report:
    check_profile(profile)
    ssc = files.ssc_executable()
    plans: list[Planned] = []
    for desktop_id in dict.fromkeys(desktop_id_argument(name) for name in names):
        plans.append(_plan_entry(desktop_id, profile, force, ssc))
    files.check_writable(files.user_applications_dir())
    first = not files.installed()
    for plan in plans:
        files.write_atomic(plan.target, plan.text)
    lines = [f"Contained {p.desktop_id} ({profile}): {p.target}" for p in plans]
    if first:
        lines += _notify_suggestion()
    return Report(lines, _refresh())


def _notify_suggestion() -> list[str]:
    """Once, with the first contained entry: the watcher that tells when a limit bites."""
    from ..notify import install

    tip = install.suggestion()
    return [tip] if tip else []


def _plan_entry(desktop_id: str, profile: str, force: bool, ssc: str) -> Planned:
    source = files.find_source(desktop_id)
    target = files.target_path(desktop_id)
    _refuse_foreign(target, force)
    origin = contain.Origin(str(source.path), source.sha256)
    try:
        entry = contain.contain(
            source.entry, ssc=ssc, profile=profile, app_id=ids.app_id(desktop_id), origin=origin
        )
    except contain.NotContainable as error:
        raise SscError(f"{source.path}: {error}") from error
    return Planned(desktop_id, target, keyfile.render(entry), source.path)


def _refuse_foreign(target: Path, force: bool) -> None:
    """Never replace a file of the user's that ssc did not write, unless told to."""
    if force or not (target.exists() or target.is_symlink()) or files.is_ssc_file(target):
        return
    raise SscError(
        f"{target}: not written by ssc; not replacing it",
        hint="--force replaces it (the file is not kept)",
    )


def remove_entries(names: Iterable[str]) -> Report:
    paths: dict[str, Path] = {}
    for desktop_id in dict.fromkeys(desktop_id_argument(name) for name in names):
        path = files.user_entry_path(desktop_id)
        if path is None:
            home = files.user_applications_dir()
            raise SscError(f"{home / desktop_id}: not installed (no such file)")
        if not files.is_ssc_file(path):
            raise SscError(f"{path}: not written by ssc; not removing it")
        paths[desktop_id] = path
    for path in paths.values():
        files.remove(path)
    return Report([f"Removed {path}" for path in paths.values()], _refresh())


def list_entries() -> list[Listed]:
    listed = []
    for desktop_id, entry_file in files.installed():
        origin = contain.recorded_origin(entry_file.entry)
        current = files.sha256_of(Path(origin.path)) if origin.path else None
        if Path(origin.path) == entry_file.path:
            note = ""  # made from the user's own entry, which it replaced (--force)
        elif current is None:
            note = "source is gone"
        elif current != origin.sha256:
            note = "source changed since install"
        else:
            note = ""
        profile = contain.recorded_profile(entry_file.entry)
        listed.append(Listed(desktop_id, profile, origin.path, note))
    return listed


def _refresh() -> list[str]:
    """The warning, if any, from refreshing the desktop database (the entries are written)."""
    warning = files.refresh(files.user_applications_dir())
    return [warning] if warning else []


# --- terminal profiles and the contained shell entry ------------------------------------------


def login_shell() -> str:
    """The user's login shell from the password database (not $SHELL, which a session may set)."""
    return pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"


def supported_terminals(settings: Settings) -> list[terminal.TerminalApp]:
    schemas = settings.schemas()
    return [
        app
        for app in terminal.TERMINALS
        if app.list_schema in schemas and app.profile_schema in schemas
    ]


def install_terminal(settings: Settings, profile: str, make_default: bool) -> Report:
    check_profile(profile)
    ssc = files.ssc_executable()
    shell = login_shell()
    command = terminal.shell_command(ssc, profile, shell)
    apps = supported_terminals(settings)
    if make_default and not apps:
        raise UsageError(
            "--default: no GNOME Terminal or Ptyxis settings schema is installed",
            hint="install the profile by hand: see the command line below without --default",
        )
    shell_entry = _plan_shell_entry(ssc, profile, shell)
    files.check_writable(shell_entry.target.parent)

    lines = []
    for app in apps:
        profiles = terminal.parse_gvariant_strv(settings.get(app.list_schema, app.list_key))
        default = terminal.parse_gvariant_string(settings.get(app.list_schema, app.default_key))
        label = terminal.profile_label(profile)
        changes = terminal.install_plan(app, profiles, default, command, label, make_default)
        settings.apply(changes)
        role = "the default profile" if make_default else "a profile"
        lines.append(f"{app.name}: added {role} {label!r} ({app.uuid})")
    files.write_atomic(shell_entry.target, shell_entry.text)
    lines.append(f"Contained Shell entry: {shell_entry.target}")
    lines.append(f"Other terminals: set the command to run to: {shlex.join(command)}")
    return Report(lines, _refresh())


def _plan_shell_entry(ssc: str, profile: str, shell: str) -> Planned:
    template_path, data = files.shell_template()
    try:
        template = keyfile.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, keyfile.KeyFileError) as error:
        raise SscError(f"{template_path}: not a valid desktop entry: {error}") from error
    target = files.target_path(SHELL_ID)
    _refuse_foreign(target, force=False)
    template = keyfile.with_group(template, contain.with_exec(template.main, [shell, "-i"]))
    origin = contain.Origin(template_path, hashlib.sha256(data).hexdigest())
    entry = contain.contain(
        template, ssc=ssc, profile=profile, app_id=ids.app_id(SHELL_ID), origin=origin
    )
    return Planned(SHELL_ID, target, keyfile.render(entry), Path(template_path))


def remove_terminal(settings: Settings) -> Report:
    lines = []
    warnings: list[str] = []
    shell_entry = files.user_entry_path(SHELL_ID)
    if shell_entry is not None and not files.is_ssc_file(shell_entry):
        shell_entry = None  # the user's own, not ours to remove
    for app in supported_terminals(settings):
        profiles = terminal.parse_gvariant_strv(settings.get(app.list_schema, app.list_key))
        default = terminal.parse_gvariant_string(settings.get(app.list_schema, app.default_key))
        if app.uuid not in profiles and default != app.uuid:
            continue
        settings.apply(terminal.remove_plan(app, profiles, default))
        lines.append(f"{app.name}: removed profile {app.uuid}")
    if shell_entry is not None:
        files.remove(shell_entry)
        lines.append(f"Removed {shell_entry}")
        warnings = _refresh()
    return Report(lines or ["No contained terminal profile or shell entry to remove."], warnings)
