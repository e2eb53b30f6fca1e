"""strict works with the apps people run: one /tmp per app, handed files, each app's bus needs.

A real single-instance browser (Debian's Chromium) started twice hands over to the running
one; two instances of one app share their /tmp and nobody else sees it, and it is gone after
the last instance, however it ended; a file under the host's /tmp that the command line names
is visible, and nothing else there is; only KeePassXC's ID may own the keyring's name; and
"Open with" from a strict GLib program reaches a D-Bus-activatable app outside the sandbox,
which can read the file the strict app saved in its temporary directory.
"""

from __future__ import annotations

import errno
import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from .conftest import require, xvfb

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
RUNTIME = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")
APPS = RUNTIME / "ssc" / "apps"
MARK = f"ssc-real-apps-{os.getpid()}"


def ssc(
    *arguments: str, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssc", *arguments], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def start_instance(app: str, script: str) -> subprocess.Popen[str]:
    """A strict instance of ``app`` running ``script``, once it has printed ``ready``."""
    instance = subprocess.Popen(
        ["ssc", "--isolation=strict", f"--name={app}", "--", "sh", "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert instance.stdout is not None
    assert instance.stdout.readline().strip() == "ready"
    return instance


def wait_until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


# --- one /tmp per app --------------------------------------------------------------------------


def test_two_instances_of_one_app_share_its_tmp_and_no_one_else_sees_it(user_manager: str) -> None:
    app = "org.example.Shared"
    first = start_instance(app, f"echo first > /tmp/{MARK}; echo ready; exec sleep 300")
    try:
        second = ssc("--isolation=strict", f"--name={app}", "--", "cat", f"/tmp/{MARK}")
        assert (second.returncode, second.stdout) == (0, "first\n"), second.stderr
        # TMPDIR names the same directory at its real path, which exists outside too.
        tmpdir = ssc("--isolation=strict", f"--name={app}", "--", "sh", "-c", "echo $TMPDIR")
        real = Path(tmpdir.stdout.strip())
        assert real == APPS / app / "tmp"
        assert (real / MARK).read_text() == "first\n"
        # Not the host's /tmp, and not another app's: neither its /tmp nor its real path.
        assert not Path("/tmp", MARK).exists()
        other = ssc(
            *("--isolation=strict", "--name=org.example.Other", "--", "sh", "-c"),
            f'test ! -e /tmp/{MARK} && test ! -e "{real}" && ls -A "{APPS}"',
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.split() == ["org.example.Other"]
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert not (APPS / app).exists(), "the app's /tmp outlived its last instance"


@pytest.mark.parametrize("ending", ["exits", "is killed with SIGKILL"])
def test_the_apps_tmp_is_gone_once_its_last_instance_has_ended(
    user_manager: str, ending: str
) -> None:
    app = "org.example.Ends"
    instance = start_instance(app, f"echo x > /tmp/{MARK}; echo ready; exec sleep 300")
    assert (APPS / app / "tmp" / MARK).exists()
    if ending == "exits":
        os.kill(_program_pid(app), signal.SIGTERM)
    else:
        unit = _unit_of(app)
        subprocess.run(["systemctl", "--user", "kill", "--signal=KILL", unit], check=True)
    instance.wait(timeout=60)
    assert not (APPS / app).exists(), f"the app's /tmp is left after the app {ending}"


def test_a_tmp_whose_supervisor_was_killed_goes_at_the_next_strict_launch(
    user_manager: str,
) -> None:
    app = "org.example.Orphan"
    instance = start_instance(app, f"echo x > /tmp/{MARK}; echo ready; exec sleep 300")
    instance.send_signal(signal.SIGKILL)  # the supervisor: the kernel kills the app with it
    instance.wait(timeout=60)
    wait_until(lambda: not _pids_in_scope_of(app), 30, "the app outlived its supervisor")
    assert (APPS / app / "tmp" / MARK).exists()  # nobody was left to remove it
    result = ssc("--isolation=strict", "--name=org.example.Next", "true")
    assert result.returncode == 0, result.stderr
    assert not (APPS / app).exists()


def _unit_of(app: str) -> str:
    listing = subprocess.run(
        ["systemctl", "--user", "list-units", "--plain", "--no-legend", f"app-ssc-{app}-*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listing, f"no scope of {app}"
    return listing[0]


def _pids_in_scope_of(app: str) -> list[int]:
    found = []
    for procs in Path("/sys/fs/cgroup").glob(f"user.slice/**/app-ssc-{app}-*.scope/cgroup.procs"):
        # A scope removed between the listing and the reading has no PIDs left: its file is
        # gone (ENOENT), or its cgroup goes while the file is open (ENODEV, seen in CI).
        try:
            found += [int(pid) for pid in procs.read_text().split()]
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ENODEV):
                raise
    return found


def _program_pid(app: str) -> int:
    """The program bwrap runs in the app's scope: the process whose comm is ``sleep``."""
    for pid in _pids_in_scope_of(app):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
            return pid
    raise AssertionError(f"no sleep in {app}'s scope")


# --- files handed over -------------------------------------------------------------------------


@pytest.fixture
def host_tmp_files() -> Iterator[tuple[Path, Path]]:
    """A file that is handed to the app, and one beside it that is not."""
    handed = Path("/tmp", f"{MARK} attachment.txt")
    other = Path("/tmp", f"{MARK}-other.txt")
    handed.write_text("handed\n")
    other.write_text("other\n")
    yield handed, other
    handed.unlink()
    other.unlink()


def test_a_host_tmp_file_named_by_path_or_uri_is_readable_and_nothing_else_is(
    user_manager: str, host_tmp_files: tuple[Path, Path]
) -> None:
    handed, other = host_tmp_files
    uri = "file://" + str(handed).replace(" ", "%20")
    # The files are read by the paths in the environment: only the argument names one.
    script = 'cat "$HANDED"; for f in /tmp/*; do echo "seen $f"; done; cat "$OTHER" || true'
    for named in (str(handed), uri):
        result = ssc(
            *("--isolation=strict", "--name=org.example.Viewer", "--", "sh", "-c", script),
            *("viewer", named),
            env={**os.environ, "HANDED": str(handed), "OTHER": str(other)},
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "handed"
        assert f"seen {handed}" in lines
        assert "other" not in lines, lines
        assert f"seen {other}" not in lines, lines


def test_without_the_file_named_the_host_tmp_file_is_not_there(
    user_manager: str, host_tmp_files: tuple[Path, Path]
) -> None:
    handed, _ = host_tmp_files
    result = ssc("--isolation=strict", "--", "sh", "-c", f"cat '{handed}'")
    assert result.returncode != 0
    assert "No such file" in result.stderr


# --- the bus: per-app entries ------------------------------------------------------------------

OWN_KEYRING = textwrap.dedent("""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection
    with open_dbus_connection(bus="SESSION") as bus:
        reply = bus.send_and_get_reply(
            message_bus.RequestName("org.freedesktop.secrets", 4), timeout=30)
        print(reply.header.message_type.name, *reply.body)
""")


@pytest.mark.parametrize(
    ("app", "owns"), [("org.keepassxc.KeePassXC", True), ("org.example.Other", False)]
)
def test_only_keepassxcs_id_may_own_the_keyrings_name(
    user_manager: str, app: str, owns: bool
) -> None:
    result = ssc("--isolation=strict", f"--name={app}", "--", sys.executable, "-c", OWN_KEYRING)
    assert result.returncode == 0, result.stderr
    if owns:
        assert result.stdout.split() == ["method_return", "1"]  # the primary owner
    else:
        assert result.stdout.startswith("error"), result.stdout


# --- Open with: a D-Bus-activatable app --------------------------------------------------------

OPENER = "org.ssc.test.Opener"


@pytest.fixture
def activatable_opener(tmp_path: Path) -> Iterator[Path]:
    """An installed D-Bus-activatable app, the default for text files and x-ssc-test: links."""
    record = tmp_path / "opened.jsonl"
    data = Path.home() / ".local/share"
    entry = data / "applications" / f"{OPENER}.desktop"
    service = data / "dbus-1/services" / f"{OPENER}.service"
    mimeapps = Path.home() / ".config/mimeapps.list"
    saved = mimeapps.read_text() if mimeapps.exists() else None
    for path in (entry, service, mimeapps):
        path.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(
        "[Desktop Entry]\nType=Application\nName=Opener\nExec=/bin/false %U\n"
        "DBusActivatable=true\nMimeType=text/plain;x-scheme-handler/x-ssc-test;\n"
    )
    opener = PROJECT / "tests/integration/standins/opener.py"
    service.write_text(
        f"[D-BUS Service]\nName={OPENER}\n"
        f"Exec={sys.executable} {opener} --name {OPENER} --record {record}\n"
    )
    mimeapps.write_text(
        "[Default Applications]\n"
        f"text/plain={OPENER}.desktop\nx-scheme-handler/x-ssc-test={OPENER}.desktop\n"
    )
    _reload_session_bus()
    yield record
    entry.unlink()
    service.unlink()
    if saved is None:
        mimeapps.unlink()
    else:
        mimeapps.write_text(saved)
    _reload_session_bus()


def _reload_session_bus() -> None:
    subprocess.run(
        [
            *("busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus"),
            *("org.freedesktop.DBus", "ReloadConfig"),
        ],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize(
    ("what", "script"),
    [
        ("a link", "gio open x-ssc-test:hello"),
        (
            "a file saved in its TMPDIR",
            'echo saved > "$TMPDIR/note.txt"; gio open "$TMPDIR/note.txt"',
        ),
    ],
)
def test_open_with_from_strict_reaches_an_activatable_app_outside(
    user_manager: str, activatable_opener: Path, what: str, script: str
) -> None:
    require("gio")
    app = "org.example.Mail"
    result = ssc("--isolation=strict", f"--name={app}", "--", "sh", "-c", f"{script}; sleep 1")
    assert result.returncode == 0, result.stderr
    wait_until(activatable_opener.exists, 60, f"{what} never reached the activatable app")
    (record,) = [json.loads(line) for line in activatable_opener.read_text().splitlines()]
    assert record["method"] == "Open"
    assert f"app-ssc-{app}-" not in record["cgroup"]  # started by the bus, not in the sandbox
    if what == "a link":
        assert record["uris"] == ["x-ssc-test:hello"]
    else:
        (uri,) = record["uris"]
        assert uri == f"file://{APPS / app / 'tmp' / 'note.txt'}"
        assert record["readable"] == [True]  # the path the app handed out is real outside


# --- a real single-instance browser ------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--ozone-platform=x11",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--password-store=basic",
)


class _Requests(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"<html><title>ssc</title></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    """A local web server: its base URL, and the paths asked for so far."""
    seen: list[str] = []
    handler = type("Handler", (_Requests,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("isolation", ["strict", "relaxed"])
def test_a_second_chromium_start_hands_its_link_to_the_running_one(
    user_manager: str, tmp_path: Path, web_server: tuple[str, list[str]], isolation: str
) -> None:
    chromium = require("chromium")
    base, seen = web_server
    profile = tmp_path / "profile"
    # Two CPUs, not strict's one: under the bed's software emulation a core is some 30 times
    # slower than a real one, and with one of them Chromium's first network service start
    # does not finish in time (it is restarted, and the first page is lost). Measured in the
    # bed: one core, the page never loads in 100 s; two, it loads in 30 s.
    command = [
        *("ssc", f"--isolation={isolation}", "--cpu=200%", "--name=chromium", "--", chromium),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
    ]
    with xvfb("7") as display:
        environ = {**os.environ, "DISPLAY": display}
        log = (tmp_path / "first.log").open("w")
        started = time.monotonic()
        first = subprocess.Popen(
            [*command, f"{base}/first"], stdout=log, stderr=log, env=environ, text=True
        )
        try:
            wait_until(lambda: "/first" in seen, 400, "the first browser never loaded its page")
            print(f"first start: page loaded after {time.monotonic() - started:.1f}s")
            started = time.monotonic()
            second = subprocess.run(
                [*command, f"{base}/second"],
                capture_output=True,
                text=True,
                env=environ,
                timeout=120,
            )
            print(
                f"second start: exited {second.returncode} after {time.monotonic() - started:.1f}s"
            )
            assert second.returncode == 0, second.stderr[-2000:]
            assert "Opening in existing browser session" in second.stdout + second.stderr
            wait_until(lambda: "/second" in seen, 60, "the running browser never opened the link")
            assert first.poll() is None, "the first browser did not keep running"
        finally:
            first.terminate()
            try:
                first.wait(timeout=60)
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait(timeout=60)
            log.close()
            print((tmp_path / "first.log").read_text()[-3000:])


def test_ssc_started_from_inside_a_strict_app_runs_there_and_says_so(user_manager: str) -> None:
    """ "Open with" a contained viewer from a strict app: the viewer's ssc cannot reach the
    user manager from the sandbox, so it runs the viewer where it is instead of failing."""
    inner = "ssc --isolation=strict --name=org.example.Viewer -- cat /proc/self/cgroup"
    result = ssc("--isolation=strict", "--name=org.example.Mail", "--", "sh", "-c", inner)
    assert result.returncode == 0, result.stderr
    assert "/app-ssc-org.example.Mail-" in result.stdout
    assert "org.example.Viewer runs inside app-ssc-org.example.Mail-" in result.stderr
