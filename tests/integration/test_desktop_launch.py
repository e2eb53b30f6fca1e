"""Contained launchers in a real session: GLib's launcher starts the program in ssc's scope.

``gio launch`` and ``gio open`` use GLib's GDesktopAppInfo, as GNOME Shell does: they read the
contained entry, expand its field codes and run its Exec. The program must then run in
``app-ssc-<escaped desktop ID>-<random>.scope`` with the profile's memory ceiling.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import CGROUP_ROOT, own_scope_of, require, xvfb

pytestmark = pytest.mark.integration

XTERM_ID = "debian-xterm"  # Debian's xterm package names its entry so
SCOPE = r"/app\.slice/app-ssc\.slice/app-ssc-{escaped}-[0-9]{{20}}\.scope"


@pytest.fixture
def display() -> Iterator[str]:
    """A private Xvfb server (no access control), for X clients started by the launcher."""
    with xvfb(str(80 + os.getpid() % 9), "-ac") as name:
        yield name


@pytest.fixture
def session_env(tmp_path: Path, display: str) -> dict[str, str]:
    """The environment of a desktop session whose own data directory is in tmp_path."""
    return {
        **os.environ,
        "DISPLAY": display,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_DIRS": os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share",
    }


def sscctl(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(["sscctl", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def processes_named(name: str, needle: str = "") -> set[int]:
    """This user's processes called ``name`` whose command line holds ``needle``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if comm == name and needle in cmdline:
            found.add(int(entry.name))
    return found


def wait_for_process(name: str, needle: str, existing: set[int] | None = None) -> int:
    """The PID of a new process called ``name`` with ``needle`` in its command line."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = processes_named(name, needle) - (existing or set())
        if new:
            return min(new)
        time.sleep(0.2)
    raise AssertionError(f"no {name} process with {needle!r} in its command line appeared")


def stop(pid: int) -> None:
    """Terminate the process and wait until it is gone (it is not our child)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def memory_max(scope: str) -> int:
    text = (CGROUP_ROOT / scope.lstrip("/") / "memory.max").read_text().strip()
    assert text != "max", f"{scope} has no memory ceiling"
    return int(text)


def physical_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def test_gio_launch_of_a_contained_xterm_runs_it_in_its_scope_with_the_memory_ceiling(
    session_env: dict[str, str], tmp_path: Path
) -> None:
    require("gio")
    require("xterm")
    source = Path("/usr/share/applications") / f"{XTERM_ID}.desktop"
    assert source.is_file(), f"the test bed has no {source}"
    sscctl(session_env, "desktop", "install", "--isolation=relaxed", XTERM_ID)
    entry = tmp_path / "data" / "applications" / f"{XTERM_ID}.desktop"
    assert "X-SSC-Profile=relaxed" in entry.read_text()

    running = processes_named("xterm")
    subprocess.run(["gio", "launch", str(entry)], env=session_env, check=True, timeout=120)
    pid = wait_for_process("xterm", "xterm", running)
    try:
        scope = own_scope_of(pid)
        assert re.search(SCOPE.format(escaped=r"debian\\x2dxterm") + "$", scope), scope
        ceiling = memory_max(scope)
        # relaxed: MemoryMax=70% of RAM, which systemd turns into bytes
        assert 0.65 * physical_memory() < ceiling < 0.75 * physical_memory()
    finally:
        stop(pid)


def test_an_entry_found_by_id_is_the_contained_one_for_glibs_mime_lookup(
    session_env: dict[str, str], tmp_path: Path
) -> None:
    """``gio open`` finds the handler of a URL scheme as GNOME does for links and files: in the
    ``mimeinfo.cache`` files along XDG_DATA_DIRS, by desktop ID, then the first file with that
    ID. The contained entry, written flat as ``sub-probe.desktop``, must shadow the system's
    ``sub/probe.desktop``, and %u must reach the program through ssc. Removing it must give
    the association back to the system's entry."""
    require("gio")
    require("xmessage")
    system = tmp_path / "system"
    probe = system / "applications" / "sub" / "probe.desktop"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "[Desktop Entry]\nType=Application\nName=ssc probe\nNoDisplay=true\n"
        "Exec=xmessage -name ssc-probe %u\nMimeType=x-scheme-handler/x-ssc-probe;\n"
    )
    # what the package manager's trigger does for a system directory
    subprocess.run([require("update-desktop-database"), str(probe.parent.parent)], check=True)
    env = {**session_env, "XDG_DATA_DIRS": f"{system}:{session_env['XDG_DATA_DIRS']}"}
    sscctl(env, "desktop", "install", "--isolation=relaxed", "sub-probe")
    applications = tmp_path / "data" / "applications"
    assert (applications / "sub-probe.desktop").is_file()
    # GLib masks the system's association with the user's file of the same ID: the user's own
    # cache must list the contained entry, or the scheme would have no handler at all
    assert "x-scheme-handler/x-ssc-probe=sub-probe.desktop;" in (
        (applications / "mimeinfo.cache").read_text()
    )

    uri = f"x-ssc-probe:{os.getpid()}"
    subprocess.run(["gio", "open", uri], env=env, check=True, timeout=120)
    pid = wait_for_process("xmessage", uri)
    try:
        scope = own_scope_of(pid)
        assert re.search(SCOPE.format(escaped=r"sub\\x2dprobe") + "$", scope), scope
        memory_max(scope)
    finally:
        stop(pid)

    sscctl(env, "desktop", "remove", "sub-probe")
    subprocess.run(["gio", "open", uri], env=env, check=True, timeout=120)
    pid = wait_for_process("xmessage", uri)
    try:
        assert "app-ssc-" not in own_scope_of(pid), "the system's entry ran through ssc"
    finally:
        stop(pid)
