"""sscctl notify: the watcher service, a real hog killed at a real 64M ceiling, and the one
notification that tells of it, as a stand-in notification server on the session bus got it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssc.unit_names import escape_app_id

from .conftest import page_touching

pytestmark = pytest.mark.integration

UNIT = "ssc-notify.service"
HOG_ID = "ssc-test-hog"
HOG_NAME = "Hog Test"
HOG_ICON = "utilities-terminal"
# Ten times the 64M ceiling.
HOG = page_touching(640)
ENTRY = f"""\
[Desktop Entry]
Type=Application
Name={HOG_NAME}
Icon={HOG_ICON}
Exec=true
"""
SETTLED = 8.0  # seconds without a new Notify after which no more is coming (UPDATE_INTERVAL + 3)


def sscctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sscctl", *args], capture_output=True, text=True, timeout=300)


def systemctl(*args: str) -> str:
    return subprocess.run(
        ["systemctl", "--user", *args], capture_output=True, text=True, timeout=60
    ).stdout.strip()


def unit_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user" / UNIT


@pytest.fixture
def notifications(tmp_path: Path) -> Iterator[Path]:
    """The stand-in notification server; the file where it records each Notify call."""
    record = tmp_path / "notifications.jsonl"
    record.touch()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.standins.notifications", "--record", str(record)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 60)
        assert ready, "the stand-in did not start"
        assert server.stdout.readline().strip() == "ready"
        yield record
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def watcher(notifications: Path) -> Iterator[int]:
    """``sscctl notify enable``'d (and disabled after): the watcher's PID."""
    result = sscctl("notify", "enable")
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"Installed {unit_file()}"
        assert unit_file().read_text().count("ExecStart=/") == 1  # the absolute path
        assert systemctl("is-enabled", UNIT) == "enabled"
        assert systemctl("is-active", UNIT) == "active"  # started now, with no graphical session
        pid = int(systemctl("show", "--property=MainPID", "--value", UNIT))
        assert pid > 0
        yield pid
    finally:
        disabled = sscctl("notify", "disable")
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.splitlines()[0] == f"Stopped and disabled {UNIT}"
    assert not unit_file().exists()
    assert systemctl("is-active", UNIT) != "active"


@pytest.fixture
def hog_entry() -> Iterator[None]:
    """A desktop entry for the hog's app ID, where the watcher's session looks for entries."""
    path = Path.home() / ".local" / "share" / "applications" / f"{HOG_ID}.desktop"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ENTRY)
    try:
        yield
    finally:
        path.unlink()


def run_hogs(
    tmp_path: Path, count: int, profile: str = "relaxed"
) -> subprocess.CompletedProcess[str]:
    """``count`` hogs in a row, in one scope with a 64M ceiling; the shell prints when each
    ended (epoch seconds) and stays a few seconds after the last; first, its cgroup."""
    hog = tmp_path / "hog.py"
    hog.write_text(HOG)
    script = (
        "cat /proc/self/cgroup; "
        f'for i in $(seq {count}); do python3 "$0"; date +ended:%s.%N; done; sleep 3'
    )
    return subprocess.run(
        [
            "ssc",
            f"--isolation={profile}",
            "--memory=64M",
            f"--name={HOG_ID}",
            "--",
            "bash",
            "-c",
            script,
            str(hog),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def recorded(record: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def settled(record: Path, wanted: int, timeout: float = 60) -> list[dict[str, object]]:
    """The Notify calls, once there are ``wanted`` and no more came for SETTLED seconds."""
    deadline = time.monotonic() + timeout
    calls = recorded(record)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = recorded(record)
        if len(now) != len(calls):
            calls, quiet_since = now, time.monotonic()
        elif len(calls) >= wanted and time.monotonic() - quiet_since >= SETTLED:
            break
    return calls


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def test_a_process_killed_at_a_64m_ceiling_yields_one_notification_naming_app_and_limit(
    user_manager: str, watcher: int, notifications: Path, hog_entry: None, tmp_path: Path
) -> None:
    hogs = run_hogs(tmp_path, 1)
    assert "survived" not in hogs.stdout, "the ceiling did not hold"
    calls = settled(notifications, 1)
    assert len(calls) == 1, calls
    (call,) = calls
    assert call["summary"] == f"{HOG_NAME}: a process was stopped"
    body = call["body"]
    assert isinstance(body, str)
    assert body.startswith("python3 (PID "), body
    assert f"reached {HOG_NAME}'s memory limit of 64 MiB (peak " in body
    assert call["hints"] == {"urgency": 1, "desktop-entry": HOG_ID}
    assert call["app_icon"] == HOG_ICON
    assert call["replaces_id"] == 0
    ended = [float(line[6:]) for line in hogs.stdout.splitlines() if line.startswith("ended:")]
    if ended:  # the shell outlived the kill (OOMPolicy=continue): the notice came soon after
        latency = float(call["time"]) - ended[0]  # type: ignore[arg-type]
        print(f"notification {latency:.2f} s after the kill")
        assert latency < 15


@pytest.fixture
def held_profile() -> Iterator[str]:
    """A profile whose limits ssc's system helper holds (the bed installs the helper)."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = config / "ssc" / "profiles" / "ssc-test-notify-held.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('root_held = true\n[limits]\nMemorySwapMax = "0"\nOOMPolicy = "continue"\n')
    yield path.stem
    path.unlink()


@pytest.mark.bed_root
def test_a_kill_in_an_app_whose_limits_root_holds_is_notified_too(
    user_manager: str,
    watcher: int,
    notifications: Path,
    hog_entry: None,
    held_profile: str,
    tmp_path: Path,
) -> None:
    hogs = run_hogs(tmp_path, 1, held_profile)
    assert "survived" not in hogs.stdout, "the ceiling did not hold"
    held_scope = f"/user-{os.getuid()}-ssc.slice/app-ssc-{escape_app_id(HOG_ID)}-"
    assert held_scope in hogs.stdout, hogs.stdout
    calls = settled(notifications, 1)
    assert len(calls) == 1, calls
    assert calls[0]["summary"] == f"{HOG_NAME}: a process was stopped"
    assert f"reached {HOG_NAME}'s memory limit of 64 MiB" in str(calls[0]["body"])


def test_repeated_kills_of_one_app_are_folded_into_one_notification(
    user_manager: str, watcher: int, notifications: Path, hog_entry: None, tmp_path: Path
) -> None:
    run_hogs(tmp_path, 3)
    calls = settled(notifications, 1)
    assert 1 <= len(calls) <= 3, calls
    first = calls[0]["id"]
    assert all(call["id"] == first for call in calls), "a second notification instead of one"
    assert all(call["replaces_id"] == first for call in calls[1:])
    assert calls[-1]["summary"] == f"{HOG_NAME}: 3 processes were stopped"


def test_the_watcher_uses_next_to_no_cpu_while_nothing_happens(
    user_manager: str, watcher: int
) -> None:
    idle = [
        subprocess.Popen(
            ["ssc", "--isolation=relaxed", f"--name=org.ssc.test.idle{n}", "sleep", "60"]
        )
        for n in range(2)
    ]
    try:
        time.sleep(3)  # the scopes are up and watched
        before = cpu_seconds(watcher)
        time.sleep(5)
        used = cpu_seconds(watcher) - before
        status = Path(f"/proc/{watcher}/status").read_text()
        rss = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        print(f"watcher over 5 idle seconds: {used:.2f} s CPU, VmRSS {rss} kB")
        assert used <= 0.25
    finally:
        for process in idle:
            process.terminate()
        subprocess.run(
            ["systemctl", "--user", "kill", "--signal=SIGKILL", "app-ssc-org.ssc.test.idle*"]
        )
        for process in idle:
            process.wait(timeout=60)


THROTTLE_PROFILE = """\
description = "a 64M ceiling that throttles from 32M on"
isolate = false

[limits]
MemoryMax = "64M"
MemoryHigh = "32M"
MemorySwapMax = "64M"
OOMPolicy = "continue"
"""
# Stays between MemoryHigh and MemoryMax: throttled, never killed.
SQUEEZE = page_touching(50)


@pytest.fixture
def throttle_profile() -> Iterator[str]:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(config) / "ssc" / "profiles" / "ssc-test-throttle.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(THROTTLE_PROFILE)
    try:
        yield path.stem
    finally:
        path.unlink()


def test_with_throttling_an_app_held_back_at_its_memory_high_is_told_once(
    user_manager: str,
    watcher: int,
    notifications: Path,
    hog_entry: None,
    throttle_profile: str,
    tmp_path: Path,
) -> None:
    enabled = sscctl("notify", "enable", "--throttling")  # enabling again changes the options
    assert enabled.returncode == 0, enabled.stderr
    assert "--throttling" in unit_file().read_text()
    squeeze = tmp_path / "squeeze.py"
    squeeze.write_text(SQUEEZE)
    for _ in range(2):  # twice: told once all the same
        result = subprocess.run(
            ["ssc", f"--isolation={throttle_profile}", f"--name={HOG_ID}", "python3", str(squeeze)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.stdout == "survived\n", result.stderr
    calls = settled(notifications, 1)
    assert len(calls) == 1, calls
    assert calls[0]["summary"] == f"{HOG_NAME} is being slowed down"
    assert f"{HOG_NAME} is near its memory limit of 64 MiB (using " in str(calls[0]["body"])
