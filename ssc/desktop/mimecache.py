"""The ``mimeinfo.cache`` of an applications directory, as ``update-desktop-database`` writes
it (pure).

GLib (GNOME) finds the applications for a MIME type or a URL scheme in each applications
directory's ``mimeinfo.cache``, and an entry in ``~/.local/share/applications`` masks every
association that a directory below gives to the same desktop ID. So a contained entry keeps
its file associations only if the user's own cache lists it: ``update-desktop-database``
writes that cache, and where it is not installed ``sscctl`` writes it with :func:`render`.
(Seen in the test bed: with the user's cache gone, ``gio open`` found no handler at all.)
"""

from __future__ import annotations

from collections.abc import Iterable

from .keyfile import KeyFile, decode_list

FILENAME = "mimeinfo.cache"


def render(entries: Iterable[tuple[str, KeyFile]]) -> str:
    """The cache for ``entries`` (desktop ID, entry): each MIME type → the IDs that list it."""
    table: dict[str, list[str]] = {}
    for desktop_id, entry in sorted(entries, key=lambda item: item[0]):
        for mime_type in decode_list(entry.main.get("MimeType") or ""):
            mime_type = mime_type.strip()
            if mime_type and desktop_id not in table.setdefault(mime_type, []):
                table[mime_type].append(desktop_id)
    lines = ["[MIME Cache]"] + [f"{mime}={';'.join(ids)};" for mime, ids in sorted(table.items())]
    return "\n".join(lines) + "\n"


def has_mime_types(entries: Iterable[tuple[str, KeyFile]]) -> bool:
    return any(entry.main.get("MimeType") for _, entry in entries)
