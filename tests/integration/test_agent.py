"""ssc's launch agent against a real user manager: launches through it are contained as the
launcher's own are, it serves no one but the caller's own process, and a launcher never
depends on it (an agent gone, hung or killed mid-request leaves the launch to the launcher).

The whole integration suite also runs through the agent (the bed's second pass,
``SSC_TEST_VIA_AGENT``); these tests prove what only the agent has.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import AGENT_TIMING, VIA_AGENT, agent_enabled, page_touching

pytestmark = pytest.mark.integration

CALLER = Path(__file__).parent / "standins" / "agent_call.py"
AS_ROOT = ["sudo", "-n", "/usr/local/lib/ssc-vm/as-root"]
MiB = 1024**2


@pytest.fixture
def agent(user_manager: str) -> Iterator[None]:
    """ssc's agent enabled (already, in the pass that runs everything through it)."""
    if os.environ.get(VIA_AGENT):
        yield
        return
    with agent_enabled():
        yield


def agent_pid() -> int:
    shown = subprocess.run(
        ["systemctl", "--user", "show", "-P", "MainPID", "ssc-agent.service"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(shown)


def ssc(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssc", "--debug", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def scope_of(stdout: str) -> str:
    """The cgroup that ``cat /proc/self/cgroup`` printed."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("0::")]
    return line[3:]


def call(*args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, str(CALLER), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_a_launch_through_the_agent_is_in_its_scope_and_a_hog_dies_at_its_ceiling(
    agent: None,
) -> None:
    shown = ssc("--isolation=relaxed", "--memory=64M", "sh", "-c", "cat /proc/self/cgroup")
    assert shown.returncode == 0, shown.stderr
    assert AGENT_TIMING in shown.stderr
    scope = scope_of(shown.stdout)
    assert scope.rsplit("/", 1)[-1].startswith("app-ssc-sh-")
    assert "/app.slice/app-ssc.slice/" in scope

    before = agent_pid()
    hog = ssc(
        "--isolation=relaxed",
        "--memory=64M",
        sys.executable,
        "-c",
        page_touching(640),
        timeout=300,
    )
    assert AGENT_TIMING in hog.stderr
    assert hog.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), hog.stderr
    assert agent_pid() == before  # the agent, outside the app's scope, lives on


def test_a_strict_launch_through_the_agent_gets_its_sandbox_and_its_tmp(agent: None) -> None:
    shown = ssc(
        "--isolation=strict",
        "--name=org.example.AgentStrict",
        "sh",
        "-c",
        "cat /proc/self/cgroup; touch /tmp/agent-mark; ls /tmp; cat /proc/self/status",
    )
    assert shown.returncode == 0, shown.stderr
    assert AGENT_TIMING in shown.stderr
    assert "app-ssc-org.example.AgentStrict-" in scope_of(shown.stdout)
    assert "agent-mark" in shown.stdout
    assert "NoNewPrivs:\t1" in shown.stdout
    assert not Path("/tmp/agent-mark").exists()  # the app's own /tmp, not the host's


def test_a_pidfd_that_is_not_the_callers_own_is_refused_and_moves_nothing(agent: None) -> None:
    answer = call("--fd", "child")
    assert "names process" in str(answer.get("error")), answer
    assert "unit" not in answer
    assert "app-ssc-" not in str(answer["child_cgroup"])


def test_a_descriptor_that_is_not_a_pidfd_is_refused(agent: None) -> None:
    answer = call("--fd", "devnull")
    assert "the descriptor is not a pidfd" in str(answer.get("error")), answer
    assert "unit" not in answer


@pytest.mark.bed_root
def test_a_caller_of_another_uid_is_refused(agent: None) -> None:
    call("--fd", "self")  # the agent runs (socket-activated), so root's call reaches it
    result = subprocess.run([*AS_ROOT, "agent-call"], capture_output=True, text=True, timeout=120)
    assert "ssc's agent refused: the caller is uid 0" in result.stdout, result
    assert "unit " not in result.stdout


def test_an_agent_killed_mid_request_leaves_the_launch_to_the_launcher(
    agent: None, tmp_path: Path
) -> None:
    """The agent blocks reading a profile that is a FIFO: it has accepted the request and is
    planning it when it is killed. The launcher then starts its own scope, reading the same
    FIFO, which is given the profile's text only then."""
    config = tmp_path / "config"
    profiles = config / "ssc" / "profiles"
    profiles.mkdir(parents=True)
    fifo = profiles / "slowly.toml"
    os.mkfifo(fifo)
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    launch = subprocess.Popen(
        ["ssc", "--debug", "--isolation=slowly", "sh", "-c", "cat /proc/self/cgroup"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        writer = _open_when_read(fifo, deadline=time.monotonic() + 60)  # the agent reads it
        killed = agent_pid()
        os.kill(killed, signal.SIGKILL)
        _wait_dead(killed)  # its read end closed: what is written next is the launcher's to read
        # The writer stays open, so the launcher's own read waits for the text, not for EOF.
        deadline = time.monotonic() + 60
        while not (readers := [pid for pid in _holders(fifo) if pid != os.getpid()]):
            assert time.monotonic() < deadline, "the launcher did not read the profile"
            time.sleep(0.05)
        os.write(writer, b'[limits]\nMemoryMax = "128M"\n')
        os.close(writer)
        try:
            stdout, stderr = launch.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            launch.kill()
            pytest.fail(f"the launch did not end: {launch.communicate()}, readers {readers}")
    finally:
        if launch.poll() is None:  # a failure above: not left blocked on the FIFO
            launch.kill()
            launch.communicate()
    assert launch.returncode == 0, stderr
    assert AGENT_TIMING not in stderr
    assert "timing: connected to the bus" in stderr  # the launcher's own path
    scope = scope_of(stdout)
    assert scope.rsplit("/", 1)[-1].startswith("app-ssc-sh-")
    again = ssc("--isolation=relaxed", "true")  # the socket starts a new agent
    assert AGENT_TIMING in again.stderr, again.stderr
    assert agent_pid() != killed


def _holders(path: Path) -> list[int]:
    """The processes that have ``path`` open."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(
                os.readlink(f"/proc/{pid}/fd/{fd}") == str(path)
                for fd in os.listdir(f"/proc/{pid}/fd")
            ):
                found.append(int(pid))
        except OSError:
            continue
    return found


def _wait_dead(pid: int) -> None:
    """Until every thread of ``pid`` has exited and its descriptors are closed (a killed
    process's main thread is a zombie while its other threads still hold them)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if not os.listdir(f"/proc/{pid}/fd"):
                return
        except OSError:  # gone (reaped), or no descriptors to show any more
            return
        assert time.monotonic() < deadline, f"{pid} did not die"
        time.sleep(0.05)


def _open_when_read(fifo: Path, deadline: float) -> int:
    """A write end of ``fifo``, once a reader has it open (before that: ENXIO)."""
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert time.monotonic() < deadline, "no one read the profile"
            time.sleep(0.05)


def test_a_hung_agent_costs_the_launch_its_accept_timeout_and_no_more(agent: None) -> None:
    from ssc.agent.client import ACCEPT_TIMEOUT

    ssc("--isolation=relaxed", "true")  # the agent runs
    hung = agent_pid()
    os.kill(hung, signal.SIGSTOP)
    try:
        started = time.monotonic()
        shown = ssc("--isolation=relaxed", "sh", "-c", "cat /proc/self/cgroup")
        took = time.monotonic() - started
    finally:
        os.kill(hung, signal.SIGCONT)
    assert shown.returncode == 0, shown.stderr
    assert AGENT_TIMING not in shown.stderr
    assert scope_of(shown.stdout).rsplit("/", 1)[-1].startswith("app-ssc-sh-")
    assert ACCEPT_TIMEOUT <= took < ACCEPT_TIMEOUT + 60


def test_fifty_launches_at_once_through_the_agent_get_fifty_scopes(agent: None) -> None:
    ssc("--isolation=relaxed", "true")  # the agent runs: the fifty meet a warm one

    def launch(_: int) -> subprocess.CompletedProcess[str]:
        return ssc("--isolation=relaxed", "sh", "-c", "cat /proc/self/cgroup", timeout=600)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(launch, range(50)))
    assert [r.returncode for r in results] == [0] * 50, [r.stderr for r in results if r.returncode]
    served = sum(AGENT_TIMING in r.stderr for r in results)
    assert served == 50, f"{50 - served} of 50 launches went their own way"
    scopes = {scope_of(r.stdout).rsplit("/", 1)[-1] for r in results}
    assert len(scopes) == 50
    assert all(scope.startswith("app-ssc-sh-") for scope in scopes)


def test_disable_takes_the_agent_away_and_launches_go_their_own_way(agent: None) -> None:
    subprocess.run(["sscctl", "agent", "disable"], check=True, capture_output=True)
    try:
        units = (
            Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"
        )
        assert not (units / "ssc-agent.socket").exists()
        assert not (units / "ssc-agent.service").exists()
        shown = ssc("--isolation=relaxed", "true")
        assert shown.returncode == 0, shown.stderr
        assert AGENT_TIMING not in shown.stderr
        assert "timing: connected to the bus" in shown.stderr
    finally:
        subprocess.run(["sscctl", "agent", "enable"], check=True, capture_output=True)


@pytest.mark.parametrize(("isolation", "reaches"), [("relaxed", True), ("strict", False)])
def test_a_strict_app_cannot_ask_the_agent_for_a_scope_of_its_own(
    agent: None, isolation: str, reaches: bool
) -> None:
    """The agent would move whoever asks into a new scope, of the profile it names: a strict app
    must not reach it (the sandbox hides $XDG_RUNTIME_DIR/ssc), a relaxed one is not held."""
    result = subprocess.run(
        ["ssc", f"--isolation={isolation}", "--", sys.executable, str(CALLER)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if reaches:
        assert result.returncode == 0, result.stderr
        assert "unit" in json.loads(result.stdout)
    else:
        assert result.returncode != 0
        assert "FileNotFoundError" in result.stderr or "ConnectionRefusedError" in result.stderr
