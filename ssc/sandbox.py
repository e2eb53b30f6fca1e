"""Strict isolation with bubblewrap: the app cannot lift its limits, nor leave /tmp or privilege.

A scope cannot carry sandbox settings (``PrivateTmp=``, ``NoNewPrivileges=`` are for services),
so the launcher applies them itself once its process is in the scope: it executes ``bwrap``,
which always sets ``PR_SET_NO_NEW_PRIVS``, with the whole filesystem as it is but for:

- a fresh tmpfs on ``/tmp``; what GUI programs need from there is bound back in: the X11 and
  ICE socket directories and an ``XAUTHORITY`` file kept there;
- ``/sys/fs/cgroup`` read-only: with delegation the scope's own limit files belong to the user,
  and a process could write ``max`` into its ``memory.max`` or move itself into a cgroup of its
  own. A process without capabilities cannot remount it, and a nested user namespace inherits
  the mount locked read-only (mount_namespaces(7));
- ``$XDG_RUNTIME_DIR/systemd`` hidden under an empty tmpfs: its ``private`` socket is the user
  manager's own, unfiltered, and systemctl's first choice;
- the session bus socket ``$XDG_RUNTIME_DIR/bus`` replaced by the filtering proxy's
  (``ssc.busproxy``), also named in ``DBUS_SESSION_BUS_ADDRESS``, so that a program that ignores
  the variable reaches the proxy too.

Wayland and PipeWire live in ``XDG_RUNTIME_DIR`` and stay reachable.

``bwrap_argv`` is pure; ``read_host`` and ``check_bwrap`` are the edge that reads the host and
proves, once per boot, that bwrap can create its namespaces here (user namespaces may be
disabled or restricted).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from .busproxy import ProxiedBus
from .cgroup import CGROUP_ROOT
from .errors import SscError
from .programs import resolve_command

# Sockets that X11 programs look for under /tmp.
TMP_SOCKET_DIRS = ("/tmp/.X11-unix", "/tmp/.ICE-unix")
_RELAXED_HINT = "use --isolation=relaxed to run with limits only"


class SandboxHost(NamedTuple):
    """What the sandbox's command line depends on, read from the host by ``read_host``."""

    socket_dirs: tuple[str, ...]
    xauthority: str | None
    terminal_injection_possible: bool
    runtime_dir: str | None = None
    manager_dir_exists: bool = False  # $XDG_RUNTIME_DIR/systemd
    bus_socket_exists: bool = False  # $XDG_RUNTIME_DIR/bus


def bwrap_argv(
    bwrap: str, command: list[str], host: SandboxHost, bus: ProxiedBus | None = None
) -> list[str]:
    """The command line that runs ``command`` in the strict sandbox."""
    argv = [bwrap, "--dev-bind", "/", "/", "--tmpfs", "/tmp"]
    for directory in host.socket_dirs:
        argv += ["--bind", directory, directory]
    if host.xauthority:
        argv += ["--ro-bind", host.xauthority, host.xauthority]
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


def _proxied_bus(host: SandboxHost, bus: ProxiedBus) -> list[str]:
    """The proxy's socket where the session bus was, and the sync descriptor that ties it."""
    path = bus.socket
    argv = []
    if host.runtime_dir and host.bus_socket_exists:
        path = os.path.join(host.runtime_dir, "bus")
        argv += ["--bind", bus.socket, path]
    return [
        *argv,
        *("--setenv", "DBUS_SESSION_BUS_ADDRESS", f"unix:path={path}"),
        *("--sync-fd", str(bus.sync_fd)),
    ]


def read_host(environ: dict[str, str], runtime_dir: str | None = None) -> SandboxHost:
    socket_dirs = tuple(d for d in TMP_SOCKET_DIRS if os.path.isdir(d))
    xauthority = environ.get("XAUTHORITY", "")
    under_tmp = os.path.normpath(xauthority).startswith("/tmp/")  # elsewhere it stays visible
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
    )


def check_bwrap(runtime_dir: str | None) -> str:
    """The path of a bwrap that works here, or an error saying why strict cannot run.

    Proving it works means starting a sandbox, which costs tens of milliseconds, so the
    answer is remembered in ``$XDG_RUNTIME_DIR`` (gone at logout and reboot) per bwrap binary.
    """
    try:
        bwrap = resolve_command("bwrap", os.environ.get("PATH", os.defpath))
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
