"""The supervisor: the process a desktop launcher knows stays outside the app's scope.

GNOME Shell, VTE terminals and KDE move the PID they spawned into a scope of their own, late,
and unchecked (``StartTransientUnit`` with ``PIDs=[pid]``); a cgroup move takes that one process
and never its children. So that PID must be neither the app nor a process that forks the app
later: ssc forks before it asks for its scope, the child joins the scope and becomes the app,
and the parent — the PID the launcher knows — stays where it is and only relays, as tini does
(``krallin/tini``, ``src/tini.c``):

- a signal that a process sends (``kill(2)``: ``si_code`` is not ``SI_KERNEL``) is forwarded to
  the app: TERM, HUP, INT, QUIT, USR1, USR2, WINCH, ALRM;
- a signal the terminal sends (Ctrl-C, Ctrl-\\, a resize: ``SI_KERNEL``) is not: the kernel
  delivers it to the whole foreground process group, which holds the app already. The one
  exception is a hang-up, which the kernel sends to the session leader alone
  (``tty_signal_session_leader``), so a supervisor that leads its session passes it on;
- job control keeps the kernel's defaults: Ctrl-Z stops the supervisor together with the app
  (both are in the foreground group), so the shell that started them sees the job stop, and
  ``fg`` continues both;
- the app's exit is mirrored: its exit status, or the same signal raised again.

Under strict the child is bwrap, which does not pass signals on (one would end the sandbox,
and ``--die-with-parent`` would then SIGKILL the program), so a forwarded signal goes to the
program bwrap runs, its only child.

It imports nothing beyond ``os``, ``signal``, ``sys`` and ssc's error record: it lives as long as
the app, and costs what it holds (see ``bench/launch.py``).
"""

from __future__ import annotations

import os
import sys

from ..errors import SscError

# Annotations only: importing typing or collections.abc costs the launch path more than it
# does (see ssc.limits). mypy reads TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import NoReturn
else:
    # The C module that signal wraps: the same functions and numbers, without signal's enum
    # import (signal.Signals), which costs the launch path more than the supervisor's work.
    import _signal as signal

FORWARDED = frozenset(
    {
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGTERM,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
        signal.SIGALRM,
    }
)
SI_KERNEL = (
    0x80  # si_code of a signal the kernel raised itself (include/uapi/asm-generic/siginfo.h)
)
PR_SET_PDEATHSIG = 1
# Signals whose default action dumps core: the app's dump is enough, the supervisor makes none.
_DUMPS_CORE = frozenset(
    {
        signal.SIGQUIT,
        signal.SIGILL,
        signal.SIGTRAP,
        signal.SIGABRT,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGSEGV,
        signal.SIGSYS,
        signal.SIGXCPU,
        signal.SIGXFSZ,
    }
)


def should_forward(signum: int, si_code: int, leads_session: bool) -> bool:
    """Whether a signal the supervisor received is passed on to the app (see the module doc)."""
    if signum not in FORWARDED:
        return False
    if si_code != SI_KERNEL:
        return True  # sent by a process: the caller means the app
    return signum == signal.SIGHUP and leads_session


def split(on_exit: Callable[[], None] | None = None) -> None:
    """Fork. Returns in the child, which goes on to become the app; the parent never returns.

    The watched signals are blocked before the fork, so none is lost between the fork and the
    supervisor's first wait; the child unblocks them at once and keeps the caller's mask.
    ``on_exit`` runs in the supervisor once the app has exited, before it mirrors that exit;
    it must not fail.
    """
    watched = FORWARDED | {signal.SIGCHLD}
    caller_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    sys.stdout.flush()
    sys.stderr.flush()
    supervisor = os.getpid()
    try:
        child = os.fork()
    except OSError as error:
        signal.pthread_sigmask(signal.SIG_SETMASK, caller_mask)
        raise SscError(f"Failed to start the app's process: {error.strerror}") from error
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, caller_mask)
        _die_with(supervisor)
        return
    _release_standard_streams()
    supervise(child, watched, on_exit)


def supervise(
    child: int, watched: frozenset[int], on_exit: Callable[[], None] | None = None
) -> NoReturn:
    """Relay signals to ``child`` until it exits, then exit as it did."""
    leads_session = os.getsid(0) == os.getpid()
    while True:
        info = signal.sigwaitinfo(watched)
        if info.si_signo == signal.SIGCHLD:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid == child:
                if on_exit is not None:
                    on_exit()
                mirror_exit(status)
        elif should_forward(info.si_signo, info.si_code, leads_session):
            forward(child, info.si_signo)


def forward(child: int, signum: int) -> None:
    """Send ``signum`` to the app: the child, or the program in it when the child is bwrap."""
    program = _sandboxed_program(child)
    if program is not None:
        try:
            signal.pidfd_send_signal(program, signum)
            return
        except OSError:
            pass  # it is gone: bwrap, still there, is told instead
        finally:
            os.close(program)
    os.kill(child, signum)  # not reaped yet, so the PID cannot have been reused


def _sandboxed_program(child: int) -> int | None:
    """A pidfd of the program bwrap runs, when ``child`` is bwrap; else None.

    bwrap forks once more inside its namespaces, so the program sits below a chain of bwrap
    processes, each with one child. They are told apart by ``comm``, which (unlike ``exe``)
    can be read across bwrap's user namespace.
    """
    parent, pid = None, child
    for _ in range(4):
        if _comm(pid) != "bwrap":
            break
        children = _children(pid)
        if len(children) != 1:
            return None
        parent, pid = pid, children[0]
    else:
        return None
    if parent is None:
        return None  # the child is not bwrap: it is the app itself
    try:
        program = os.pidfd_open(pid)
    except OSError:
        return None
    if _parent_of(pid) != parent:  # the PID was read before the pidfd: is it still the same?
        os.close(program)
        return None
    return program


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(word) for word in f.read().split()]
    except (OSError, ValueError):
        return []


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def mirror_exit(status: int) -> NoReturn:
    """Exit with the child's status, or die of the signal that killed it."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum in _DUMPS_CORE:
            import resource  # only on this path: a C module, and cheap

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # only if the signal did not end this process
    os._exit(os.waitstatus_to_exitcode(status))


def _release_standard_streams() -> None:
    """Let go of stdin, stdout and stderr, so that the app alone holds them.

    A reader of the app's output sees end-of-file when the app closes it, not when the
    supervisor exits, as if the app had been started directly. The controlling terminal stays
    the session's whatever descriptors are open, so hang-ups still reach the supervisor.
    """
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def _die_with(supervisor: int) -> None:
    """Have the kernel kill this process (and so the app it becomes) if the supervisor dies.

    Only SIGKILL ends the supervisor before the app (every other signal is relayed), and a
    caller that SIGKILLs the PID it started means the app, as it would without ssc.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor:  # it died before the request took effect
        os._exit(128 + signal.SIGKILL)


def _prctl(option: int, argument: int) -> None:
    """``prctl(option, argument, 0, 0, 0)``, which Python's ``os`` lacks, through libc.

    Through ``_ctypes``, the C module under ``ctypes``, where it offers the call: importing
    ``ctypes`` itself costs the launch path tens of milliseconds under emulation (the test
    bed's ``-X importtime``). Only the child calls it; the supervisor never loads either.
    """
    import _ctypes

    call = getattr(_ctypes, "call_function", None)
    if call is not None:
        libc = _ctypes.dlopen(None)  # type: ignore[arg-type]  # dlopen(NULL): this process
        call(_ctypes.dlsym(libc, "prctl"), (option, argument, 0, 0, 0))
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, argument, 0, 0, 0)
