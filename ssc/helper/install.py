"""``ssc-helper install|uninstall``: put the system helper in place for this venv, or take it away.

Run as root. ``install`` writes four files for the interpreter it runs under (the service unit,
the system bus policy, the bus activation file and the polkit actions), each marked as written
by it; ``uninstall`` removes exactly the marked ones. Before it writes anything, ``install``
refuses when any file or directory on the helper's path (the interpreter, the ``sys.path`` the
helper gets, ``pyvenv.cfg``, the ``ssc`` package, and every directory above them) can be changed
by anyone but root: the helper runs as root, so whoever can change what it loads is root.

The file contents and the path checks are pure: they take the venv's python path, or a
:class:`FileSystem` to stat, so tests feed them fake ones. ``install``, ``uninstall`` and
``main`` are the edge; the commands they run (``systemctl``, ``busctl``) are injectable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .. import __version__
from ..errors import SscError
from .checks import ACTIVATION_FILE, BUS_NAME

PROG = "ssc-helper"
MARKER = "Written by ssc-helper install"
UNIT_NAME = "ssc-helper.service"
POLICY_NAME = "org.ssc.helper.policy"

# Where each file goes, relative to the root of the file system.
UNIT_PATH = "etc/systemd/system/ssc-helper.service"
BUS_POLICY_PATH = "etc/dbus-1/system.d/org.ssc.Helper1.conf"
ACTIVATION_PATH = ACTIVATION_FILE.lstrip("/")
ACTIONS_PATH = "usr/share/polkit-1/actions/org.ssc.helper.policy"
INSTALLED = (UNIT_PATH, BUS_POLICY_PATH, ACTIVATION_PATH, ACTIONS_PATH)

# The system manager's calls that move a user's process into that user's own manager: the
# manager's, and each unit type's that has a cgroup (src/core/dbus.c registers the cgroup
# methods under the unit type's interface). Root's alone once installed. A call without an
# interface never reaches them: sd-bus dispatches only calls that name one.
ATTACH_CALLS = (
    ("org.freedesktop.systemd1.Manager", "AttachProcessesToUnit"),
    *(
        (f"org.freedesktop.systemd1.{kind}", "AttachProcesses")
        for kind in ("Service", "Socket", "Mount", "Swap", "Slice", "Scope")
    ),
)
CHECK_HINT = "Check it with: pkaction --action-id org.ssc.helper.contain --verbose"
WHY_ROOT_ONLY = "the helper runs as root and must run only root-owned code"

# The unit hides these from the helper (ProtectHome=yes): it could not start from there.
HIDDEN_BY_UNIT = ("/home", "/root", "/run/user")

# Each hardening setting of the unit, with the reason written above it. The helper talks to
# the system manager and polkit over the system bus and reads other processes' /proc entries
# and the cgroup tree; it writes nothing, and systemd, not the helper, makes the scopes.
HARDENING: tuple[tuple[str, str], ...] = (
    ("ProtectSystem=strict", "It writes no file: the whole file system is read-only to it."),
    ("ProtectHome=yes", "It reads no home directory; a caller's /proc entries are not in one."),
    ("PrivateTmp=yes", "It needs no temporary files, and sees no one else's."),
    ("PrivateDevices=yes", "It opens no device."),
    ("PrivateMounts=yes", "It mounts nothing, and nothing it could mount would reach the host."),
    (
        "PrivateNetwork=yes",
        "No network. The system bus is a socket on the file system, which this does not cut.",
    ),
    ("IPAddressDeny=any", "No IP traffic either, should the network namespace ever be shared."),
    ("RestrictAddressFamilies=AF_UNIX", "The system bus is the only socket it opens."),
    (
        "CapabilityBoundingSet=",
        "No capability: systemd and polkit check uid 0; /proc/PID/status and pidfds need none.",
    ),
    ("NoNewPrivileges=yes", "Nothing it runs gains privileges (setuid, file capabilities)."),
    ("RestrictSUIDSGID=yes", "It makes no setuid or setgid file."),
    ("RestrictNamespaces=yes", "It makes no namespace."),
    ("RestrictRealtime=yes", "It needs no realtime scheduling."),
    ("LockPersonality=yes", "It needs no other execution domain."),
    (
        "MemoryDenyWriteExecute=yes",
        "No writable and executable memory: CPython without a JIT or ctypes callbacks needs none.",
    ),
    ("ProtectKernelTunables=yes", "It changes no kernel setting in /proc/sys or /sys."),
    ("ProtectKernelModules=yes", "It loads no kernel module."),
    ("ProtectKernelLogs=yes", "It reads no kernel log."),
    (
        "ProtectControlGroups=yes",
        "It only reads the cgroup tree; systemd makes and changes the scopes.",
    ),
    ("ProtectClock=yes", "It sets no clock."),
    ("ProtectHostname=yes", "It sets no host name."),
    (
        "ProtectProc=default",
        "Not invisible: it must see other users' processes in /proc to check a caller's own.",
    ),
    ("SystemCallArchitectures=native", "No system calls of a foreign ABI (i386 on x86-64)."),
    ("SystemCallFilter=@system-service", "Only the system calls an ordinary service makes,"),
    (
        "SystemCallFilter=~@privileged @resources",
        "and of those, none that changes identity, ownership, priorities or resource limits.",
    ),
    (
        "SystemCallErrorNumber=EPERM",
        "A call outside the filter fails with EPERM instead of killing the helper mid-call.",
    ),
    ("UMask=0077", "Whatever it might create is its own alone."),
)


# --- The four files, as text (pure) -----------------------------------------------------------


def marker_line(comment: str) -> str:
    """The first comment of every file this writes, in the file format's comment syntax."""
    text = f"{MARKER} (ssc {__version__}); `ssc-helper uninstall` removes it."
    return f"<!-- {text} -->" if comment == "xml" else f"{comment} {text}"


def carries_marker(text: str) -> bool:
    """Whether ``text`` is a file ``ssc-helper install`` wrote: the marker is in its first lines
    (the XML files have their declaration first, then the marker)."""
    return any(MARKER in line for line in text.splitlines()[:3])


_PLAIN_EXEC_WORD = re.compile(r"[A-Za-z0-9_./+@:,=-]+")


def exec_word(word: str) -> str:
    """``word`` as one word of an ``ExecStart=`` line: ``%`` specifiers and ``$`` variables
    escaped, and quoted (C-style escapes) when it holds anything but plain path characters."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in word):
        raise ValueError(f"{word!r} holds a control character")
    escaped = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN_EXEC_WORD.fullmatch(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(python: str) -> str:
    """The helper's service unit, for the venv's ``python`` (the venv's own bin/python, not the
    interpreter it links to: that is what makes Python use the venv)."""
    lines = [
        marker_line("#"),
        "[Unit]",
        f"Description=ssc system helper: holds an app's limits as root ({BUS_NAME})",
        "",
        "[Service]",
        "# Started by the system bus on the first call, and ready once it owns its name.",
        "Type=dbus",
        f"BusName={BUS_NAME}",
        "# -I: no PYTHON* variables, no user site, and no working directory on sys.path.",
        f"ExecStart={exec_word(python)} -I -m ssc.helper",
        "# It stays root (no User=, no DynamicUser=): it asks the system manager for scopes",
        "# around other users' processes, and polkit for their authorisation, as uid 0.",
    ]
    for setting, reason in HARDENING:
        lines += [f"# {reason}", setting]
    return "\n".join(lines) + "\n"


def bus_policy_text() -> str:
    """The system bus policy: only root may own the helper's name; anyone may call it, since
    the helper asks polkit about every call."""
    send = "\n".join(
        f'    <allow send_destination="{BUS_NAME}" send_interface="{interface}"/>'
        for interface in (
            BUS_NAME,
            "org.freedesktop.DBus.Introspectable",
            "org.freedesktop.DBus.Peer",
            "org.freedesktop.DBus.Properties",
        )
    )
    deny_attach, allow_attach = (
        "\n".join(
            f'    <{verdict} send_destination="org.freedesktop.systemd1"'
            f' send_interface="{interface}" send_member="{member}"/>'
            for interface, member in ATTACH_CALLS
        )
        for verdict in ("deny", "allow")
    )
    return f"""\
<?xml version="1.0" encoding="UTF-8"?>
{marker_line("xml")}
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <!-- Only root may own the name: whoever owns it is trusted with everyone's limits. -->
  <policy user="root">
    <allow own="{BUS_NAME}"/>
  </policy>
  <!-- Anyone may call the helper; it asks polkit whether the caller may do what it asks. -->
  <policy context="default">
    <deny own="{BUS_NAME}"/>
{send}
  </policy>
  <!-- What holds a held app in its scope. The system manager moves any process of a user into
       that user's own manager (user@UID.service) when the user asks: AttachProcessesToUnit,
       and a unit's AttachProcesses, check only that the process is the caller's and the unit
       is delegated to it (src/core/dbus-unit.c). A user manager asks so by itself whenever it
       cannot move a process directly, so a user scope that systemd-run starts inside a held
       app would take it out of its limits. Only root may now ask for these moves. The bus
       reads /etc/dbus-1/system.d after /usr/share/dbus-1/system.d, where systemd's own policy
       is, so these rules come last and win. -->
  <policy context="default">
{deny_attach}
  </policy>
  <policy user="root">
{allow_attach}
  </policy>
</busconfig>
"""


def activation_text() -> str:
    """The bus activation file: the system bus hands activation to systemd's unit."""
    return f"""\
{marker_line("#")}
[D-BUS Service]
Name={BUS_NAME}
Exec=/bin/false
User=root
SystemdService={UNIT_NAME}
"""


def marked_xml(text: str) -> str:
    """An XML file with the marker as its first comment, right after the XML declaration
    (which nothing may precede)."""
    marker = marker_line("xml")
    head, _, rest = text.partition("\n")
    if head.startswith("<?xml"):
        return f"{head}\n{marker}\n{rest}"
    return f"{marker}\n{text}"


def installed_files(python: str, policy_source: str) -> dict[str, str]:
    """Each file ``install`` writes, by its path relative to the root, and its text."""
    return {
        UNIT_PATH: unit_text(python),
        BUS_POLICY_PATH: bus_policy_text(),
        ACTIVATION_PATH: activation_text(),
        ACTIONS_PATH: marked_xml(policy_source),
    }


# --- The helper's path: who may change what it loads (pure, over a FileSystem) ----------------


class FileSystem(Protocol):
    """The three calls the path walk makes, so tests can feed it fake stats."""

    def lstat(self, path: str) -> os.stat_result: ...

    def readlink(self, path: str) -> str: ...

    def listdir(self, path: str) -> list[str]: ...


class RealFileSystem:
    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(path)

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)


def unsafe_reason(st: os.stat_result, path: str) -> str | None:
    """Why someone other than root can change ``path``, or None when only root can. A symlink
    itself is never the reason: its target is checked instead (a link's own mode is always
    0777, and only whoever may write its directory can replace it)."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return None
    if st.st_uid != 0:
        return f"{path} is owned by uid {st.st_uid}, not root"
    if mode & 0o002:
        if stat.S_ISDIR(mode) and mode & stat.S_ISVTX:
            return (
                f"{path} is writable by anyone: mode {stat.S_IMODE(mode):04o}, sticky like /tmp,"
                " so anyone may put files in it"
            )
        return f"{path} is writable by anyone: mode {stat.S_IMODE(mode):04o}"
    if mode & 0o020:
        return f"{path} is writable by its group, gid {st.st_gid}: mode {stat.S_IMODE(mode):04o}"
    return None


@dataclass(frozen=True)
class Resolution:
    """Every file and directory path resolution passes through on the way to a path."""

    steps: tuple[tuple[str, os.stat_result], ...]  # physical paths, from "/", symlinks followed
    complete: bool  # False when a component does not exist (the steps are its ancestors)

    @property
    def path(self) -> str:
        """The physical path reached (when complete: the path itself, every symlink resolved)."""
        return self.steps[-1][0]

    @property
    def stat(self) -> os.stat_result:
        return self.steps[-1][1]


MAX_SYMLINKS = 40  # the kernel's limit too (ELOOP)


def resolve(path: str, fs: FileSystem) -> Resolution:
    """Walk ``path`` from ``/`` as the kernel does, replacing every symlink on the way, in any
    component, by its target; each directory passed and the file reached are a step, each with
    its ``lstat``. Stops at the first component that does not exist."""
    steps: list[tuple[str, os.stat_result]] = [("/", fs.lstat("/"))]
    pending = [part for part in posixpath.join("/", path).split("/") if part]
    current = "/"
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = posixpath.dirname(current)  # ``current`` is physical: its parent is real
            continue
        candidate = posixpath.join(current, part)
        try:
            st = fs.lstat(candidate)
        except FileNotFoundError:
            return Resolution(tuple(steps), complete=False)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(f"{path}: too many levels of symbolic links")
            target = fs.readlink(candidate)
            if target.startswith("/"):
                current = "/"
            pending = [piece for piece in target.split("/") if piece] + pending
            continue
        steps.append((candidate, st))
        current = candidate
    return Resolution(tuple(steps), complete=True)


@dataclass
class PathWalk:
    """A walk over the helper's path that looks at each physical file or directory once."""

    fs: FileSystem
    checked: set[str] = field(default_factory=set)  # files and directories checked
    walked: set[str] = field(default_factory=set)  # directories listed
    roots: list[str] = field(default_factory=list)  # the trees walked, as physical paths

    def steps(self, resolution: Resolution) -> str | None:
        for path, st in resolution.steps:
            if path not in self.checked:
                self.checked.add(path)
                reason = unsafe_reason(st, path)
                if reason:
                    return reason
        return None

    def file(self, path: str) -> str | None:
        """Check ``path`` and every directory above it, through every symlink on the way."""
        return self.steps(resolve(path, self.fs))

    def tree(self, path: str) -> str | None:
        """Check ``path``, what is above it, and everything below it (symlinks followed)."""
        resolution = resolve(path, self.fs)
        reason = self.steps(resolution)
        if reason or not resolution.complete:
            return reason
        self.roots.append(resolution.path)
        pending = [resolution] if stat.S_ISDIR(resolution.stat.st_mode) else []
        while pending:
            directory = pending.pop().path
            if directory in self.walked:
                continue
            self.walked.add(directory)
            for name in sorted(self.fs.listdir(directory)):
                entry = posixpath.join(directory, name)
                try:
                    st = self.fs.lstat(entry)
                except FileNotFoundError:
                    continue  # gone since the listing
                if stat.S_ISLNK(st.st_mode):
                    target = resolve(entry, self.fs)
                else:
                    target = Resolution(((entry, st),), complete=True)
                reason = self.steps(target)
                if reason:
                    return reason
                if target.complete and stat.S_ISDIR(target.stat.st_mode):
                    pending.append(target)
        return None


def is_within(path: str, directory: str) -> bool:
    return directory == "/" or path == directory or path.startswith(directory.rstrip("/") + "/")


@dataclass(frozen=True)
class HelperPath:
    """What the helper loads, as the interpreter it runs under reports it."""

    python: str  # sys.executable, as ExecStart names it
    sys_path: tuple[str, ...]  # the sys.path of ``python -I``
    helper_file: str  # ssc.helper.__file__ under ``python -I``

    @property
    def files(self) -> tuple[str, ...]:
        """Single files: the interpreter, and the two places its pyvenv.cfg may be."""
        bin_dir = posixpath.dirname(self.python)
        return (
            self.python,
            posixpath.join(bin_dir, "pyvenv.cfg"),
            posixpath.join(posixpath.dirname(bin_dir), "pyvenv.cfg"),
        )

    @property
    def package_dir(self) -> str:
        """The ``ssc`` package directory (the helper imports from all of it)."""
        return posixpath.dirname(posixpath.dirname(self.helper_file))


def refusal(helper: HelperPath, fs: FileSystem) -> str | None:
    """Why ``install`` must not install this helper, or None when it may.

    Unsafe when any file or directory it would load, or whose replacement would change what it
    loads, can be changed by anyone but root; or when it lives where its unit hides it; or when
    the ``ssc`` it imports is not in its ``sys.path`` (an editable install's finder points
    elsewhere, which no ``sys.path`` walk would see).
    """
    walk = PathWalk(fs)
    reason = None
    for path in helper.files:
        reason = reason or walk.file(path)
    for entry in helper.sys_path:
        reason = reason or walk.tree(posixpath.join("/", entry))  # the unit runs it in "/"
    sys_path_trees = tuple(walk.roots)
    reason = reason or walk.tree(helper.package_dir)
    if reason:
        return f"refusing to install: {reason} ({WHY_ROOT_ONLY})"
    interpreter, package = resolve(helper.python, fs), resolve(helper.package_dir, fs)
    for path in (helper.python, interpreter.path, package.path, *walk.roots):
        hidden = next((top for top in HIDDEN_BY_UNIT if is_within(path, top)), None)
        if hidden:
            return (
                f"refusing to install: {path} is under {hidden}, which the helper's unit hides"
                " from it (ProtectHome=yes); install ssc into a venv outside /home, /root and"
                " /run/user, such as /opt/ssc"
            )
    if not package.complete or not any(is_within(package.path, top) for top in sys_path_trees):
        return (
            f"refusing to install: {helper.python} imports ssc from {helper.package_dir},"
            " outside its sys.path (an editable install?); install ssc into the venv itself,"
            " without -e"
        )
    return None


# --- The edge: the interpreter, the files, and the commands that reload ------------------------

Runner = Callable[[Sequence[str]], str | None]  # runs a command: None, or why it failed
Which = Callable[[str], str | None]  # shutil.which

_SYS_PATH_PROBE = "import sys, json; print(json.dumps(sys.path))"
_HELPER_PROBE = "import ssc.helper, sys; print(ssc.helper.__file__)"


def run_command(argv: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def probe(python: str, code: str, what: str) -> str:
    """What ``python -I -c code`` prints, run as the unit runs it (no environment, in /)."""
    try:
        done = subprocess.run(
            [python, "-I", "-c", code],
            capture_output=True,
            text=True,
            env={},
            cwd="/",
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SscError(f"cannot run {python}: {error}") from error
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise SscError(f"{python} -I cannot {what}: {why}")
    return done.stdout.strip()


def ask_helper_path(python: str) -> HelperPath:
    try:
        sys_path = json.loads(probe(python, _SYS_PATH_PROBE, "report its sys.path"))
    except json.JSONDecodeError as error:
        raise SscError(f"{python} -I reported no sys.path: {error}") from error
    if not isinstance(sys_path, list) or not all(isinstance(item, str) for item in sys_path):
        raise SscError(f"{python} -I reported no sys.path: {sys_path!r}")
    helper_file = probe(python, _HELPER_PROBE, "import ssc.helper")
    return HelperPath(python, tuple(sys_path), helper_file)


def bus_reload_argv(which: Which) -> list[str] | None:
    """How to ask the system bus to reload its configuration, with whichever tool exists."""
    busctl = which("busctl")
    if busctl:
        return [
            busctl,
            "--system",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "ReloadConfig",
        ]
    dbus_send = which("dbus-send")
    if dbus_send:
        return [
            dbus_send,
            "--system",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ReloadConfig",
        ]
    return None


def reload_system(run: Runner, which: Which) -> list[str]:
    """``systemctl daemon-reload`` and the bus's ``ReloadConfig``; the warnings, if they fail."""
    warnings = []
    failure = run(["systemctl", "daemon-reload"])
    if failure:
        warnings.append(f"systemctl daemon-reload failed: {failure}")
    argv = bus_reload_argv(which)
    if argv is None:
        warnings.append(
            "cannot ask the system bus to reload its configuration: neither busctl nor"
            " dbus-send is installed"
        )
    else:
        failure = run(argv)
        if failure:
            warnings.append(f"the system bus did not reload its configuration: {failure}")
    return warnings


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)  # for stdout
    warnings: list[str] = field(default_factory=list)  # for stderr, after "ssc-helper: warning: "
    last: str | None = None  # for stdout, after the warnings


def _make_dirs(directory: str) -> None:
    """Create ``directory`` and its missing parents, 0755 whatever the umask (the bus daemon
    and polkitd, which are not root, read them)."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)


def write_atomic(path: str, text: str) -> None:
    """Write ``path`` so that a crash leaves the old file or the new, never half: a temporary
    file in the same directory, flushed, then renamed over it. The temporary name ends in
    ``.tmp``, which none of the daemons watching these directories reads."""
    directory = os.path.dirname(path)
    _make_dirs(directory)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            if os.geteuid() == 0:
                os.fchown(stream.fileno(), 0, 0)
            os.fchmod(stream.fileno(), 0o644)
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):
        dir_handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_handle)
        finally:
            os.close(dir_handle)


def _read_marked(path: str) -> bool | None:
    """Whether the file at ``path`` carries the marker; None when there is no file."""
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as stream:
        return carries_marker("".join(stream.readline() for _ in range(3)))


def install(
    python: str,
    policy_source: str,
    *,
    root: str = "/",
    run: Runner = run_command,
    which: Which = shutil.which,
) -> Outcome:
    """Write the four files under ``root`` (tests give a temporary directory), then reload."""
    try:
        files = installed_files(python, policy_source)
    except ValueError as error:
        raise SscError(f"refusing to install: the interpreter's path {error}") from error
    outcome = Outcome()
    targets = {os.path.join(root, relative): text for relative, text in files.items()}
    for path in targets:
        try:
            marked = _read_marked(path)
        except OSError as error:
            raise SscError(f"cannot read {path}: {error.strerror}") from error
        if marked is False:
            raise SscError(
                f"refusing to install: {path} exists and was not written by ssc-helper"
                " install; move it away first"
            )
    for path, text in targets.items():
        try:
            write_atomic(path, text)
        except OSError as error:
            raise SscError(f"cannot write {path}: {error.strerror}") from error
        outcome.lines.append(f"Wrote {path}")
    outcome.warnings += reload_system(run, which)
    outcome.last = CHECK_HINT
    return outcome


def uninstall(
    *, root: str = "/", run: Runner = run_command, which: Which = shutil.which
) -> Outcome:
    """Stop the helper, remove the files ``install`` wrote (those with its marker), reload."""
    outcome = Outcome()
    if run(["systemctl", "is-active", "--quiet", UNIT_NAME]) is None:
        failure = run(["systemctl", "stop", UNIT_NAME])
        if failure:
            outcome.warnings.append(f"cannot stop {UNIT_NAME}: {failure}")
    for relative in INSTALLED:
        path = os.path.join(root, relative)
        try:
            marked = _read_marked(path)
            if marked:
                os.unlink(path)
        except OSError as error:
            raise SscError(f"cannot remove {path}: {error.strerror}") from error
        if marked:
            outcome.lines.append(f"Removed {path}")
        elif marked is False:
            outcome.warnings.append(
                f"left {path} in place: it was not written by ssc-helper install"
            )
    if not outcome.lines:
        outcome.lines.append("Nothing to remove: the helper's files are not installed")
    outcome.warnings += reload_system(run, which)
    return outcome


def _install_here() -> Outcome:
    python = sys.executable
    if not python or not os.path.isabs(python):
        raise SscError("cannot tell which interpreter runs ssc-helper (sys.executable is unset)")
    helper = ask_helper_path(python)
    fs = RealFileSystem()
    try:
        reason = refusal(helper, fs)
    except OSError as error:
        raise SscError(f"cannot check the helper's path: {error}") from error
    if reason:
        raise SscError(reason)
    policy = posixpath.join(posixpath.dirname(helper.helper_file), "data", POLICY_NAME)
    try:
        with open(policy, encoding="utf-8") as stream:
            policy_source = stream.read()
    except OSError as error:
        raise SscError(f"cannot read the polkit actions {policy}: {error.strerror}") from error
    return install(python, policy_source)


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Install or remove ssc's system helper (org.ssc.Helper1, a root service that holds"
            " an app's limits) for the Python environment ssc-helper runs in. Run as root."
        ),
    )
    commands = result.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "install",
        help="write the service unit, bus policy, bus activation file and polkit actions",
        description="Write the helper's service unit, system bus policy, bus activation file"
        " and polkit actions for this interpreter, then reload systemd and the system bus.",
    )
    commands.add_parser(
        "uninstall",
        help="stop the helper and remove the files install wrote",
        description="Stop the helper and remove exactly the files ssc-helper install wrote.",
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """``ssc-helper``: the one place its errors become a line on stderr and exit status 1."""
    args = parser().parse_args(argv)
    try:
        if os.geteuid() != 0:
            raise SscError(f"must be run as root: it writes to /etc and /usr ({args.command})")
        outcome = _install_here() if args.command == "install" else uninstall()
    except SscError as error:
        print(error.render(PROG), file=sys.stderr)
        return error.exit_code
    for line in outcome.lines:
        print(line)
    sys.stdout.flush()  # before the warnings, in the order things happened
    for warning in outcome.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if outcome.last:
        print(outcome.last)
    return 0
