"""Strict isolation with bubblewrap: a private ``/tmp`` and no new privileges.

A scope cannot carry sandbox settings (``PrivateTmp=``, ``NoNewPrivileges=`` are for services),
so the launcher applies them itself once its process is in the scope: it executes ``bwrap``,
which always sets ``PR_SET_NO_NEW_PRIVS``, with the whole filesystem as it is but a fresh tmpfs
on ``/tmp``. What GUI programs need from ``/tmp`` is bound back in: the X11 and ICE socket
directories and an ``XAUTHORITY`` file kept there. Wayland, PipeWire and the session bus live
in ``XDG_RUNTIME_DIR``, which is untouched.

``bwrap_argv`` is pure; ``check_bwrap`` is the edge that finds bwrap and proves, once per boot,
that it can create its namespaces here (user namespaces may be disabled or restricted).
"""

from __future__ import annotations

import os
from typing import NamedTuple

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


def bwrap_argv(bwrap: str, command: list[str], host: SandboxHost) -> list[str]:
    """The command line that runs ``command`` in the strict sandbox."""
    argv = [bwrap, "--dev-bind", "/", "/", "--tmpfs", "/tmp"]
    for directory in host.socket_dirs:
        argv += ["--bind", directory, directory]
    if host.xauthority:
        argv += ["--ro-bind", host.xauthority, host.xauthority]
    # Nothing may outlive the sandbox: if bwrap is killed, so is the program.
    argv.append("--die-with-parent")
    if host.terminal_injection_possible:
        # A new session keeps a sandboxed program from typing into the terminal with TIOCSTI
        # (CVE-2017-5226); kernels that refuse TIOCSTI (legacy_tiocsti=0) keep job control.
        argv.append("--new-session")
    return [*argv, "--", *command]


def read_host(environ: dict[str, str]) -> SandboxHost:
    socket_dirs = tuple(d for d in TMP_SOCKET_DIRS if os.path.isdir(d))
    xauthority = environ.get("XAUTHORITY", "")
    under_tmp = os.path.normpath(xauthority).startswith("/tmp/")  # elsewhere it stays visible
    try:
        with open("/proc/sys/dev/tty/legacy_tiocsti") as f:
            injection = f.read().strip() != "0"
    except OSError:
        injection = True  # kernels before 6.2 always allow TIOCSTI
    return SandboxHost(socket_dirs, xauthority if under_tmp else None, injection)


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
