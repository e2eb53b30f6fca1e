"""A desktop launcher that moves the PID it spawned, late, cannot take the app out of its scope.

The stand-ins make the very call GNOME Shell and VTE make (``standins/launchers.py``), at
delays from "before ssc has even started Python" to "long after the app runs". Whatever the
delay, the app must be in its ``app-ssc-*`` scope and a page-touching allocation over its
ceiling must be killed there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import own_scope_of, page_touching
from .standins.launchers import gnome_scope, move_pid, vte_scope

pytestmark = pytest.mark.integration

SSC_SCOPE = re.compile(r"/app\.slice/app-ssc\.slice/app-ssc-[^/]+-[0-9]+\.scope$")
# relaxed: ssc's exit is the app's death by SIGKILL; strict: bwrap, the app's parent, reports
# its child's death by a signal as the exit status 128 + N.
KILLED = {"relaxed": -signal.SIGKILL, "strict": 128 + signal.SIGKILL}

# Reports where it runs, waits for the test's go, then touches 640 MB (ten times its ceiling).
APP = textwrap.dedent("""
    import os, sys
    def cgroup():
        return open("/proc/self/cgroup").read().split("::", 1)[1].strip()
    print("ready", os.getpid(), cgroup(), flush=True)
    sys.stdin.readline()
    print("moved?", cgroup(), flush=True)
""") + page_touching(640)


def start_app(isolation: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ssc", f"--isolation={isolation}", "--memory=64M", "--", sys.executable, "-c", APP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish_app(launched: subprocess.Popen[str]) -> tuple[str, str, int]:
    """Let the app report its cgroup after the move, then allocate; return what it said."""
    assert launched.stdin is not None
    assert launched.stdout is not None
    ready = launched.stdout.readline().split()
    assert ready[:1] == ["ready"], ready
    launched.stdin.write("go\n")
    launched.stdin.flush()
    rest = launched.stdout.read()
    status = launched.wait(timeout=300)
    moved = next(line for line in rest.splitlines() if line.startswith("moved? ")).split()[1]
    return moved, rest, status


@pytest.mark.parametrize("isolation", ["relaxed", "strict"])
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0, 3.0])
def test_a_gnome_shell_move_of_the_launched_pid_at_any_delay_leaves_the_app_held(
    user_manager: str, isolation: str, delay: float
) -> None:
    launched = start_app(isolation)
    try:
        time.sleep(delay)
        launcher_scope = gnome_scope("fake", launched.pid)
        move_pid(launcher_scope, launched.pid)
        moved, rest, status = finish_app(launched)
    finally:
        launched.kill()
        launched.wait()
    assert SSC_SCOPE.search(moved), f"the launcher's move took the app out: {moved}"
    assert "survived" not in rest
    assert status == KILLED[isolation], rest


@pytest.mark.parametrize("isolation", ["relaxed", "strict"])
def test_a_vte_move_right_after_exec_leaves_the_app_held(user_manager: str, isolation: str) -> None:
    launched = start_app(isolation)
    try:
        move_pid(vte_scope(), launched.pid)
        moved, rest, status = finish_app(launched)
    finally:
        launched.kill()
        launched.wait()
    assert SSC_SCOPE.search(moved), moved
    assert "survived" not in rest
    assert status == KILLED[isolation], rest


def test_a_supervisor_moved_late_is_alone_in_the_launchers_scope(user_manager: str) -> None:
    """The launcher's scope holds the PID it knows (the supervisor), never the app."""
    launched = start_app("relaxed")
    try:
        assert launched.stdout is not None
        app_pid = int(launched.stdout.readline().split()[1])
        launcher_scope = gnome_scope("fake", launched.pid)
        move_pid(launcher_scope, launched.pid)
        assert app_pid != launched.pid
        assert SSC_SCOPE.search(own_scope_of(app_pid))
        procs = Path(f"/sys/fs/cgroup{own_scope_of(launched.pid)}/cgroup.procs")
        assert procs.read_text().split() == [str(launched.pid)]
    finally:
        launched.kill()
        launched.wait()


def test_where_the_launchers_move_is_done_ssc_becomes_the_app_in_place(user_manager: str) -> None:
    """In a terminal's spawn scope that it was moved into (as Ptyxis does it: ``systemd-run
    --scope`` before exec), ssc is the shell itself: a tab keeps its shell as direct child."""
    unit = vte_scope()
    launched = subprocess.Popen(
        [
            *("systemd-run", "--user", "--scope", "--quiet", "--collect", f"--unit={unit}"),
            *("ssc", "--isolation=relaxed", "sh", "-c", "echo $$; cat /proc/$$/cgroup"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = launched.communicate(timeout=120)
    assert launched.returncode == 0
    pid, cgroup = out.split()
    assert int(pid) == launched.pid
    assert SSC_SCOPE.search(cgroup.split("::", 1)[1]), cgroup


def test_anywhere_else_the_pid_the_caller_knows_stays_outside_as_the_apps_parent(
    user_manager: str,
) -> None:
    launched = subprocess.Popen(
        ["ssc", "--isolation=relaxed", "sh", "-c", "echo $$ $PPID; read _; exit 0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launched.stdout is not None
    assert launched.stdin is not None
    try:
        app, parent = (int(word) for word in launched.stdout.readline().split())
        assert parent == launched.pid != app
        assert own_scope_of(launched.pid) == own_scope_of(os.getpid())
        assert SSC_SCOPE.search(own_scope_of(app))
    finally:
        launched.stdin.close()
        assert launched.wait(timeout=60) == 0
