"""One /tmp per app, shared by all its running instances, gone when the last one is.

A strict app gets a /tmp apart from the host's and from other apps'. One per *launch* broke
single-instance programs: Chromium, Electron apps and LibreOffice find their running instance
through a socket under /tmp (``process_singleton_posix.cc``, ``sal/osl/unx/pipe.cxx``), and a
second start that cannot reach it starts a second browser on the same profile. So, as Flatpak
does since 1.12 (flatpak PR #4093, "Share /tmp between instances of the same app"), every
instance of one app ID shares one directory::

    $XDG_RUNTIME_DIR/ssc/apps/<escaped app id>/.ref    the lock every instance holds, shared
    $XDG_RUNTIME_DIR/ssc/apps/<escaped app id>/tmp/    the app's /tmp

``$XDG_RUNTIME_DIR`` is the user's own (mode 0700, on a tmpfs, emptied at logout), so only the
user reaches it, and nothing of it survives a reboot.

An instance holds a shared ``flock`` on ``.ref`` for its whole life: ssc takes it before it
becomes bwrap, and the descriptor stays open in bwrap and is inherited by the program and its
children, so the lock lasts as long as any process of the instance does (flock(2): the lock
belongs to the open file description, which every inherited copy shares). Whoever can take the
lock *exclusively* knows that no instance is left, and removes the directory: the supervisor
once its app has exited (after a crash or a SIGKILL too), ssc-notify when it hears an app's
last scope go, and every strict launch for every app (for an app whose supervisor was itself
killed, or that ran without one). The sandbox shows the directory at /tmp and at its real
path, which ``TMPDIR`` names (``ssc.strict.sandbox``).

A launcher that opened ``.ref`` while a remover held it would get a lock on a file that is no
longer linked; so after locking it checks that the path still names the file it holds, and
tries again if not (the remover unlinks ``.ref`` only after the tmp directory is gone).

``app_dir`` is pure; ``hold`` and ``remove_unheld`` are the file edge. Imports stay light: the
supervisor runs ``remove_unheld`` as the app exits.
"""

from __future__ import annotations

import fcntl
import os

from ..errors import SscError
from ..records import Record
from ..session import runtime_dir as runtime_dir

TYPE_CHECKING = False  # mypy reads it as true; the supervisor's exit stays light (ssc.limits)
if TYPE_CHECKING:
    from collections.abc import Callable

APPS = "apps"
REF = ".ref"
TMP = "tmp"
_ATTEMPTS = 20  # each retry follows a remover that took the directory away meanwhile


class HeldTmp(Record):
    """An instance's share of its app's /tmp: the directory, and the locked descriptor."""

    __slots__ = ("directory", "lock_fd")

    def __init__(self, directory: str, lock_fd: int) -> None:
        self.directory = directory
        self.lock_fd = lock_fd


def apps_dir(runtime_dir: str) -> str:
    return os.path.join(runtime_dir, "ssc", APPS)


def app_dir(runtime_dir: str, app_id: str) -> str:
    """The app's directory: its ID escaped as in its unit's name, so any ID is one plain name."""
    from ..unit_names import escape_app_id

    return os.path.join(apps_dir(runtime_dir), escape_app_id(app_id))


def hold(runtime_dir: str, app_id: str) -> HeldTmp:
    """The app's /tmp, made if no instance has it, held (shared) until this process's line ends.

    The descriptor is not inherited yet: the caller makes it so just before it becomes the app,
    so that no helper process it starts first (the bus proxy) holds the lock too.
    """
    directory = app_dir(runtime_dir, app_id)
    ref = os.path.join(directory, REF)
    for _ in range(_ATTEMPTS):
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(ref, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except FileNotFoundError:
            continue  # a remover took the directory away between the two calls
        except OSError as error:
            raise _cannot_make(directory, error) from error
        fcntl.flock(fd, fcntl.LOCK_SH)
        if _still_linked(ref, fd):
            tmp = os.path.join(directory, TMP)
            try:
                os.makedirs(tmp, mode=0o700, exist_ok=True)
            except OSError as error:
                os.close(fd)
                raise _cannot_make(tmp, error) from error
            return HeldTmp(tmp, fd)
        os.close(fd)
    raise SscError(f"Failed to set up the app's /tmp in {directory}: it kept being removed")


def remove_unheld(runtime_dir: str, app_id: str | None = None) -> None:
    """Remove the /tmp of every app (or of ``app_id``) that no running instance holds.

    Never fails: what cannot be removed now is left for the next one to try.
    """
    root = apps_dir(runtime_dir)
    if app_id is not None:
        names = [os.path.basename(app_dir(runtime_dir, app_id))]
    else:
        try:
            names = os.listdir(root)
        except OSError:
            return
    for name in names:
        _remove_if_unheld(os.path.join(root, name))


def _remove_if_unheld(directory: str) -> None:
    ref = os.path.join(directory, REF)
    try:
        fd = os.open(ref, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        _quietly(os.rmdir, directory)  # no lock file: a directory begun or half removed
        return
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # an instance holds it (or another remover is at work)
        if not _still_linked(ref, fd):
            return  # another remover was quicker
        _remove_tree(os.path.join(directory, TMP))
        if not os.path.lexists(os.path.join(directory, TMP)):
            _quietly(os.unlink, ref)  # last: a launcher waiting on it will see it gone
            _quietly(os.rmdir, directory)
    finally:
        os.close(fd)


def _still_linked(path: str, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _remove_tree(path: str) -> None:
    """Remove what the app left, including directories it made unreadable or unwritable.

    ``shutil.rmtree`` never follows a symlink the app left there out of the directory.
    """
    import shutil

    def make_removable(function: object, failed: str, error: object) -> None:
        parent = os.path.dirname(failed)
        for target in (parent, failed):
            if not os.path.islink(target):
                _quietly(os.chmod, target, 0o700)
        try:
            if os.path.isdir(failed) and not os.path.islink(failed):
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)
        except OSError:
            pass  # left for the next removal

    if not os.path.lexists(path):
        return
    import sys

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_removable)
    else:
        shutil.rmtree(path, onerror=make_removable)


def _quietly(function: Callable[..., object], *args: object) -> None:
    """``function(*args)``, an OSError ignored (contextlib's suppress would cost the supervisor's
    exit an import of contextlib and functools)."""
    try:  # noqa: SIM105
        function(*args)
    except OSError:
        pass


def _cannot_make(path: str, error: OSError) -> SscError:
    return SscError(f"Failed to set up the app's /tmp in {path}: {error.strerror}")
