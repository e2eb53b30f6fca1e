"""Apps as a person knows them: the name and icon of an app ID's desktop entry, and which
running scopes a TARGET on ``sscctl``'s command line means.

An app ID is the desktop file ID without ``.desktop`` (``firefox-esr``, ``org.gnome.gedit``),
which is what ssc names its scopes after. The name is the entry's ``Name``, localized as the
Desktop Entry Specification says (``Name[de_DE]``, then ``Name[de]``…); an app without an
entry (``bash``) is called by its ID.

:func:`resolve` is pure; :func:`lookup` reads the entries (the first directory that has the
ID, ``$XDG_DATA_HOME`` first, as launchers do).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ..desktop import ids, keyfile
from ..errors import SscError
from ..strict.bus_names import application_dirs


class App(NamedTuple):
    app_id: str
    name: str
    desktop_id: str | None = None  # None when no desktop entry has the ID
    icon: str | None = None


class Scope(NamedTuple):
    """A running ssc scope: its unit, the app it holds, and where its cgroup is."""

    unit: str
    app: App
    profile: str | None
    cgroup: str  # the cgroup's directory under /sys/fs/cgroup
    since_usec: int | None = None  # when it became active (µs since the epoch)
    held: bool = False  # the system manager's, through ssc's helper (ssc.held)


# --- names (pure) ------------------------------------------------------------------------------


def locale_keys(key: str, locale: str | None) -> list[str]:
    """``Name[de_DE@euro]``, ``Name[de_DE]``, ``Name[de@euro]``, ``Name[de]``, ``Name``: the
    order the Desktop Entry Specification looks up a localized key in."""
    if not locale or locale in ("C", "POSIX"):
        return [key]
    head, _, modifier = locale.partition("@")
    language, _, country = head.split(".", 1)[0].partition("_")
    candidates = []
    if country and modifier:
        candidates.append(f"{language}_{country}@{modifier}")
    if country:
        candidates.append(f"{language}_{country}")
    if modifier:
        candidates.append(f"{language}@{modifier}")
    candidates.append(language)
    return [f"{key}[{c}]" for c in candidates] + [key]


def app_of(app_id: str, entry: keyfile.KeyFile | None, locale: str | None) -> App:
    """The app named by its entry (``Name``, localized, and ``Icon``), or by its ID."""
    if entry is None:
        return App(app_id, app_id)
    main = entry.main
    name = next((main.get(k) for k in locale_keys("Name", locale) if main.get(k)), None)
    icon = main.get("Icon")
    return App(
        app_id,
        keyfile.decode_string(name) if name else app_id,
        app_id,
        keyfile.decode_string(icon) if icon else None,
    )


def messages_locale(environ: Mapping[str, str]) -> str | None:
    """The locale messages are shown in: ``LC_ALL``, ``LC_MESSAGES``, then ``LANG``."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(variable):
            return environ[variable]
    return None


# --- targets (pure) ----------------------------------------------------------------------------


def resolve(target: str, scopes: Sequence[Scope]) -> list[Scope]:
    """The scopes a TARGET means: a unit name, else every scope of one app.

    An app is named by its ID (``org.gnome.gedit``, ``.desktop`` may follow), or, where that
    matches nothing, by its name or the last part of its ID, in any case (``gedit``, ``Text
    Editor``). A TARGET that matches nothing, or several apps, is an error naming them.
    """
    if target.endswith(".scope"):
        named = [scope for scope in scopes if scope.unit == target]
        if not named:
            raise SscError(f"{target}: no such ssc scope is running", hint="see: sscctl ps")
        return named
    app_id = target.removesuffix(ids.SUFFIX)
    exact = [scope for scope in scopes if scope.app.app_id == app_id]
    if exact:
        return exact
    folded = app_id.casefold()
    loose = [
        scope
        for scope in scopes
        if folded
        in (
            scope.app.app_id.casefold(),
            scope.app.name.casefold(),
            scope.app.app_id.rsplit(".", 1)[-1].casefold(),
        )
    ]
    apps = sorted({scope.app.app_id for scope in loose})
    if len(apps) > 1:
        raise SscError(
            f"{target}: matches several apps: {', '.join(apps)}", hint="name one by its app ID"
        )
    if not loose:
        raise SscError(f"{target}: no such app is running contained", hint="see: sscctl ps")
    return loose


# --- desktop entries (the edge) ----------------------------------------------------------------


def find_entry(app_id: str, environ: Mapping[str, str]) -> keyfile.KeyFile | None:
    """The desktop entry whose ID is ``app_id``, or None (none, or none readable)."""
    try:
        desktop_id = ids.normalize(app_id)
    except ValueError:
        return None
    for directory in application_dirs(environ):
        for relative in ids.relative_paths(desktop_id):
            try:
                with open(os.path.join(directory, relative), encoding="utf-8") as file:
                    entry = keyfile.parse(file.read())
            except (OSError, UnicodeDecodeError, keyfile.KeyFileError):
                continue
            if entry.main.get("Hidden") != "true":
                return entry
            return None  # a hidden entry hides the ID's entries further down the path
    return None


def lookup(app_id: str, environ: Mapping[str, str] | None = None) -> App:
    env = os.environ if environ is None else environ
    return app_of(app_id, find_entry(app_id, env), messages_locale(env))
