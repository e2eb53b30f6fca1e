"""The application IDs a program registers on the session bus, read from the desktop entries.

A GTK (GApplication) or KDE (KDBusService) app owns its application ID on the session bus when
it starts, and exits if it cannot ("Failed to register"). Such an app's desktop entry is named
after that ID (the Desktop Entry Specification's D-Bus activation: ``org.gnome.TextEditor``
has ``org.gnome.TextEditor.desktop``). So when ssc starts ``gnome-text-editor`` under strict
without ``--name``, the entries whose ``Exec`` runs that same program tell which names the
app will ask the bus proxy for.

Only entries named like a bus name (reverse DNS, ``a.b``) can say anything, so only those are
read. ``program_of`` is pure; ``registered_ids`` is the edge that reads the data directories,
which ``application_dirs`` finds (for ``ssc.apps`` too).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_ENTRY_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)+", re.ASCII)
_SUFFIX = ".desktop"


def program_of(entry_text: str) -> str | None:
    """The basename of the program the entry's ``Exec`` runs (its first word), if any."""
    in_main_group = False
    for line in entry_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_main_group = stripped == "[Desktop Entry]"
        elif in_main_group and stripped.startswith("Exec"):
            key, _, value = stripped.partition("=")
            if key.strip() == "Exec":
                words = value.split()
                return os.path.basename(words[0].strip('"')) if words else None
    return None


def registered_ids(program: str, application_dirs: list[str]) -> list[str]:
    """IDs of reverse-DNS-named application entries whose ``Exec`` runs ``program``."""
    wanted = os.path.basename(program)
    found: list[str] = []
    for applications in application_dirs:
        try:
            names = os.listdir(applications)
        except OSError:
            continue
        for name in names:
            entry_id = name.removesuffix(_SUFFIX)
            if entry_id == name or entry_id in found or not _ENTRY_ID.fullmatch(entry_id):
                continue
            try:
                with open(os.path.join(applications, name), encoding="utf-8") as f:
                    text = f.read(65536)
            except (OSError, UnicodeDecodeError):
                continue
            if program_of(text) == wanted:
                found.append(entry_id)
    return found


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
