"""ssc's agent in this process, on real unix sockets, with the manager's part faked: it serves
the peer's own process only, answers every request, and keeps profiles while their files stay.

That the scope is really started and verified is proven against a real user manager, in the
integration tier (tests/integration/test_agent.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ssc.agent.service as service
import ssc.launcher.launch_plan
from ssc.agent import client, protocol
from ssc.errors import SscError
from ssc.launcher.launch import Request
from ssc.profiles import load_profile


class FakeConnection:
    def close(self) -> None:
        pass


class Manager:
    """What join_scope and verify were asked: (unit, pid) pairs."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.verified: list[tuple[str, int]] = []


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Manager:
    record = Manager()

    def join_scope(
        connection: object, plan: ssc.launcher.launch_plan.LaunchPlan, **kw: object
    ) -> None:
        record.started.append((plan.unit, kw["pid"]))  # type: ignore[arg-type]

    def verify(plan: ssc.launcher.launch_plan.LaunchPlan, pid: int) -> None:
        record.verified.append((plan.unit, pid))

    monkeypatch.setattr(ssc.launcher.launch_plan, "join_scope", join_scope)
    monkeypatch.setattr(ssc.launcher.launch_plan, "verify", verify)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    return record


def new_agent(uid: int | None = None) -> service.Agent:
    pool = service.ConnectionPool(FakeConnection)
    return service.Agent(service.ProfileCache(), pool, uid)


@pytest.fixture
def running_agent(manager: Manager) -> Iterator[None]:
    """The agent listening where the launcher looks ($XDG_RUNTIME_DIR/ssc/agent.socket)."""
    listener = service.listening_socket(dict(os.environ))

    def serve() -> None:
        with contextlib.suppress(OSError):  # the listener shut down at the end of the test
            service.serve_forever(listener, new_agent())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    listener.shutdown(socket.SHUT_RDWR)
    thread.join(timeout=10)
    listener.close()


def exchange(fields: protocol.Fields, fds: list[int], uid: int | None = None) -> protocol.Fields:
    """One request to an agent serving the other end of a socket pair; its final answer."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours:
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
        ours.sendmsg([protocol.encode(fields)], rights if fds else [])
        thread = threading.Thread(target=new_agent(uid).serve, args=(theirs,))
        thread.start()
        thread.join(timeout=30)
        messages = []
        ours.settimeout(5)
        while data := ours.recv(protocol.MAX_MESSAGE):
            messages.append(data)
    return protocol.decode(messages[-1])


def request_fields(profile: str = "relaxed") -> protocol.Fields:
    request_ = Request(command=["sleep", "1"], profile=profile, debug=True)
    return protocol.request_fields(request_, "/bin/sleep", dict(os.environ))


def test_a_launch_through_the_agent_starts_and_verifies_the_scope_of_the_launchers_process(
    manager: Manager, running_agent: None
) -> None:
    answer = client.ask(Request(command=["sleep", "1"], profile="relaxed"), "/bin/sleep")
    assert answer is not None
    assert answer.unit.startswith("app-ssc-sleep-")
    assert answer.sandboxing is None
    assert manager.started == [(answer.unit, os.getpid())]
    assert manager.verified == [(answer.unit, os.getpid())]


def test_the_agents_refusal_is_the_launchers_error_and_starts_nothing(
    manager: Manager, running_agent: None
) -> None:
    with pytest.raises(SscError, match="unknown profile 'nope'") as raised:
        client.ask(Request(command=["true"], profile="nope"), "/bin/true")
    assert raised.value.exit_code == 2
    assert manager.started == []


def test_without_an_agent_the_launcher_goes_its_own_way_at_once(manager: Manager) -> None:
    assert client.ask(Request(command=["true"], profile="relaxed"), "/bin/true") is None


def test_a_pidfd_of_another_process_than_the_caller_is_refused(manager: Manager) -> None:
    child = subprocess.Popen(["sleep", "30"])
    pidfd = os.pidfd_open(child.pid)
    try:
        answer = exchange(request_fields(), [pidfd])
    finally:
        os.close(pidfd)
        child.kill()
        child.wait()
    assert f"names process {child.pid}, not the caller ({os.getpid()})" in protocol.value(
        answer, "error"
    )  # type: ignore[operator]
    assert manager.started == []


@pytest.mark.parametrize("fds", [[], ["devnull"], ["self", "self"]])
def test_a_request_without_exactly_one_pidfd_is_refused(manager: Manager, fds: list[str]) -> None:
    opened = [
        os.open(os.devnull, os.O_RDONLY) if fd == "devnull" else os.pidfd_open(os.getpid())
        for fd in fds
    ]
    try:
        answer = exchange(request_fields(), opened)
    finally:
        for fd in opened:
            os.close(fd)
    assert "ssc's agent refused" in (protocol.value(answer, "error") or "")
    assert manager.started == []


def test_a_peer_of_another_uid_is_refused(manager: Manager) -> None:
    """An agent serving another user than its caller (the bed proves it with root's caller)."""
    pidfd = os.pidfd_open(os.getpid())
    try:
        answer = exchange(request_fields(), [pidfd], uid=os.getuid() + 1)
    finally:
        os.close(pidfd)
    assert f"the caller is uid {os.getuid()}," in (protocol.value(answer, "error") or "")
    assert manager.started == []


def test_a_malformed_request_is_answered_and_the_agent_lives_on(manager: Manager) -> None:
    pidfd = os.pidfd_open(os.getpid())
    try:
        answer = exchange([("version", "1"), ("profile", "relaxed")], [pidfd])
        assert "could not read the request" in (protocol.value(answer, "error") or "")
        answer = exchange(request_fields(), [pidfd])  # the next one is served
    finally:
        os.close(pidfd)
    assert protocol.value(answer, "unit") is not None
    assert [line for line in protocol.values(answer, "say") if line.startswith("timing: agent")]


def test_a_root_held_profile_goes_to_the_launchers_own_path(manager: Manager) -> None:
    profiles = Path(os.environ["XDG_CONFIG_HOME"]) / "ssc" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "held.toml").write_text("root_held = true\n")
    pidfd = os.pidfd_open(os.getpid())
    try:
        answer = exchange(request_fields("held"), [pidfd])
    finally:
        os.close(pidfd)
    assert protocol.value(answer, "direct") == "root holds this profile's limits"
    assert manager.started == []


def test_a_launcher_on_another_bus_goes_its_own_way(manager: Manager) -> None:
    fields = [f for f in request_fields() if f[0] != "env" or not f[1].startswith("DBUS")]
    fields.append(("env", "DBUS_SESSION_BUS_ADDRESS=unix:path=/elsewhere"))
    pidfd = os.pidfd_open(os.getpid())
    try:
        answer = exchange(fields, [pidfd])
    finally:
        os.close(pidfd)
    assert protocol.value(answer, "direct") == "the launcher is on another session bus"


def test_a_cached_profile_is_read_again_once_its_files_change_even_within_a_clock_tick(
    manager: Manager, tmp_path: Path
) -> None:
    reads: list[str] = []

    def load(name: str, environ: dict[str, str]) -> object:
        reads.append(name)
        return load_profile(name, environ)

    cache = service.ProfileCache(load)  # type: ignore[arg-type]
    environ = dict(os.environ)
    profiles = Path(environ["XDG_CONFIG_HOME"]) / "ssc" / "profiles"
    first = cache.load("relaxed", environ)
    assert cache.load("relaxed", environ) is first
    assert reads == ["relaxed"]
    profiles.mkdir(parents=True)
    (profiles / "relaxed.toml").write_text('[limits]\nMemoryMax = "1G"\n')
    changed = cache.load("relaxed", environ)
    assert str(changed.limits.memory_max) == f"{1 << 30}B"
    (profiles / "relaxed.toml").write_text('[limits]\nMemoryMax = "2G"\n')  # same size
    assert str(cache.load("relaxed", environ).limits.memory_max) == f"{2 << 30}B"
    (profiles / "relaxed.toml").unlink()
    assert cache.load("relaxed", environ) is first  # the files are as they first were
    assert reads == ["relaxed"] * 3


def test_the_agent_refuses_arguments() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from ssc.agent.service import main; sys.exit(main(['x']))",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "takes no arguments" in result.stdout


def test_a_launcher_of_another_version_goes_its_own_way_and_the_agent_exits(
    tmp_path: Path,
) -> None:
    """After an upgrade, the agent that still runs is the old one: it makes way for the new."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    agent = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ssc.agent.service import main; sys.exit(main())"],
        env=env,
    )
    try:
        path = tmp_path / "ssc" / "agent.socket"
        deadline = time.monotonic() + 30
        while not path.exists():
            assert time.monotonic() < deadline, "the agent did not listen"
            time.sleep(0.05)
        pidfd = os.pidfd_open(os.getpid())
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
            connection.settimeout(30)
            connection.connect(str(path))
            request = [("version", "2"), ("profile", "relaxed")]
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", pidfd))]
            connection.sendmsg([protocol.encode(request)], rights)
            messages = []
            while data := connection.recv(protocol.MAX_MESSAGE):
                messages.append(data)
        os.close(pidfd)
        assert messages[0] == protocol.ACCEPTED
        assert "another version" in (protocol.value(protocol.decode(messages[-1]), "direct") or "")
        assert agent.wait(timeout=30) == 0
    finally:
        agent.kill()
        agent.wait()
