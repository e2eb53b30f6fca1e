"""Limits held by root: ssc's system helper, installed as root the documented way, in the bed.

The runner installs the helper (``ssc-helper install``) and the bed's polkit rules
(``helper/50-ssc-test.rules``) before the tests; what must be done as root here goes through
the bed's one sudo script (``tests/vm/guest/as-root``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import CGROUP_ROOT, own_scope_of, page_touching

pytestmark = [pytest.mark.integration, pytest.mark.bed_root]

UID = os.getuid()
HELD = CGROUP_ROOT / f"user.slice/user-{UID}.slice/user-{UID}-ssc.slice"
CALLER = Path(__file__).parent / "standins" / "helper_call.py"
PROFILE = "ssc-test-held"
AS_ROOT = ["sudo", "-n", "/usr/local/lib/ssc-vm/as-root"]
INSTALLED = (
    "/etc/systemd/system/ssc-helper.service",
    "/etc/dbus-1/system.d/org.ssc.Helper1.conf",
    "/usr/share/dbus-1/system-services/org.ssc.Helper1.service",
    "/usr/share/polkit-1/actions/org.ssc.helper.policy",
)
MiB = 1024**2


def held_scopes() -> list[str]:
    if not HELD.is_dir():
        return []
    return sorted(p.name for p in HELD.iterdir() if p.name.endswith(".scope"))


@pytest.fixture(autouse=True)
def no_held_scope_left(user_manager: str) -> Iterator[None]:
    yield
    deadline = time.monotonic() + 15
    while (left := held_scopes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"held scopes left behind: {left}"


@pytest.fixture
def held_profile() -> Iterator[str]:
    """A profile of the user's own that asks for limits held by root."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = config / "ssc" / "profiles" / f"{PROFILE}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'description = "held by root (ssc test)"\n'
        "root_held = true\n"
        "[limits]\n"
        'MemoryMax = "512M"\n'
        'MemorySwapMax = "0"\n'
        'CPUQuota = "50%"\n'
        'OOMPolicy = "continue"\n'
    )
    yield PROFILE
    path.unlink()


@pytest.fixture
def strict_held_profile() -> Iterator[str]:
    """Strict's isolation with limits held by root."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = config / "ssc" / "profiles" / f"{PROFILE}-strict.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('isolate = true\nroot_held = true\n[limits]\nMemoryMax = "512M"\n')
    yield path.stem
    path.unlink()


def call(*args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, str(CALLER), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def as_root(step: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AS_ROOT, step], capture_output=True, text=True, timeout=300)


def sscctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sscctl", *args], capture_output=True, text=True, timeout=300)


def start_held(profile: str, app: str, script: str) -> subprocess.Popen[str]:
    """A held app that prints ``ready`` and waits; its scope is the one it is in."""
    return subprocess.Popen(
        ["ssc", f"--isolation={profile}", f"--name={app}", "--", sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("ready"), (line, process.stderr.read() if process.stderr else "")
    return line.removeprefix("ready").strip()


WAIT = "import os, time\nprint('ready', os.getpid(), flush=True)\ntime.sleep(600)\n"


# --- what works ------------------------------------------------------------------------------


def test_a_held_launch_runs_as_the_user_in_a_root_owned_scope_under_the_users_slice(
    held_profile: str,
) -> None:
    script = (
        "import os\n"
        "print(open('/proc/self/cgroup').read().strip())\n"
        "print(os.getresuid(), os.getresgid())\n"
        "d = '/sys/fs/cgroup' + open('/proc/self/cgroup').read().strip()[3:]\n"
        "for name in ('memory.max', 'memory.swap.max', 'cpu.max', 'cgroup.procs'):\n"
        "    first = open(f'{d}/{name}').read().split('\\n')[0]\n"
        "    print(name, first, os.stat(f'{d}/{name}').st_uid)\n"
    )
    result = subprocess.run(
        [
            "ssc",
            f"--isolation={held_profile}",
            "--name=org.ssc.test.Held",
            "--",
            sys.executable,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"0::/user.slice/user-{UID}.slice/user-{UID}-ssc.slice/")
    assert "/app-ssc-org.ssc.test.Held-" in lines[0]
    assert lines[0].endswith(".scope")
    assert lines[1] == f"({UID}, {UID}, {UID}) {os.getresgid()}"
    assert lines[2] == f"memory.max {512 * MiB} 0"  # root's file
    assert lines[3] == "memory.swap.max 0 0"
    assert lines[4] == "cpu.max 50000 100000 0"
    assert lines[5].split()[-1] == "0"
    show = subprocess.run(["systemctl", "--user", "list-units", "--all", "app-ssc-org.ssc*"])
    assert show.returncode == 0  # the user manager knows nothing of it: the system's has it


def test_strict_isolation_works_in_a_scope_held_by_root(strict_held_profile: str) -> None:
    marker = Path(f"/tmp/ssc-held-marker-{os.getpid()}")
    marker.write_text("the host's /tmp")
    try:
        result = subprocess.run(
            [
                "ssc",
                f"--isolation={strict_held_profile}",
                "--name=org.ssc.test.HeldStrict",
                "--",
                "sh",
                "-c",
                f"cat /proc/self/cgroup; if test -e {marker}; then echo seen; fi",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        marker.unlink()
    assert result.returncode == 0, result.stderr
    assert f"/user-{UID}-ssc.slice/app-ssc-org.ssc.test.HeldStrict-" in result.stdout
    assert "seen" not in result.stdout  # the app's own /tmp, as under strict


def test_a_memory_hog_held_by_root_is_killed_at_its_ceiling_and_the_caller_lives(
    held_profile: str,
) -> None:
    result = subprocess.run(
        [
            "ssc",
            f"--isolation={held_profile}",
            "--memory=64M",
            "--name=org.ssc.test.Hog",
            "--",
            sys.executable,
            "-c",
            page_touching(640),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "survived" not in result.stdout
    assert result.returncode == -9, (result.returncode, result.stderr)


def test_sscctl_shows_lowers_and_stops_a_held_app(held_profile: str) -> None:
    app = start_held(held_profile, "org.ssc.test.Steered", WAIT)
    try:
        pid = int(wait_ready(app))
        scope = CGROUP_ROOT / own_scope_of(pid).lstrip("/")
        listing = sscctl("ps")
        assert listing.returncode == 0, listing.stderr
        row = next(line for line in listing.stdout.splitlines() if "Steered" in line)
        assert f"{PROFILE} (root-held)" in row
        assert json.loads(sscctl("ps", "--json").stdout)["apps"][0]["held_by_root"] is True

        lowered = sscctl("set", "org.ssc.test.Steered", "--memory=256M", "--cpu=25%")
        assert lowered.returncode == 0, lowered.stderr
        assert (scope / "memory.max").read_text().strip() == str(256 * MiB)
        assert (scope / "cpu.max").read_text().split()[0] == "25000"

        raised = sscctl("set", "org.ssc.test.Steered", "--memory=1G")
        assert raised.returncode != 0
        assert "raise" in raised.stderr, raised.stderr
        assert "authentication" in raised.stderr, raised.stderr
        assert len(raised.stderr.strip().splitlines()) <= 2  # one line and its hint
        assert (scope / "memory.max").read_text().strip() == str(256 * MiB)

        stopped = sscctl("stop", "org.ssc.test.Steered")
        assert stopped.returncode == 0, stopped.stderr
        assert app.wait(timeout=60) != 0
        assert not scope.exists()
    finally:
        app.kill()
        app.wait()


# --- what the helper refuses, each leaving no unit -------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("pid1", "NotYourProcess"),  # another uid's (root's) process
        ("dead", "ProcessGone"),  # exited and reaped: its PID may be anyone's now
        ("reused", "ProcessGone"),  # and its PID is now the caller's own
        ("devnull", "BadProcess"),  # a plain file, not a pidfd
        ("child", "NotYourProcess"),
        ("parent", "NotYourProcess"),
    ],
)
def test_a_pidfd_that_is_not_the_callers_own_process_is_refused(kind: str, error: str) -> None:
    answer = call("start", "--fd", kind)
    assert answer.get("error") == f"org.ssc.Helper1.Error.{error}", answer
    assert held_scopes() == []
    assert "-ssc.slice/" not in str(answer["cgroup"])


@pytest.mark.parametrize(
    ("name", "signature", "value"),
    [
        ("ExecStart", "a(sasb)", '[["/bin/sh", ["sh"], false]]'),
        ("User", "s", '"root"'),
        ("Slice", "s", '"system.slice"'),
        ("Delegate", "b", "true"),
        ("AuxiliaryUnits", "as", '["ssh.service"]'),
        ("FailureAction", "s", '"reboot"'),
        ("PIDs", "au", "[1]"),
        ("KillMode", "s", '"none"'),
    ],
)
def test_each_forbidden_property_is_refused(name: str, signature: str, value: str) -> None:
    answer = call("start", "--prop", name, signature, value)
    assert answer.get("error") == "org.ssc.Helper1.Error.ForbiddenProperty", answer
    assert name in str(answer["message"])
    assert held_scopes() == []


@pytest.mark.parametrize(
    ("name", "signature", "value", "error"),
    [
        ("MemoryHigh", "t", str(MiB), "OutOfRange"),  # below the 16M any ceiling needs
        ("CPUQuotaPerSecUSec", "t", "0", "OutOfRange"),
        ("CPUWeight", "t", "10001", "OutOfRange"),
        ("TasksMaxScale", "u", "0", "OutOfRange"),
        ("MemorySwapMax", "t", str(2**64 - 1), "OutOfRange"),
        ("MemoryHigh", "s", '"1G"', "InvalidArgs"),
        ("OOMPolicy", "s", '"ignore"', "InvalidArgs"),
        ("MemoryMax", "t", str(1024 * MiB), "InvalidArgs"),  # the same limit twice
    ],
)
def test_out_of_range_values_are_refused(name: str, signature: str, value: str, error: str) -> None:
    answer = call("start", "--prop", name, signature, value)
    assert answer.get("error") == f"org.ssc.Helper1.Error.{error}", answer
    assert held_scopes() == []


@pytest.mark.parametrize(
    "app", ["../../system.slice/x", "sshd.service", "x.slice", "evil\nname", "a/b"]
)
def test_an_app_id_that_tries_to_pick_another_slice_or_unit_is_refused(app: str) -> None:
    answer = call("start", "--app", app)
    assert answer.get("error") == "org.ssc.Helper1.Error.InvalidArgs", answer
    assert held_scopes() == []
    units = subprocess.run(
        ["systemctl", "list-units", "--all", "--plain", "--no-legend", "*.scope", "*.service"],
        capture_output=True,
        text=True,
    ).stdout
    assert "x.slice" not in units
    assert "evil" not in units


def test_a_caller_without_the_rules_and_without_an_active_session_is_refused() -> None:
    answer = call("start", "--app", "norules.org.ssc.test.Raw")
    assert answer.get("error") == "org.ssc.Helper1.Error.NotAuthorized", answer
    assert held_scopes() == []


def test_a_caller_that_leaves_before_polkit_answers_gets_nothing() -> None:
    answer = call("leave", "--app", "slowpolkit.org.ssc.test.Raw")
    assert "-ssc.slice/" not in str(answer["cgroup"]), answer
    assert held_scopes() == []
    journal = as_root("helper-journal").stdout.splitlines()
    refusals = [line for line in journal if line.startswith("StartScope refused")]
    assert refusals, journal[-20:]
    assert "the caller left before polkit answered" in refusals[-1], journal[-20:]


def test_with_polkitd_stopped_the_helper_refuses_and_creates_nothing() -> None:
    stopped = as_root("polkit-stop")
    assert stopped.returncode == 0, stopped.stderr
    try:
        answer = call("start")
        assert answer.get("error") == "org.ssc.Helper1.Error.PolkitUnavailable", answer
        assert held_scopes() == []
    finally:
        started = as_root("polkit-start")
        assert started.returncode == 0, started.stderr


def test_a_burst_beyond_the_rate_limit_is_refused() -> None:
    time.sleep(10)  # a window of its own: the calls of the tests before have aged out
    errors = call("burst", "60")["errors"]
    assert isinstance(errors, list)
    assert errors.count("org.ssc.Helper1.Error.ForbiddenProperty") == 50, errors
    assert errors.count("org.ssc.Helper1.Error.RateLimited") == 10, errors
    time.sleep(10)  # and the tests after get theirs


# --- from inside a held app, nothing lifts its limits ----------------------------------------

ESCAPES = r"""
import json, os, subprocess, sys
own = open('/proc/self/cgroup').read().strip()[3:]
d = '/sys/fs/cgroup' + own
uid = os.getuid()
outcomes = {}
def attempt(name, action):
    try:
        action()
        outcomes[name] = 'done'
    except OSError as error:
        outcomes[name] = error.strerror
def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
attempt('memory.max', lambda: write(d + '/memory.max', 'max'))
app_slice = f'/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/app.slice'
attempt('move', lambda: write(app_slice + '/cgroup.procs', str(os.getpid())))
unit = own.rsplit('/', 1)[1]
set_property = subprocess.run(['systemctl', '--user', 'set-property', unit, 'MemoryMax=2G'],
                              capture_output=True, text=True)
outcomes['set-property'] = set_property.returncode
run = subprocess.run(['systemd-run', '--user', '--scope', '-q', '--unit=' + sys.argv[2],
                      'cat', '/proc/self/cgroup'],
                     capture_output=True, text=True)
outcomes['systemd-run'] = [run.returncode, run.stdout.strip()]
# What a user manager asks the system manager when it cannot move a process itself, asked
# directly: into a cgroup of the user's own manager (user@UID.service is delegated to it).
for interface, path, method, args in (
    ('org.freedesktop.systemd1.Manager', '/org/freedesktop/systemd1', 'AttachProcessesToUnit',
     ['ssau', f'user@{uid}.service', '/escape', '1', str(os.getpid())]),
    ('org.freedesktop.systemd1.Service', f'/org/freedesktop/systemd1/unit/user_40{uid}_2eservice',
     'AttachProcesses', ['sau', '/escape', '1', str(os.getpid())]),
):
    attach = subprocess.run(['busctl', 'call', 'org.freedesktop.systemd1', path, interface,
                             method, *args], capture_output=True, text=True)
    outcomes[method] = [attach.returncode, attach.stderr.strip()]
raised = subprocess.run(['sscctl', 'set', unit, '--memory=2G'], capture_output=True, text=True)
outcomes['sscctl-raise'] = [raised.returncode, raised.stderr.strip()]
again = subprocess.run([sys.executable, sys.argv[1], 'start'], capture_output=True, text=True)
outcomes['start-again'] = json.loads(again.stdout)
outcomes['after'] = open('/proc/self/cgroup').read().strip()[3:] == own
outcomes['memory.max now'] = open(d + '/memory.max').read().strip()
print(json.dumps(outcomes))
"""


ESCAPE_SCOPE = "ssc-test-escape.scope"  # systemd-run's, refused


def test_from_inside_a_held_app_nothing_lifts_its_limits_or_moves_it(held_profile: str) -> None:
    result = subprocess.run(
        [
            "ssc",
            f"--isolation={held_profile}",
            "--name=org.ssc.test.Escape",
            "--",
            sys.executable,
            "-c",
            ESCAPES,
            str(CALLER),
            ESCAPE_SCOPE,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # The refused scope stays failed in the user manager: the session would read "degraded".
    subprocess.run(["systemctl", "--user", "reset-failed", ESCAPE_SCOPE], capture_output=True)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert outcomes["memory.max"] == "Permission denied", outcomes
    assert outcomes["move"] == "Permission denied", outcomes
    assert outcomes["set-property"] != 0, outcomes
    assert outcomes["systemd-run"][0] != 0, outcomes  # what Chromium does, refused
    assert outcomes["AttachProcessesToUnit"][0] != 0, outcomes
    assert "Access denied" in outcomes["AttachProcessesToUnit"][1], outcomes  # the bus's policy
    assert outcomes["AttachProcesses"][0] != 0, outcomes
    assert "Access denied" in outcomes["AttachProcesses"][1], outcomes
    assert outcomes["sscctl-raise"][0] != 0, outcomes
    assert outcomes["start-again"]["error"] == "org.ssc.Helper1.Error.AlreadyHeld", outcomes
    assert outcomes["after"] is True, outcomes
    assert outcomes["memory.max now"] == str(512 * MiB), outcomes


# --- the install command, and ssc without the helper -----------------------------------------


def test_install_refuses_a_helper_path_a_user_can_write_and_uninstall_leaves_nothing(
    held_profile: str,
) -> None:
    try:
        refused = as_root("helper-install-with-user-file")
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        message = refused.stderr.strip()
        assert message.startswith("ssc-helper: refusing"), message
        assert "\n" not in message, message
        assert "checks.py" in message

        removed = as_root("helper-uninstall")
        assert removed.returncode == 0, removed.stderr
        assert [path for path in INSTALLED if os.path.exists(path)] == []
        listed = subprocess.run(["pkaction"], capture_output=True, text=True).stdout
        assert "org.ssc.helper" not in listed
        units = subprocess.run(
            ["systemctl", "list-unit-files", "ssc-helper.service"], capture_output=True, text=True
        )
        assert "ssc-helper.service" not in units.stdout

        without = subprocess.run(
            ["ssc", f"--isolation={held_profile}", "--", "true"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert without.returncode != 0
        assert "system helper is not installed" in without.stderr, without.stderr
        assert "Traceback" not in without.stderr
        assert held_scopes() == []
    finally:
        restored = as_root("helper-install")
        assert restored.returncode == 0, restored.stderr
    listed = subprocess.run(
        ["pkaction", "--action-id", "org.ssc.helper.contain"], capture_output=True, text=True
    )
    assert listed.returncode == 0
    assert "org.ssc.helper.contain" in listed.stdout
