"""The supervisor's rules, as a table: which received signals go on to the app, and its exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ssc.errors import SscError
from ssc.launcher.supervise import FORWARDED, SI_KERNEL, forward, should_forward, split

SI_USER, SI_QUEUE, SI_TKILL = 0, -1, -6


@pytest.mark.parametrize("signum", sorted(FORWARDED))
@pytest.mark.parametrize("si_code", [SI_USER, SI_QUEUE, SI_TKILL])
@pytest.mark.parametrize("leads_session", [True, False])
def test_a_signal_a_process_sends_is_forwarded(
    signum: int, si_code: int, leads_session: bool
) -> None:
    assert should_forward(signum, si_code, leads_session)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH, signal.SIGTERM, signal.SIGUSR1]
)
@pytest.mark.parametrize("leads_session", [True, False])
def test_a_signal_the_terminal_sends_is_not_forwarded_it_reached_the_app_already(
    signum: int, leads_session: bool
) -> None:
    assert not should_forward(signum, SI_KERNEL, leads_session)


def test_a_hang_up_reaches_the_app_through_a_supervisor_that_leads_the_session() -> None:
    """The kernel sends a terminal's hang-up to the session leader alone."""
    assert should_forward(signal.SIGHUP, SI_KERNEL, leads_session=True)


def test_a_hang_up_the_kernel_sends_to_the_foreground_group_is_not_sent_twice() -> None:
    assert not should_forward(signal.SIGHUP, SI_KERNEL, leads_session=False)


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCONT, signal.SIGCHLD],
)
def test_job_control_keeps_the_kernels_defaults(signum: int) -> None:
    assert not should_forward(signum, SI_USER, leads_session=True)


MIRROR = """
import os, signal, sys
from ssc.launcher.supervise import mirror_exit
pid = os.fork()
if pid == 0:
    {child}
_, status = os.waitpid(pid, 0)
mirror_exit(status)
"""


@pytest.mark.parametrize("code", [0, 1, 42, 127, 255])
def test_the_childs_exit_status_is_mirrored(code: int) -> None:
    script = MIRROR.format(child=f"os._exit({code})")
    assert subprocess.run([sys.executable, "-c", script]).returncode == code


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSEGV])
def test_the_signal_that_killed_the_child_is_raised_again(signum: int) -> None:
    # The child takes the default action first: a test run started in the background (without
    # job control) inherits SIGINT ignored, and SIGKILL's action cannot be set.
    reset = "" if signum == signal.SIGKILL else f"signal.signal({int(signum)}, signal.SIG_DFL); "
    script = MIRROR.format(child=f"{reset}os.kill(os.getpid(), {int(signum)})")
    result = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert result.returncode == -signum


def test_a_fork_that_fails_is_a_clear_error_and_the_signal_mask_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    with pytest.raises(SscError, match="Failed to start the app's process: Resource"):
        split()
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before


def _wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_signal_for_a_sandboxed_app_goes_to_the_program_below_bwraps_processes(
    tmp_path: Path,
) -> None:
    """As under strict: bwrap, bwrap's own child inside its namespaces, then the program."""
    fake = tmp_path / "bwrap"
    fake.symlink_to("/bin/sh")  # its processes are named "bwrap", as bwrap's are
    # bwrap → bwrap → sleep; the trailing ':' keeps each sh from exec-ing its last command.
    outer = subprocess.Popen([str(fake), "-c", f"{fake} -c 'sleep 60; :'; :"])
    try:
        _wait_for(lambda: _program_below(outer.pid) is not None)
        program = _program_below(outer.pid)
        assert program is not None
        forward(outer.pid, signal.SIGTERM)
        _wait_for(lambda: not Path(f"/proc/{program}").exists() or _is_zombie(program))
        assert outer.wait(timeout=30) == 0  # the bwraps lived on and exited of their own
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(outer.pid)], check=False)
        outer.kill()
        outer.wait()


def test_a_signal_for_an_app_that_is_not_sandboxed_goes_to_the_app() -> None:
    app = subprocess.Popen(["sleep", "60"])
    forward(app.pid, signal.SIGTERM)
    assert app.wait(timeout=30) == -signal.SIGTERM


def _program_below(pid: int) -> int | None:
    """The PID of the sleep at the bottom of the chain, once it is there."""
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for grandchild in Path(f"/proc/{child}/task/{child}/children").read_text().split():
            if Path(f"/proc/{grandchild}/comm").read_text().strip() == "sleep":
                return int(grandchild)
    return None


def _is_zombie(pid: int) -> bool:
    """A zombie, or gone meanwhile (reaped between the caller's look and this one)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
