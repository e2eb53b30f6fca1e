"""All contained apps together under one ceiling: the desktop stays usable when they all grow.

A session stand-in outside ssc, in ``session.slice`` as GNOME Shell is, holds 300 MB and touches
every page of it every 100 ms, timing each pass. Two contained apps each grow to 1.5 GB at once:
each within its own ceiling (60 % of the bed's 3 GB), together over the shared one (RAM less
1 GiB by default here) and near all the bed has. With no set-up at all, the stand-in keeps its pace,
exactly one app loses its process at the shared ceiling (and the watcher says so), and the
other finishes. ``bench/shared.py`` prints the same figures, before and after.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssc.ctl.report import human_size

from .conftest import CGROUP_ROOT
from .test_notify import SETTLED, notifications, watcher  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

MiB = 1024**2
SESSION_UNIT = f"ssc-test-session-{os.getpid()}.service"
STANDIN = textwrap.dedent("""
    import sys, time
    PAGE = 4096
    size = 300 * 1024 * 1024
    held = bytearray(size)
    out = open(sys.argv[1], "w", buffering=1)
    value = 0
    while True:
        value = (value + 1) % 256
        started = time.monotonic()
        held[::PAGE] = bytes([value]) * (size // PAGE)  # a write to every page
        out.write(f"{time.time():.3f} {time.monotonic() - started:.4f}\\n")
        time.sleep(0.1)
""")
GROW = textwrap.dedent("""
    import sys, time
    chunks = []
    for _ in range({mb} // 50):
        chunk = bytearray(50 * 1024 * 1024)
        chunk[::4096] = b"x" * len(chunk[::4096])
        chunks.append(chunk)
    time.sleep(5)
    print("done", flush=True)
""")
APPS = ("org.ssc.test.GrowA", "org.ssc.test.GrowB")


@pytest.fixture
def session_standin(tmp_path: Path) -> Iterator[Path]:
    """The stand-in, started as GNOME Shell is (a unit of session.slice); its pass times."""
    passes = tmp_path / "passes.txt"
    subprocess.run(
        [
            *("systemd-run", "--user", "--quiet", "--slice=session.slice"),
            *(f"--unit={SESSION_UNIT}", "--property=CollectMode=inactive-or-failed"),
            *("--", sys.executable, "-c", STANDIN, str(passes)),
        ],
        check=True,
        timeout=60,
    )
    try:
        deadline = time.monotonic() + 120
        while len(_passes(passes)) < 20:  # its pages touched, and its pace known
            assert time.monotonic() < deadline, "the stand-in did not start"
            time.sleep(0.5)
        yield passes
    finally:
        subprocess.run(["systemctl", "--user", "stop", SESSION_UNIT], check=False, timeout=60)


def _passes(path: Path) -> list[tuple[float, float]]:
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(float(at), float(took)) for at, took in rows if took]


def test_contained_apps_growing_at_once_meet_the_shared_ceiling_and_the_session_keeps_pace(
    user_manager: str,
    session_standin: Path,
    watcher: int,  # noqa: F811
    notifications: Path,  # noqa: F811
) -> None:
    idle = statistics.median(took for _, took in _passes(session_standin))
    started = time.time()
    # The app is a shell that runs the grower and tells how it ended: it outlives a kill of
    # its one big process, as a browser outlives the loss of a tab.
    script = f'"{sys.executable}" -c "$GROW"; echo "grower exited $?"; sleep 3'
    growing = [
        subprocess.Popen(
            [
                *("ssc", "--isolation=relaxed", "--memory=60%", f"--name={app}"),
                *("--", "sh", "-c", script),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "GROW": GROW.format(mb=1500)},
        )
        for app in APPS
    ]
    results = [(app.wait(timeout=600), *app.communicate()) for app in growing]
    during = [took for at, took in _passes(session_standin) if at >= started]
    worst = max(during)
    print(f"stand-in: idle pass {idle:.3f}s, worst {worst:.3f}s over {len(during)} passes")

    assert (
        subprocess.run(
            ["systemctl", "--user", "is-active", SESSION_UNIT], capture_output=True, text=True
        ).stdout.strip()
        == "active"
    ), "the session stand-in was killed"
    assert worst <= max(5 * idle, 0.05), f"the session stood still: {worst:.3f}s"
    assert worst < 1.5
    assert [code for code, _, _ in results] == [0, 0], results
    outputs = [out for _, out, _ in results]
    # Exactly one app lost its process (SIGKILL: 137), and the other finished.
    assert sorted(outputs) == ["done\ngrower exited 0\n", "grower exited 137\n"], results

    # The kill was the shared ceiling's: the slice's own OOM, not the killed app's.
    slice_events = _slice_events()
    assert slice_events["oom"] >= 1, slice_events
    assert slice_events["oom_kill"] >= 1, slice_events
    assert (_slice_dir() / "memory.oom.group").read_text().strip() == "0"

    killed = APPS[outputs.index("grower exited 137\n")]
    shared_limit = human_size(int((_slice_dir() / "memory.max").read_text()), decimals=1)
    deadline = time.monotonic() + 60
    while not notifications.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(SETTLED)
    calls = [json.loads(line) for line in notifications.read_text().splitlines()]
    assert len(calls) == 1, calls
    assert calls[0]["summary"] == f"{killed}: a process was stopped"
    assert (
        f"all contained apps together reached their shared limit of {shared_limit}"
        in calls[0]["body"]
    )


def test_the_shared_ceiling_is_set_up_with_no_step_and_read_back(user_manager: str) -> None:
    result = subprocess.run(
        ["ssc", "--isolation=relaxed", "cat", "/proc/self/cgroup"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "/app.slice/app-ssc.slice/app-ssc-cat-" in result.stdout
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    ceiling = int((_slice_dir() / "memory.max").read_text())
    expected = max(physical - max(physical // 5, 1024 * MiB), physical // 2)
    assert abs(ceiling - expected) <= 4096
    assert int((_slice_dir() / "memory.high").read_text()) < ceiling


def _slice_dir() -> Path:
    uid = os.getuid()
    return CGROUP_ROOT / f"user.slice/user-{uid}.slice/user@{uid}.service/app.slice/app-ssc.slice"


def _slice_events() -> dict[str, int]:
    text = (_slice_dir() / "memory.events").read_text()
    return {key: int(value) for key, value in (line.split() for line in text.splitlines())}


def _sscctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sscctl", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def shared_file() -> Iterator[Path]:
    """The user's shared.toml, removed after (the next launch then sets the defaults again)."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = config / "ssc" / "shared.toml"
    assert not path.exists()
    yield path
    path.unlink(missing_ok=True)
    subprocess.run(["ssc", "--isolation=relaxed", "true"], check=True, timeout=120)


def test_sscctl_sets_the_shared_ceiling_live_keeps_it_and_ps_shows_it(
    user_manager: str, shared_file: Path
) -> None:
    first = subprocess.run(["ssc", "--isolation=relaxed", "true"], timeout=120)
    assert first.returncode == 0  # the slice is there
    result = _sscctl("set", "--shared", "--memory=1G")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("all contained apps (app-ssc.slice): memory ")
    assert "→ 1G" in result.stdout
    assert int((_slice_dir() / "memory.max").read_text()) == 1024 * MiB
    assert 'MemoryMax = "1G"' in shared_file.read_text()

    # A bad value: one line, and nothing changes, live or in the file.
    kept = shared_file.read_text()
    bad = _sscctl("set", "--shared", "--memory=lots")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0].startswith("sscctl: invalid --memory: 'lots'")
    assert "Traceback" not in bad.stderr
    assert int((_slice_dir() / "memory.max").read_text()) == 1024 * MiB
    assert shared_file.read_text() == kept

    # A launch keeps what the file says, and ps shows all contained apps against it.
    app = subprocess.Popen(
        ["ssc", "--isolation=relaxed", "--name=org.ssc.test.Held", "--", "sleep", "60"]
    )
    try:
        deadline = time.monotonic() + 60
        while "org.ssc.test.Held" not in _sscctl("ps").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        last = _sscctl("ps").stdout.splitlines()[-1].split()
        assert last[:4] == ["all", "contained", "apps", "shared"]
        assert last[6] == "1G"  # CEILING
        document = json.loads(_sscctl("ps", "--json").stdout)
        assert document["shared"]["unit"] == "app-ssc.slice"
        assert document["shared"]["memory_max"] == 1024 * MiB
        assert [a["app"] for a in document["apps"]] == ["org.ssc.test.Held"]
    finally:
        app.terminate()
        app.wait(timeout=60)
