"""strict holds an app to its limits: each way out of them fails, and what apps need still works.

Every escape below succeeds from a relaxed app (the test proves it is a real one) and fails
from a strict one: writing its own cgroup's limits, a cgroup of its own, the user manager
through systemctl, systemd-run or D-Bus, the manager's private socket, a unit of its own, and
the real session bus behind DBUS_SESSION_BUS_ADDRESS's back. Then Chromium's own start-up
sequence, and the desktop services an app talks to through the filtering proxy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import CGROUP_ROOT, require, ssc_units

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
SSC_SCOPE = re.compile(r"/app\.slice/app-ssc\.slice/app-ssc-[^/]+-[0-9]+\.scope$")
OWN_CGROUP = "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)"
OWN_UNIT = "$(basename $(cut -d: -f3 /proc/self/cgroup))"
MARK = f"ssc-escape-{os.getpid()}"
USER_UNITS = Path.home() / ".config/systemd/user"

# A D-Bus client in the venv's Python (jeepney), run inside the app: exit 0 if the escape worked.
BUS_CALL = textwrap.dedent("""
    import os, sys, time
    from jeepney import DBusAddress, new_method_call
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    MANAGER = DBusAddress("/org/freedesktop/systemd1", "org.freedesktop.systemd1",
                          "org.freedesktop.systemd1.Manager")

    def has_systemd(address):
        with open_dbus_connection(bus=address) as bus:
            return bus.send_and_get_reply(
                message_bus.NameHasOwner("org.freedesktop.systemd1"), timeout=30).body[0]

    def move_self(unit, mode):
        with open_dbus_connection(bus="SESSION") as bus:
            bus.send_and_get_reply(new_method_call(
                MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                (unit, mode, [("PIDs", ("au", [os.getpid()]))], [])), timeout=30)
        for _ in range(100):
            if unit in open("/proc/self/cgroup").read():
                return True
            time.sleep(0.1)
        return False

    {action}
""")

ESCAPES = {
    "1 write its own cgroup's limits": (
        f"d={OWN_CGROUP}; for f in memory.max memory.high memory.swap.max cpu.max; do "
        'echo max > "$d/$f" || exit 1; done; [ "$(cat $d/memory.max)" = max ]'
    ),
    "2 move into a cgroup of its own": (
        f"own={OWN_CGROUP}; sibling=$(dirname $own)/{MARK}; "
        'mkdir "$sibling" && echo $$ > "$sibling/cgroup.procs" && '
        f"grep -q {MARK} /proc/self/cgroup"
    ),
    "3 systemctl set-property": (
        f"systemctl --user set-property --runtime {OWN_UNIT} MemoryMax=infinity && "
        f'[ "$(cat {OWN_CGROUP}/memory.max)" = max ]'
    ),
    "4 systemd-run": (
        "systemd-run --user --scope --quiet --collect sh -c 'grep -q /run- /proc/self/cgroup'"
    ),
    "5 StartTransientUnit on the session bus": '"$PYTHON" -c "$PROBE_MOVE_SELF"',
    "6 the manager's private socket": 'test -S "$XDG_RUNTIME_DIR/systemd/private"',
    "7 a unit of its own": (
        f'mkdir -p {USER_UNITS} && printf "[Service]\\nExecStart=/bin/true\\n" '
        f"> {USER_UNITS}/{MARK}.service && systemctl --user daemon-reload && "
        f"systemctl --user start {MARK}.service"
    ),
    "8 the real bus socket, whatever the variable says": '"$PYTHON" -c "$PROBE_SYSTEMD"',
}
PROBES = {
    "PYTHON": sys.executable,
    "PROBE_MOVE_SELF": BUS_CALL.format(
        action=f'sys.exit(0 if move_self("{MARK}.scope", "fail") else 1)'
    ),
    "PROBE_SYSTEMD": BUS_CALL.format(
        action='runtime_bus = "unix:path=" + os.environ["XDG_RUNTIME_DIR"] + "/bus"\n'
        'sys.exit(0 if has_systemd(runtime_bus) or has_systemd("SESSION") else 1)'
    ),
}


@pytest.fixture
def no_escape_left() -> Iterator[None]:
    """Undo what a successful escape leaves: a cgroup, a unit file, a scope."""
    yield
    for cgroup in CGROUP_ROOT.glob(
        f"user.slice/user-*.slice/user@*.service/app.slice/app-ssc.slice/{MARK}"
    ):
        deadline = time.monotonic() + 15
        while (cgroup / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.2)
        cgroup.rmdir()
    unit_file = USER_UNITS / f"{MARK}.service"
    if unit_file.exists():
        unit_file.unlink()
        subprocess.run(["systemctl", "--user", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "--user", "reset-failed"], check=False)


def attempt(isolation: str, script: str) -> subprocess.CompletedProcess[str]:
    """The script from inside an app held to 64M and half a CPU (so that cpu.max exists)."""
    return subprocess.run(
        [
            *("ssc", f"--isolation={isolation}", "--memory=64M", "--cpu=50%"),
            *("--", "bash", "-c", script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **PROBES},
    )


@pytest.mark.usefixtures("no_escape_left")
@pytest.mark.parametrize("escape", list(ESCAPES))
def test_each_escape_works_from_relaxed_and_fails_from_strict(
    user_manager: str, escape: str
) -> None:
    relaxed = attempt("relaxed", ESCAPES[escape])
    assert relaxed.returncode == 0, f"not a real escape even from relaxed: {relaxed.stderr}"
    strict = attempt("strict", ESCAPES[escape])
    assert strict.returncode != 0, f"escaped from strict: {strict.stdout}{strict.stderr}"


CHROMIUM = textwrap.dedent("""
    # What Chromium's browser process does on every start (components/dbus/xdg/systemd.cc):
    # if org.freedesktop.systemd1 is on the bus, move itself into a scope named after it.
    import os, time
    from jeepney import DBusAddress, new_method_call
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus="SESSION") as bus:
        reply = bus.send_and_get_reply(
            message_bus.NameHasOwner("org.freedesktop.systemd1"), timeout=30)
        if reply.body[0]:
            unit = f"app-org.chromium.Chromium-{os.getpid()}.scope"
            manager = DBusAddress("/org/freedesktop/systemd1", "org.freedesktop.systemd1",
                                  "org.freedesktop.systemd1.Manager")
            bus.send_and_get_reply(new_method_call(
                manager, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                (unit, "replace", [("PIDs", ("au", [os.getpid()]))], [])), timeout=30)
            for _ in range(100):
                if unit in open("/proc/self/cgroup").read():
                    break
                time.sleep(0.1)
    print(open("/proc/self/cgroup").read().split("::", 1)[1].strip())
""")


@pytest.mark.parametrize(("isolation", "held"), [("strict", True), ("relaxed", False)])
def test_chromiums_start_up_move_leaves_it_in_its_scope_under_strict_only(
    user_manager: str, isolation: str, held: bool
) -> None:
    result = subprocess.run(
        ["ssc", f"--isolation={isolation}", "--", sys.executable, "-c", CHROMIUM],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert bool(SSC_SCOPE.search(result.stdout.strip())) == held, result.stdout


NOTIFY = textwrap.dedent("""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    server = DBusAddress("/org/freedesktop/Notifications", "org.freedesktop.Notifications",
                         "org.freedesktop.Notifications")
    arguments = ("ssc-test", 0, "", "Hello from strict", "through the proxy", [], {}, 5000)
    call = new_method_call(server, "Notify", "susssasa{sv}i", arguments)
    with open_dbus_connection(bus="SESSION") as bus:
        reply = bus.send_and_get_reply(call, timeout=30)
    print(reply.header.message_type.name, *reply.body)
""")


def test_a_notification_reaches_the_notification_server_through_the_proxy(
    user_manager: str, tmp_path: Path
) -> None:
    record = tmp_path / "notifications.jsonl"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.standins.notifications", "--record", record],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        result = subprocess.run(
            ["ssc", "--isolation=strict", "--", sys.executable, "-c", NOTIFY],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "method_return", result.stdout
        calls = [json.loads(line) for line in record.read_text().splitlines()]
        assert [call["summary"] for call in calls] == ["Hello from strict"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gsettings_set_under_strict_reaches_dconf(user_manager: str) -> None:
    require("gsettings")
    key = ("org.gnome.desktop.interface", "color-scheme")
    before = subprocess.run(["gsettings", "get", *key], capture_output=True, text=True)
    assert before.returncode == 0, before.stderr
    wanted = "'prefer-light'" if before.stdout.strip() == "'prefer-dark'" else "'prefer-dark'"
    try:
        result = subprocess.run(
            ["ssc", "--isolation=strict", "gsettings", "set", *key, wanted],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        after = subprocess.run(["gsettings", "get", *key], capture_output=True, text=True)
        assert after.stdout.strip() == wanted
    finally:
        subprocess.run(["gsettings", "reset", *key], check=False)


OWN_NAMES = textwrap.dedent("""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection
    with open_dbus_connection(bus="SESSION") as bus:
        for name in ("org.example.SscTest", "org.example.SscTest.Helper", "org.example.Other"):
            reply = bus.send_and_get_reply(message_bus.RequestName(name, 4), timeout=30)
            print(name, reply.header.message_type.name, *reply.body)
""")


def test_an_app_owns_its_own_app_id_and_nothing_else(user_manager: str) -> None:
    result = subprocess.run(
        [
            *("ssc", "--isolation=strict", "--name=org.example.SscTest"),
            *("--", sys.executable, "-c", OWN_NAMES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "org.example.SscTest method_return 1"  # the primary owner
    assert lines[1] == "org.example.SscTest.Helper method_return 1"
    assert lines[2].startswith("org.example.Other error"), lines[2]


def test_the_proxy_ends_with_the_app_and_leaves_no_socket(user_manager: str) -> None:
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")
    result = subprocess.run(
        ["ssc", "--isolation=strict", "sh", "-c", "echo $DBUS_SESSION_BUS_ADDRESS"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"unix:path={runtime}/bus"
    deadline = time.monotonic() + 15
    while list(runtime.glob("ssc/bus-*")) or _proxies():
        assert time.monotonic() < deadline, (list(runtime.glob("ssc/bus-*")), _proxies())
        time.sleep(0.2)


def _proxies() -> list[str]:
    listing = subprocess.run(
        ["pgrep", "-u", str(os.getuid()), "-x", "xdg-dbus-proxy"], text=True, capture_output=True
    )
    return listing.stdout.split()


def test_strict_without_xdg_dbus_proxy_refuses_before_any_unit_exists(
    user_manager: str, tmp_path: Path
) -> None:
    """Never degrade: no proxy, no strict launch (and a hint where to get one)."""
    for tool in ("bwrap", "true"):
        found = shutil.which(tool)
        assert found is not None
        (tmp_path / tool).symlink_to(found)
    ssc = shutil.which("ssc")
    assert ssc is not None
    before = ssc_units()
    result = subprocess.run(
        [sys.executable, ssc, "--isolation=strict", "true"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": str(tmp_path)},
    )
    assert result.returncode == 1
    first, hint = result.stderr.splitlines()
    assert first == "ssc: strict isolation needs xdg-dbus-proxy, which is not installed"
    assert hint.startswith("Hint: install it")
    assert ssc_units() == before
