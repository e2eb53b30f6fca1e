"""Strict isolation with bubblewrap: the app cannot lift its limits, nor leave /tmp or privilege.

A scope cannot carry sandbox settings (``PrivateTmp=``, ``NoNewPrivileges=`` are for services),
so the launcher applies them itself once its process is in the scope: it executes ``bwrap``,
which always sets ``PR_SET_NO_NEW_PRIVS``, with the whole filesystem as it is but for:

- ``/tmp``: the app's own, shared by its instances (``ssc.strict.app_tmp``), not the host's; it is
  also shown at its real path in ``$XDG_RUNTIME_DIR/ssc/apps/``, which ``TMPDIR`` names, and
  the rest of ssc's directory (the other apps' /tmp, their proxies' sockets) is hidden. What
  GUI programs need from the host's /tmp is bound back in: the X11 and ICE socket directories
  and an ``XAUTHORITY`` file kept there; and so is each file or directory under the host's
  /tmp, or another app's, that the command line names, by path or ``file://`` URI
  (``handed_paths``): a mail client saves an attachment there and hands its path to the
  viewer, as a launcher fills in ``%f`` or ``%u``;
- ``/sys/fs/cgroup`` read-only: with delegation the scope's own limit files belong to the user,
  and a process could write ``max`` into its ``memory.max`` or move itself into a cgroup of its
  own. A process without capabilities cannot remount it, and a nested user namespace inherits
  the mount locked read-only (mount_namespaces(7));
- ``$XDG_RUNTIME_DIR/systemd`` hidden under an empty tmpfs: its ``private`` socket is the user
  manager's own, unfiltered, and systemctl's first choice;
- the session bus socket ``$XDG_RUNTIME_DIR/bus`` replaced by the filtering proxy's
  (``ssc.strict.bus_proxy``), also named in ``DBUS_SESSION_BUS_ADDRESS``, so that a program that
  ignores the variable reaches the proxy too.

Wayland and PipeWire live in ``XDG_RUNTIME_DIR`` and stay reachable.

``bwrap_argv`` and ``handed_paths`` are pure; ``read_host`` and ``check_bwrap`` are the edge
that reads the host and proves, once per boot, that bwrap can create its namespaces here (user
namespaces may be disabled or restricted).
"""

from __future__ import annotations

import os

from ..cgroup import CGROUP_ROOT
from ..errors import SscError
from ..launcher.programs import resolve_command
from ..records import Record

TYPE_CHECKING = False  # mypy reads it as true; typing stays off the launch path (ssc.limits)
if TYPE_CHECKING:
    from .bus_proxy import ProxiedBus

# Sockets that X11 programs look for under /tmp.
TMP_SOCKET_DIRS = ("/tmp/.X11-unix", "/tmp/.ICE-unix")
HOST_TMP = "/tmp"
_RELAXED_HINT = "use --isolation=relaxed to run with limits only"


class SandboxHost(Record):
    """What the sandbox's command line depends on, read from the host by ``read_host``."""

    __slots__ = (
        "bus_socket_exists",
        "handed",
        "manager_dir_exists",
        "own_tmpdir",
        "runtime_dir",
        "socket_dirs",
        "terminal_injection_possible",
        "xauthority",
    )

    def __init__(
        self,
        socket_dirs: tuple[str, ...],
        xauthority: str | None,
        terminal_injection_possible: bool,
        runtime_dir: str | None = None,
        manager_dir_exists: bool = False,  # $XDG_RUNTIME_DIR/systemd
        bus_socket_exists: bool = False,  # $XDG_RUNTIME_DIR/bus
        handed: tuple[tuple[str, str], ...] = (),  # (what, where): hidden paths it names
        own_tmpdir: bool = False,  # the user's TMPDIR names a place the sandbox still shows
    ) -> None:
        self.socket_dirs = socket_dirs
        self.xauthority = xauthority
        self.terminal_injection_possible = terminal_injection_possible
        self.runtime_dir = runtime_dir
        self.manager_dir_exists = manager_dir_exists
        self.bus_socket_exists = bus_socket_exists
        self.handed = handed
        self.own_tmpdir = own_tmpdir


def bwrap_argv(
    bwrap: str, command: list[str], host: SandboxHost, app_tmp: str, bus: ProxiedBus | None = None
) -> list[str]:
    """The command line that runs ``command`` in the strict sandbox, with ``app_tmp`` as /tmp.

    The app's /tmp is also shown at its real path, which ``TMPDIR`` names, and nothing else of
    ssc's own directory is: a file the app saves in its temporary directory and hands to another
    program (a viewer, a D-Bus-activated app, the host) has a path that is the same outside.
    """
    argv = [bwrap, "--dev-bind", "/", "/", "--bind", app_tmp, HOST_TMP]
    if host.runtime_dir:
        argv += ["--tmpfs", ssc_dir(host.runtime_dir), "--bind", app_tmp, app_tmp]
    if not host.own_tmpdir:
        argv += ["--setenv", "TMPDIR", app_tmp]
    for directory in host.socket_dirs:
        argv += ["--bind", directory, directory]
    if host.xauthority:
        argv += ["--ro-bind", host.xauthority, host.xauthority]
    for source, destination in host.handed:
        argv += ["--bind", source, destination]
    argv += ["--ro-bind", CGROUP_ROOT, CGROUP_ROOT]
    if host.runtime_dir and host.manager_dir_exists:
        argv += ["--tmpfs", os.path.join(host.runtime_dir, "systemd")]
    if bus is not None:
        argv += _proxied_bus(host, bus)
    # Nothing may outlive the sandbox: if bwrap is killed, so is the program.
    argv.append("--die-with-parent")
    if host.terminal_injection_possible:
        # A new session keeps a sandboxed program from typing into the terminal with TIOCSTI
        # (CVE-2017-5226); kernels that refuse TIOCSTI (legacy_tiocsti=0) keep job control.
        argv.append("--new-session")
    return [*argv, "--", *command]


def ssc_dir(runtime_dir: str) -> str:
    """ssc's own directory of ``$XDG_RUNTIME_DIR``: every app's /tmp, the proxies' sockets."""
    return os.path.join(runtime_dir, "ssc")


def _proxied_bus(host: SandboxHost, bus: ProxiedBus) -> list[str]:
    """The proxy's socket where the session bus was, and the sync descriptor that ties it."""
    path = bus.socket
    if host.runtime_dir and host.bus_socket_exists:
        path = os.path.join(host.runtime_dir, "bus")
    return [
        *("--bind", bus.socket, path),  # where it is, ssc's directory is hidden
        *("--setenv", "DBUS_SESSION_BUS_ADDRESS", f"unix:path={path}"),
        *("--sync-fd", str(bus.sync_fd)),
    ]


def hidden_roots(runtime_dir: str | None) -> tuple[str, ...]:
    """The directories the sandbox shows only in part: the host's /tmp and ssc's own."""
    return (HOST_TMP,) if not runtime_dir else (HOST_TMP, ssc_dir(runtime_dir))


def handed_paths(arguments: list[str], roots: tuple[str, ...] = (HOST_TMP,)) -> list[str]:
    """The hidden paths that ``arguments`` name: below one of ``roots`` (the host's /tmp, or
    another app's temporary directory), as an absolute path or a local ``file://`` URI
    (RFC 8089; what a launcher's ``%u``/``%U`` gives), normalised.

    A root itself is never among them (the host's whole /tmp stays apart), nor is what lies in
    the X11 and ICE socket directories (bound in already).
    """
    found: list[str] = []
    for argument in arguments:
        path = _path_of_uri(argument) if argument.startswith("file:") else argument
        if path is None or not path.startswith("/"):
            continue
        path = os.path.normpath(path)
        if not any(path.startswith(root + "/") for root in roots) or path in found:
            continue
        if any(path == d or path.startswith(d + "/") for d in TMP_SOCKET_DIRS):
            continue
        found.append(path)
    return found


def _path_of_uri(uri: str) -> str | None:
    """The local path a ``file:`` URI names (``file:///p``, ``file://localhost/p``), or None."""
    rest = uri.removeprefix("file:")
    if rest.startswith("//"):
        rest = rest[2:]
        if rest.startswith("localhost/"):
            rest = rest.removeprefix("localhost")
        elif not rest.startswith("/"):
            return None  # another host's file
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    if "%" in rest:
        from urllib.parse import unquote  # only then: it costs the launch a regex module

        rest = unquote(rest, errors="surrogateescape")
    return rest if rest.startswith("/") and "\0" not in rest else None


def _bindable(path: str, roots: tuple[str, ...]) -> tuple[str, str] | None:
    """``(what, where)`` for a handed path that exists: what it really is, bound where it was
    named; None if it is missing, or if what it resolves to would show a hidden root whole."""
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return None
    if any(os.path.commonpath([real, root]) == real for root in roots):
        return None  # a root itself, or a directory above it (a symlink to / under /tmp)
    return real, path


def read_host(
    environ: dict[str, str], runtime_dir: str | None = None, arguments: list[str] | None = None
) -> SandboxHost:
    """What the sandbox needs to know of this host, and of the files ``arguments`` hand over."""
    socket_dirs = tuple(d for d in TMP_SOCKET_DIRS if os.path.isdir(d))
    roots = hidden_roots(runtime_dir)
    handed = tuple(
        bind
        for bind in (_bindable(path, roots) for path in handed_paths(arguments or [], roots))
        if bind is not None
    )
    xauthority = environ.get("XAUTHORITY", "")
    under_tmp = os.path.normpath(xauthority).startswith("/tmp/")  # elsewhere it stays visible
    tmpdir = os.path.normpath(environ.get("TMPDIR") or HOST_TMP)
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti") as f:
            injection = f.read().strip() != "0"
    except OSError:
        injection = True  # kernels before 6.2 always allow TIOCSTI
    return SandboxHost(
        socket_dirs,
        xauthority if under_tmp else None,
        injection,
        runtime_dir,
        bool(runtime_dir) and os.path.isdir(os.path.join(runtime_dir or "", "systemd")),
        bool(runtime_dir) and os.path.exists(os.path.join(runtime_dir or "", "bus")),
        handed,
        not any(os.path.commonpath([tmpdir, root]) == root for root in roots),
    )


def check_bwrap(runtime_dir: str | None, search_path: str | None = None) -> str:
    """The path of a bwrap that works here, or an error saying why strict cannot run.

    Proving it works means starting a sandbox, which costs tens of milliseconds, so the
    answer is remembered in ``$XDG_RUNTIME_DIR`` (gone at logout and reboot) per bwrap binary.
    """
    try:
        path = os.environ.get("PATH", os.defpath) if search_path is None else search_path
        bwrap = resolve_command("bwrap", path)
    except SscError:
        raise SscError(
            "strict isolation needs bubblewrap (bwrap), which is not installed",
            hint=f"install it (Debian/Ubuntu/Fedora: package bubblewrap), or {_RELAXED_HINT}",
        ) from None
    stat = os.stat(bwrap)
    marker = None
    if runtime_dir:
        marker = os.path.join(runtime_dir, "ssc", f"bwrap-ok-{stat.st_ino}-{int(stat.st_mtime)}")
        if os.path.exists(marker):
            return bwrap
    import subprocess  # only here: the probe runs once per boot, not on every launch

    probe = subprocess.run(
        [bwrap, "--dev-bind", "/", "/", "--tmpfs", "/tmp", "--", "true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        raise SscError(
            f"strict isolation is not possible here: bubblewrap failed: {reason}",
            hint=f"unprivileged user namespaces may be disabled; {_RELAXED_HINT}",
        )
    if marker is not None:
        try:
            os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
            with open(marker, "w"):
                pass
        except OSError:
            pass  # only a cache: the next launch probes again
    return bwrap
