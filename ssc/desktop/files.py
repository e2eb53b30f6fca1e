"""The edge for desktop entries: find one by ID, read it, write it atomically, list and remove
ssc's, refresh the desktop database, and find the ssc executable to write into them.

Directories come from pyxdg's ``BaseDirectory`` (``$XDG_DATA_HOME``, then ``$XDG_DATA_DIRS``).
Every failure becomes an ``SscError`` whose message starts with the file it is about.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from xdg import BaseDirectory

from ..errors import SscError
from . import contain, ids, keyfile, mimecache

APPLICATIONS = "applications"
SHELL_TEMPLATE = "ssc-shell.desktop"


@dataclass(frozen=True)
class EntryFile:
    """A desktop entry as read from ``path``, with the checksum of its bytes."""

    path: Path
    entry: keyfile.KeyFile
    sha256: str


def user_applications_dir() -> Path:
    """``$XDG_DATA_HOME/applications``: where the user's own entries go, ahead of all others."""
    return Path(BaseDirectory.xdg_data_home) / APPLICATIONS


def search_dirs() -> list[Path]:
    """Every existing ``applications`` directory, in the order launchers look through them."""
    seen: list[Path] = []
    for directory in BaseDirectory.load_data_paths(APPLICATIONS):
        path = Path(directory)
        if path not in seen:
            seen.append(path)
    return seen


def read_entry(path: Path) -> EntryFile:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SscError(f"{path}: cannot read: {error.strerror}") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SscError(f"{path}: not a valid desktop entry: not UTF-8 text") from error
    try:
        entry = keyfile.parse(text)
    except keyfile.KeyFileError as error:
        raise SscError(f"{path}: not a valid desktop entry: {error}") from error
    return EntryFile(path, entry, hashlib.sha256(data).hexdigest())


def find_source(desktop_id: str) -> EntryFile:
    """The entry a launcher would start for ``desktop_id``, passing over entries ssc wrote."""
    directories = search_dirs()
    for directory in directories:
        for relative in ids.relative_paths(desktop_id):
            path = directory / relative
            if path.is_file():
                found = read_entry(path)
                if not contain.is_ssc_entry(found.entry):
                    return found
    searched = ", ".join(str(d) for d in directories) or "no applications directory exists"
    raise SscError(
        f"{desktop_id}: no such desktop entry (searched {searched})",
        hint="the ID is the file's name, e.g. firefox-esr for firefox-esr.desktop",
    )


def user_entry_path(desktop_id: str) -> Path | None:
    """The file in the user's own directory that has ``desktop_id``, if there is one."""
    home = user_applications_dir()
    for relative in ids.relative_paths(desktop_id):
        path = home / relative
        if path.is_file() or path.is_symlink():
            return path
    return None


def target_path(desktop_id: str) -> Path:
    """Where the contained entry for ``desktop_id`` goes (see ``ids`` for why it shadows)."""
    return user_entry_path(desktop_id) or user_applications_dir() / desktop_id


def is_ssc_file(path: Path) -> bool:
    """Whether ``path`` is an entry ssc wrote; False for any file ssc cannot read as one."""
    try:
        return contain.is_ssc_entry(read_entry(path).entry)
    except SscError:
        return False


def entries_below(directory: Path) -> list[tuple[str, EntryFile]]:
    """(desktop ID, entry) for every readable entry in an applications directory, by ID."""
    found: list[tuple[str, EntryFile]] = []
    for parent, _subdirs, names in os.walk(directory):
        for name in names:
            if not name.endswith(ids.SUFFIX):
                continue
            path = Path(parent) / name
            try:
                entry_file = read_entry(path)
            except SscError:
                continue  # not an entry any launcher would use either
            relative = PurePosixPath(path.relative_to(directory).as_posix())
            found.append((ids.desktop_id_of(relative), entry_file))
    return sorted(found, key=lambda item: item[0])


def installed() -> list[tuple[str, EntryFile]]:
    """(desktop ID, entry) for every entry ssc wrote in the user's directory, by ID."""
    return [
        (desktop_id, entry_file)
        for desktop_id, entry_file in entries_below(user_applications_dir())
        if contain.is_ssc_entry(entry_file.entry)
    ]


def sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def check_writable(directory: Path) -> None:
    """Fail now, before anything is written, when ``directory`` cannot be created or written."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SscError(f"{existing}: not a directory; cannot write into {directory}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SscError(f"{existing}: not writable; cannot write into {directory}")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves the old file or the new, never half.

    The new text goes to a temporary file in the same directory (so the rename cannot cross
    file systems), is flushed to disk, and replaces ``path`` in one ``rename``; the directory is
    then flushed so that the rename itself survives a crash. The temporary name does not end
    in ``.desktop``, so launchers watching the directory never pick it up.
    """
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise SscError(f"{path}: cannot write: {error.strerror}") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise SscError(f"{path}: cannot write: {error.strerror}") from error
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as error:
        raise SscError(f"{path}: cannot remove: {error.strerror}") from error


def refresh(directory: Path) -> str | None:
    """Rebuild ``directory``'s ``mimeinfo.cache``, which file associations depend on (see
    ``mimecache``): with ``update-desktop-database`` where it is installed, else ourselves.

    Returns a warning when that fails (the entries are written by then all the same).
    """
    if not directory.is_dir():
        return None
    tool = shutil.which("update-desktop-database")
    if tool is None:
        return _write_mime_cache(directory)
    try:
        result = subprocess.run([tool, "-q", str(directory)], capture_output=True, text=True)
    except OSError as error:
        return f"{tool}: {error.strerror}"
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        return f"update-desktop-database {directory}: {reason[0]}"
    return None


def _write_mime_cache(directory: Path) -> str | None:
    entries = [(desktop_id, found.entry) for desktop_id, found in entries_below(directory)]
    cache = directory / mimecache.FILENAME
    if not mimecache.has_mime_types(entries) and not cache.exists():
        return None
    try:
        write_atomic(cache, mimecache.render(entries))
    except SscError as error:
        return error.message
    return None


def ssc_executable(argv0: str | None = None) -> str:
    """The absolute path of ``ssc``: the one beside the running ``sscctl``, else the one on PATH.

    Entries get an absolute path because the launcher's PATH (GNOME Shell's, from the session)
    may lack the directory ssc is in, ``~/.local/bin`` for one.
    """
    program = sys.argv[0] if argv0 is None else argv0
    if program:
        beside = Path(program).resolve().parent / "ssc"
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    on_path = shutil.which("ssc")
    if on_path:
        return os.path.abspath(on_path)
    raise SscError(
        "cannot find the ssc executable beside sscctl or on PATH",
        hint="install ssc, which provides both ssc and sscctl",
    )


def shell_template() -> tuple[str, bytes]:
    """The shipped entry for a contained shell (``desktop/ssc-shell.desktop``): path and bytes."""
    resource = resources.files(__package__).joinpath(SHELL_TEMPLATE)
    try:
        return str(resource), resource.read_bytes()
    except OSError as error:
        raise SscError(f"{resource}: cannot read: {error.strerror}") from error
