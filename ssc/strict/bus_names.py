"""What the desktop entries say of the session bus: the IDs a program registers, and the apps
that D-Bus activation starts.

A GTK (GApplication) or KDE (KDBusService) app owns its application ID on the session bus when
it starts, and exits if it cannot ("Failed to register"). Such an app's desktop entry is named
after that ID (the Desktop Entry Specification's D-Bus activation: ``org.gnome.TextEditor``
has ``org.gnome.TextEditor.desktop``). So when ssc starts ``gnome-text-editor`` under strict
without ``--name``, the entries whose ``Exec`` runs that same program tell which names the
app will ask the bus proxy for.

An entry with ``DBusActivatable=true`` is an app that GIO opens files in by calling it on the
bus (``org.freedesktop.Application.Open``) rather than by running its ``Exec``; a strict app
may make that call (``ssc.strict.bus_policy.application_calls``), so "Open with" reaches it. The
first entry of an ID in the data directories decides, as for every reader of desktop entries: an
entry that ``sscctl desktop install`` wrote in the user's directory, without the key, shadows
the system's, and the contained app is not activated behind ssc's back.

Only entries named like a bus name (reverse DNS, ``a.b``) can say anything, so only those are
read. ``main_group_value`` and ``program_of`` are pure; ``read_bus_entries`` is the edge that
reads the data directories, which ``application_dirs`` finds (for ``ssc.ctl.apps`` too).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

_ENTRY_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)+", re.ASCII)
_SUFFIX = ".desktop"


class BusEntries(NamedTuple):
    registered: list[str]  # IDs of the entries whose Exec runs the program
    activatable: list[str]  # IDs of the D-Bus-activatable apps


def main_group_value(entry_text: str, wanted: str) -> str | None:
    """The value of key ``wanted`` in the entry's ``[Desktop Entry]`` group, if it is there."""
    in_main_group = False
    for line in entry_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_main_group = stripped == "[Desktop Entry]"
        elif in_main_group and stripped.startswith(wanted):
            key, _, value = stripped.partition("=")
            if key.strip() == wanted:
                return value.strip()
    return None


def program_of(entry_text: str) -> str | None:
    """The basename of the program the entry's ``Exec`` runs (its first word), if any."""
    words = (main_group_value(entry_text, "Exec") or "").split()
    return os.path.basename(words[0].strip('"')) if words else None


def is_activatable(entry_text: str) -> bool:
    """Whether the entry is a D-Bus-activatable app that is shown (not ``Hidden``)."""
    return (
        main_group_value(entry_text, "DBusActivatable") == "true"
        and main_group_value(entry_text, "Hidden") != "true"
    )


def registered_ids(program: str, application_dirs: list[str]) -> list[str]:
    """IDs of reverse-DNS-named application entries whose ``Exec`` runs ``program``."""
    return read_bus_entries(program, application_dirs).registered


def read_bus_entries(program: str | None, application_dirs: list[str]) -> BusEntries:
    """What the reverse-DNS-named entries say: which run ``program`` (if one is given), and
    which apps are D-Bus-activatable. Each entry is read once."""
    wanted = os.path.basename(program) if program else None
    registered: list[str] = []
    activatable: list[str] = []
    seen: set[str] = set()
    for applications in application_dirs:
        try:
            names = os.listdir(applications)
        except OSError:
            continue
        for name in sorted(names):
            entry_id = name.removesuffix(_SUFFIX)
            if entry_id == name or not _ENTRY_ID.fullmatch(entry_id):
                continue
            first = entry_id not in seen
            if not first and (wanted is None or entry_id in registered):
                continue
            try:
                with open(os.path.join(applications, name), encoding="utf-8") as f:
                    text = f.read(65536)
            except (OSError, UnicodeDecodeError):
                continue
            seen.add(entry_id)
            if first and is_activatable(text):
                activatable.append(entry_id)
            if wanted is not None and entry_id not in registered and program_of(text) == wanted:
                registered.append(entry_id)
    return BusEntries(registered, activatable)


def application_dirs(environ: Mapping[str, str]) -> list[str]:
    """``applications/`` in ``$XDG_DATA_HOME`` then ``$XDG_DATA_DIRS``, as the base directory
    spec says: its defaults, absolute paths only (a relative one is ignored), each once."""
    home = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    dirs = environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    found: list[str] = []
    for directory in [home, *dirs.split(":")]:
        path = os.path.join(directory, "applications")
        if directory and os.path.isabs(directory) and path not in found:
            found.append(path)
    return found
