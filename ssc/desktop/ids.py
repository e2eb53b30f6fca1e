"""Desktop file IDs (Desktop Entry Specification 1.5, "Desktop File ID"): pure.

An entry at ``$XDG_DATA_DIRS/applications/kde/foo.desktop`` has the ID ``kde-foo.desktop``: its
path below ``applications/`` with each ``/`` turned into ``-``. Going back from an ID to a file
is ambiguous (``kde-foo.desktop`` may be ``kde-foo.desktop`` or ``kde/foo.desktop``), so
:func:`relative_paths` lists every reading.

Which file a launcher uses: the first data directory that has the ID, ``$XDG_DATA_HOME`` before
each of ``$XDG_DATA_DIRS``. GLib (GNOME Shell, ``gio``, MIME handlers, the dock) compares IDs,
not paths: its ``get_apps_from_dir`` maps every file of one directory tree to its ID by the
rule above, and ``g_desktop_app_info_new`` takes the first directory holding the ID. So the
flat file ``$XDG_DATA_HOME/applications/kde-foo.desktop`` shadows
``/usr/share/applications/kde/foo.desktop``, and that flat file is what ``sscctl`` writes —
unless the user's own directory already has the ID at another reading, which is then the file
to replace: two files with one ID in one directory leave the choice to ``readdir`` order.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SUFFIX = ".desktop"
# Every reading of an ID with n dashes is one of 2**n paths; real IDs have a handful of dashes.
_MAX_DASHES = 12


def normalize(name: str) -> str:
    """``firefox-esr`` or ``firefox-esr.desktop`` → ``firefox-esr.desktop``; else ValueError."""
    desktop_id = name if name.endswith(SUFFIX) else name + SUFFIX
    stem = desktop_id.removesuffix(SUFFIX)
    if (
        not stem
        or stem.startswith((".", "-"))
        or "/" in stem
        or any(char.isspace() or not char.isprintable() for char in stem)
    ):
        raise ValueError(f"invalid desktop file ID {name!r}")
    return desktop_id


def app_id(desktop_id: str) -> str:
    """The application ID ssc names the scope after: the desktop file ID without ``.desktop``."""
    return desktop_id.removesuffix(SUFFIX)


def relative_paths(desktop_id: str) -> list[PurePosixPath]:
    """Every path below ``applications/`` whose ID is ``desktop_id``, the flat one first."""
    parts = app_id(desktop_id).split("-")
    dashes = len(parts) - 1
    if dashes > _MAX_DASHES:
        return [PurePosixPath(desktop_id)]
    readings: list[tuple[int, PurePosixPath]] = []
    for mask in range(2**dashes):
        text = parts[0]
        for index, part in enumerate(parts[1:]):
            text += ("/" if mask >> index & 1 else "-") + part
        components = text.split("/")
        if all(components):  # "a--b" read as "a-/b" is fine, "a/" + "" is not
            readings.append((mask.bit_count(), PurePosixPath(text + SUFFIX)))
    readings.sort(key=lambda reading: reading[0])
    return [path for _, path in readings]


def desktop_id_of(relative: PurePosixPath) -> str:
    """The ID of the entry at ``relative`` below ``applications/``: ``kde/foo.desktop`` →
    ``kde-foo.desktop``."""
    return "-".join(relative.parts)
