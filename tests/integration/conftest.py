"""The integration tier: tests against a real systemd user manager with cgroup v2.

They run in the test bed (``tests/vm/run``), or directly on a Linux desktop whose user manager
is running. Where no manager is reachable they skip with the reason, except where they must
not: in the bed, in CI, or with ``SSC_REQUIRE_SYSTEMD=1``, a missing manager fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _must_run() -> bool:
    return any(os.environ.get(name) for name in ("SSC_TESTBED", "CI", "SSC_REQUIRE_SYSTEMD"))


def _manager_state() -> str:
    try:
        result = subprocess.run(
            ["systemctl", "--user", "is-system-running"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unreachable ({error})"
    return result.stdout.strip() or result.stderr.strip()


@pytest.fixture(scope="session")
def user_manager() -> Iterator[str]:
    """The state of this user's systemd manager, which must be up (running or degraded).

    With ``SSC_TEST_VIA_AGENT=1`` (the bed's second pass), ssc's agent is enabled for the whole
    session, and every launch of every test goes through it; a first launch proves it does.
    """
    state = _manager_state()
    if state not in ("running", "degraded"):
        message = f"no systemd user manager here (is-system-running: {state!r}); use tests/vm/run"
        if _must_run():
            pytest.fail(message)
        pytest.skip(message)
    if not os.environ.get(VIA_AGENT):
        yield state
        return
    with agent_enabled():
        yield state


VIA_AGENT = "SSC_TEST_VIA_AGENT"
AGENT_TIMING = "ssc: timing: agent planned in"  # what --debug prints of a launch the agent served


@contextmanager
def agent_enabled() -> Iterator[None]:
    """ssc's agent enabled (``sscctl agent enable``), and proven to serve a launch."""
    subprocess.run(["sscctl", "agent", "enable"], check=True, capture_output=True, timeout=120)
    try:
        probe = subprocess.run(
            ["ssc", "--debug", "--isolation=relaxed", "true"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert probe.returncode == 0, probe.stderr
        assert AGENT_TIMING in probe.stderr, (
            f"the launch did not go through the agent: {probe.stderr}"
        )
        yield
    finally:
        subprocess.run(["sscctl", "agent", "disable"], check=True, capture_output=True, timeout=120)


def ssc_units() -> list[str]:
    """ssc's scopes the user manager knows of, in any state (a failed one stays listed)."""
    listing = subprocess.run(
        ["systemctl", "--user", "list-units", "--all", "--plain", "--no-legend", "app-ssc-*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every integration test: no ssc scope is left, none failed (they are collected)."""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    request.getfixturevalue("user_manager")
    yield
    deadline = time.monotonic() + 15
    while (left := ssc_units()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"ssc scopes left behind: {left}"


def own_scope_of(pid: int) -> str:
    """The cgroup path of a process, e.g. ``/user.slice/…/app-ssc-sh-….scope``."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise AssertionError(f"process {pid} has no cgroup v2 line")


def page_touching(mb: int) -> str:
    """Python that holds ``mb`` MB, every page touched (so it is really used: a bare
    ``bytearray(n)`` gets untouched zero pages), then prints ``survived``."""
    return textwrap.dedent(f"""
        chunks = []
        for _ in range({mb} // 10):
            chunk = bytearray(10 * 1024 * 1024)
            chunk[::4096] = b"x" * len(chunk[::4096])
            chunks.append(chunk)
        print("survived", flush=True)
    """)


def require(tool: str) -> str:
    """The tool's path; a missing tool fails the test in the bed and in CI, else skips it."""
    path = shutil.which(tool)
    if path is None:
        if _must_run():
            pytest.fail(f"{tool} is missing from the test bed")
        pytest.skip(f"{tool} is not installed")
    return path


@contextmanager
def xvfb(number: str, *options: str) -> Iterator[str]:
    """A private Xvfb server on display ``:number``, up (its socket there) until the block ends."""
    require("Xvfb")
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-nolisten", "tcp", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket_path = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 60
    try:
        while not socket_path.exists():
            assert server.poll() is None, "Xvfb exited"
            assert time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.2)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)
