"""The supervisor's rules, as a table: which received signals go on to the app, and its exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from ssc.supervise import FORWARDED, SI_KERNEL, should_forward

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
from ssc.supervise import mirror_exit
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
    script = MIRROR.format(child=f"os.kill(os.getpid(), {int(signum)})")
    result = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert result.returncode == -signum
