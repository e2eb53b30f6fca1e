"""The launched program is the process the user started: its own scope, env, cwd, signals, tty."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import ssc_units
from .standins.launchers import move_pid, vte_scope

pytestmark = pytest.mark.integration

SCOPE = re.compile(
    r"/app\.slice/app-ssc\.slice/app-ssc-(?P<id>[^/]+)-(?P<random>[0-9]{20})\.scope$"
)


def run(*argv: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **options)  # type: ignore[call-overload,no-any-return]


@pytest.mark.parametrize("isolation", ["strict", "relaxed"])
def test_program_runs_in_its_own_app_scope_named_after_it(
    user_manager: str, isolation: str
) -> None:
    result = run("ssc", f"--isolation={isolation}", "cat", "/proc/self/cgroup")
    assert result.returncode == 0, result.stderr
    match = SCOPE.search(result.stdout.strip())
    assert match, result.stdout
    assert match["id"] == "cat"


def test_name_option_names_the_scope_with_dashes_escaped(user_manager: str) -> None:
    result = run("ssc", "--isolation=relaxed", "--name=firefox-esr", "cat", "/proc/self/cgroup")
    match = SCOPE.search(result.stdout.strip())
    assert match, result.stdout
    assert match["id"] == "firefox\\x2desr"


@pytest.mark.parametrize("hostile", ["../x", "a/b", "line\nbreak", "x" * 300, "x.service"])
def test_hostile_names_still_give_a_valid_scope(user_manager: str, hostile: str) -> None:
    result = run("ssc", "--isolation=relaxed", f"--name={hostile}", "cat", "/proc/self/cgroup")
    assert result.returncode == 0, result.stderr
    scope = result.stdout.strip().rsplit("/", 1)[-1]
    assert len(scope.encode()) <= 255
    assert SCOPE.search("/app.slice/app-ssc.slice/" + scope), scope


@pytest.mark.parametrize(("isolation", "expected"), [("strict", "1"), ("relaxed", "0")])
def test_no_new_privileges_under_strict_only(
    user_manager: str, isolation: str, expected: str
) -> None:
    result = run("ssc", f"--isolation={isolation}", "grep", "NoNewPrivs", "/proc/self/status")
    assert result.stdout.split() == ["NoNewPrivs:", expected], result.stderr


def test_strict_tmp_is_private_both_ways(user_manager: str, tmp_path: Path) -> None:
    outside = Path(f"/tmp/ssc-outside-{os.getpid()}")
    inside = Path(f"/tmp/ssc-inside-{os.getpid()}")
    outside.write_text("host")
    try:
        result = run(
            "ssc", "--isolation=strict", "sh", "-c", f"test ! -e {outside} && echo app > {inside}"
        )
        assert result.returncode == 0, "the app saw the host's /tmp"
        assert not inside.exists(), "the app's /tmp leaked to the host"
    finally:
        outside.unlink()
        inside.unlink(missing_ok=True)


@pytest.mark.parametrize("isolation", ["relaxed", "strict"])
def test_environment_cwd_and_exit_status_are_the_programs_own(
    user_manager: str, isolation: str
) -> None:
    # Not under /tmp, which strict replaces with a private one.
    workdir = Path.home() / f"ssc-cwd-{os.getpid()}"
    workdir.mkdir()
    env = {**os.environ, "SSC_VALUE": "a=b=c; with spaces", "SSC_EMPTY": ""}
    script = 'printf "%s|%s|%s" "$SSC_VALUE" "${SSC_EMPTY-unset}" "$(pwd -P)"; exit 42'
    try:
        result = run("ssc", f"--isolation={isolation}", "sh", "-c", script, cwd=workdir, env=env)
    finally:
        workdir.rmdir()
    assert result.returncode == 42, result.stderr
    assert result.stdout == f"a=b=c; with spaces||{workdir.resolve()}"


WAIT_FOR_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: (print('got SIGTERM', flush=True), sys.exit(3)))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_signal_sent_to_ssc_reaches_the_app(user_manager: str) -> None:
    proc = subprocess.Popen(
        ["ssc", "--isolation=relaxed", sys.executable, "-c", WAIT_FOR_TERM],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 3
    assert proc.stdout.read().strip() == "got SIGTERM"


REPORT_SIGNALS = (
    "import os, signal, sys, time\n"
    "def report(signum, frame):\n"
    "    print(signal.Signals(signum).name, flush=True)\n"
    "    if signum == signal.SIGTERM:\n"
    "        signal.signal(signum, signal.SIG_DFL)\n"
    "        os.kill(os.getpid(), signum)\n"
    "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):\n"
    "    signal.signal(s, report)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)


@pytest.mark.parametrize(
    ("isolation", "status"),
    # relaxed: ssc dies of the app's signal; strict: bwrap reports it as 128 + N.
    [("relaxed", -signal.SIGTERM), ("strict", 128 + signal.SIGTERM)],
)
def test_signals_a_caller_sends_reach_the_app_and_its_death_by_signal_is_sscs(
    user_manager: str, isolation: str, status: int
) -> None:
    proc = subprocess.Popen(
        ["ssc", f"--isolation={isolation}", sys.executable, "-c", REPORT_SIGNALS],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    for signum in (signal.SIGUSR1, signal.SIGHUP, signal.SIGINT, signal.SIGUSR2):
        proc.send_signal(signum)
        assert proc.stdout.readline().strip() == signum.name
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline().strip() == "SIGTERM"
    assert proc.wait(timeout=60) == status


def test_under_strict_killing_ssc_ends_the_sandboxed_app(user_manager: str) -> None:
    """Under strict the app runs in bwrap; when it ends, nothing of it is left."""
    marker = f"ssc-strict-sleeper-{os.getpid()}"
    proc = subprocess.Popen(
        ["ssc", "--isolation=strict", "sh", "-c", f"echo ready; exec -a {marker} sleep 300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 15
    while subprocess.run(["pgrep", "-f", marker]).returncode == 0:
        assert time.monotonic() < deadline, "the app outlived its sandbox"
        time.sleep(0.2)


def _read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {needle!r}; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


class Terminal:
    """A pty whose controlling side the test holds, and the shell ssc started on it."""

    def __init__(self, shell: subprocess.Popen[bytes], fd: int) -> None:
        self.shell, self.fd, self.open = shell, fd, True

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def read_until(self, needle: str) -> str:
        return _read_until(self.fd, needle.encode()).decode(errors="replace")

    def hang_up(self) -> None:
        """Close the terminal, as a closed tab does: the kernel hangs up the session."""
        os.close(self.fd)
        self.open = False


@contextmanager
def interactive_shell(*options: str) -> Iterator[Terminal]:
    """``ssc --isolation=relaxed /bin/bash -i`` on a new pty, as a terminal tab starts it.

    ``setsid --ctty`` makes the pty the shell's controlling terminal, as a terminal does.
    """
    controller, terminal = os.openpty()
    shell = subprocess.Popen(
        ["setsid", "--ctty", "ssc", "--isolation=relaxed", *options, "/bin/bash", "--norc", "-i"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "PS1": "ssc-prompt$ "},
    )
    os.close(terminal)
    tab = Terminal(shell, controller)
    try:
        yield tab
    finally:
        if tab.open:
            tab.hang_up()
        shell.kill()
        shell.wait()


PROMPT = "ssc-prompt$ "


def test_interactive_shell_under_a_pty_has_its_own_scope_and_job_control(user_manager: str) -> None:
    with interactive_shell() as tab:
        tab.read_until(PROMPT)
        tab.type("cat /proc/$$/cgroup; set -o | grep ^monitor\n")
        output = tab.read_until(PROMPT)
        assert SCOPE.search(output.split("\n")[1].strip()), output
        assert re.search(r"monitor\s+on", output), output
        tab.type("sleep 300\n")
        time.sleep(2)
        tab.type("\x1a")  # Ctrl-Z: the terminal stops the foreground job
        assert "Stopped" in tab.read_until(PROMPT)
        # Waited for: a job bash has not yet seen die still counts as stopped (and `wait %1`
        # returns at once for it, 148), and bash answers "exit" with "There are stopped jobs."
        tab.type('kill -9 %1; while [ -n "$(jobs -s)" ]; do sleep 0.1; done; echo no-stopped\n')
        assert "Killed" in tab.read_until(PROMPT)  # the prompt comes once no job is stopped
        tab.type("exit 7\n")
        assert tab.shell.wait(timeout=60) == 7


def test_ctrl_c_reaches_only_the_foreground_job_and_the_shell_lives_on(user_manager: str) -> None:
    with interactive_shell() as tab:
        tab.read_until(PROMPT)
        tab.type("sleep 3001\n")
        time.sleep(2)
        tab.type("\x03")  # Ctrl-C: the terminal interrupts the foreground job
        tab.read_until(PROMPT)
        tab.type("echo status=$?\n")
        assert "status=130" in tab.read_until(PROMPT)
        tab.type("exit 3\n")
        assert tab.shell.wait(timeout=60) == 3


def test_closing_the_terminal_ends_the_shell_and_its_foreground_job(user_manager: str) -> None:
    marker = f"sleep {3000 + os.getpid() % 1000}"
    with interactive_shell() as tab:
        tab.read_until(PROMPT)
        tab.type(marker + "\n")
        time.sleep(2)
        assert subprocess.run(["pgrep", "-fx", marker]).returncode == 0
        tab.hang_up()
        tab.shell.wait(timeout=60)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-fx", marker]).returncode == 0:
        assert time.monotonic() < deadline, "the foreground job outlived its terminal"
        time.sleep(0.2)


def test_a_tab_moved_by_its_terminal_keeps_its_shell_contained_and_alive_past_an_oom_kill(
    user_manager: str,
) -> None:
    """As VTE does: the tab's process is moved into vte-spawn-*.scope right after its exec."""
    with interactive_shell("--memory=64M") as tab:
        move_pid(vte_scope(), tab.shell.pid)
        tab.read_until(PROMPT)
        hog = "b = bytearray(640 << 20); b[::4096] = b'x' * len(b[::4096]); print('survived')"
        tab.type(f'cat /proc/$$/cgroup; {sys.executable} -c "{hog}"; echo "child exited $?"\n')
        output = tab.read_until("child exited") + tab.read_until(PROMPT)
        cgroup = re.search(r"^0::(\S+)", output, re.MULTILINE)
        assert cgroup, output
        assert SCOPE.search(cgroup.group(1)), output
        assert "child exited 137" in output, output
        assert "survived" not in [line.strip() for line in output.splitlines()], output
        tab.type("echo alive\n")
        assert "alive" in tab.read_until(PROMPT)
        tab.type("exit 7\n")
        assert tab.shell.wait(timeout=60) == 7


def test_two_shells_get_two_scopes(user_manager: str) -> None:
    shells = [
        subprocess.Popen(
            ["ssc", "--isolation=relaxed", "/bin/bash", "-c", "cat /proc/$$/cgroup; sleep 3"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    scopes = []
    for shell in shells:
        out, _ = shell.communicate(timeout=120)
        assert shell.returncode == 0
        scopes.append(out.strip())
    assert all(SCOPE.search(s) for s in scopes), scopes
    assert scopes[0] != scopes[1]


def test_fifty_concurrent_launches_get_fifty_distinct_scopes(user_manager: str) -> None:
    def launch(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssc", "--isolation=relaxed", "cat", "/proc/self/cgroup"],
            capture_output=True,
            text=True,
            timeout=600,
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(launch, range(50)))
    failures = [r.stderr for r in results if r.returncode != 0]
    assert failures == []
    scopes = {r.stdout.strip() for r in results}
    assert len(scopes) == 50
    assert all(SCOPE.search(s) for s in scopes)


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (["ssc", "no-such-program-anywhere"], 127, "command not found"),
        (["ssc", "/proc/self/status"], 126, "not executable"),
        (["ssc", "--memory=1G;Delegate=yes", "true"], 2, "invalid --memory"),
        (["ssc", "--cpu=0", "true"], 2, "invalid --cpu"),
        (["ssc", "--isolation=no-such-profile", "true"], 2, "unknown profile"),
    ],
)
def test_bad_input_fails_cleanly_before_any_unit_exists(
    user_manager: str, argv: list[str], exit_code: int, message: str
) -> None:
    before = ssc_units()
    result = run(*argv)
    assert result.returncode == exit_code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 2
    assert ssc_units() == before


def test_no_session_bus_is_an_error_with_a_hint(user_manager: str) -> None:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"}
    result = run("ssc", "--isolation=relaxed", "true", env=env)
    assert result.returncode == 1
    first, hint = result.stderr.splitlines()
    assert first.startswith("ssc: Failed to connect to the session bus")
    assert hint.startswith("Hint:")


def test_strict_refuses_without_a_working_bwrap_and_never_degrades(
    user_manager: str, tmp_path: Path
) -> None:
    """A bwrap that cannot create namespaces (as where user namespaces are blocked)."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    before = ssc_units()
    result = run("ssc", "--isolation=strict", "echo", "ran-anyway", env=env)
    assert result.returncode == 1
    assert "ran-anyway" not in result.stdout
    assert "strict isolation is not possible here" in result.stderr
    assert "Permission denied" in result.stderr
    assert ssc_units() == before
