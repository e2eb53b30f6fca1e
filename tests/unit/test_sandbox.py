"""The strict sandbox's command line (pure), and what it reads from the host."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator

import pytest

import ssc.strict.sandbox
from ssc.strict.bus_proxy import ProxiedBus
from ssc.strict.sandbox import TMP_SOCKET_DIRS, SandboxHost, bwrap_argv, handed_paths, read_host

BWRAP = "/usr/bin/bwrap"
APP_TMP = "/run/user/1000/ssc/apps/org.example.App/tmp"
BASE = [BWRAP, "--dev-bind", "/", "/", "--bind", APP_TMP, "/tmp", "--setenv", "TMPDIR", APP_TMP]
# With a runtime directory: the rest of ssc's directory hidden, the app's /tmp at its real path.
RUNTIME_BASE = [
    *(BWRAP, "--dev-bind", "/", "/", "--bind", APP_TMP, "/tmp"),
    *("--tmpfs", "/run/user/1000/ssc", "--bind", APP_TMP, APP_TMP),
    *("--setenv", "TMPDIR", APP_TMP),
]
CGROUP_READ_ONLY = ["--ro-bind", "/sys/fs/cgroup", "/sys/fs/cgroup"]


@pytest.mark.parametrize(
    ("host", "options"),
    [
        (SandboxHost((), None, False), ["--die-with-parent"]),
        (SandboxHost((), None, True), ["--die-with-parent", "--new-session"]),
        (
            SandboxHost(("/tmp/.X11-unix",), None, False),
            ["--bind", "/tmp/.X11-unix", "/tmp/.X11-unix", "--die-with-parent"],
        ),
        (
            SandboxHost(("/tmp/.X11-unix", "/tmp/.ICE-unix"), None, True),
            [
                "--bind",
                "/tmp/.X11-unix",
                "/tmp/.X11-unix",
                "--bind",
                "/tmp/.ICE-unix",
                "/tmp/.ICE-unix",
                "--die-with-parent",
                "--new-session",
            ],
        ),
        (
            SandboxHost(("/tmp/.X11-unix",), "/tmp/xauth_AbCd", False),
            [
                "--bind",
                "/tmp/.X11-unix",
                "/tmp/.X11-unix",
                "--ro-bind",
                "/tmp/xauth_AbCd",
                "/tmp/xauth_AbCd",
                "--die-with-parent",
            ],
        ),
        (
            SandboxHost((), "/tmp/.Xauthority-1000", True),
            [
                "--ro-bind",
                "/tmp/.Xauthority-1000",
                "/tmp/.Xauthority-1000",
                "--die-with-parent",
                "--new-session",
            ],
        ),
    ],
)
def test_bwrap_argv_is_exact(host: SandboxHost, options: list[str]) -> None:
    """(The cgroup tree is read-only whatever the host: it comes before --die-with-parent.)"""
    command = ["/usr/bin/firefox", "--private-window"]
    end = options.index("--die-with-parent")
    expected = [*BASE, *options[:end], *CGROUP_READ_ONLY, *options[end:], "--", *command]
    assert bwrap_argv(BWRAP, command, host, APP_TMP) == expected


RUNTIME = "/run/user/1000"
BUS = ProxiedBus("/run/user/1000/ssc/bus-00000000000000000042", 9)


@pytest.mark.parametrize(
    ("host", "bus", "options"),
    [
        # The manager's private socket is hidden; the proxy takes the bus socket's place.
        (
            SandboxHost((), None, False, RUNTIME, True, True),
            BUS,
            [
                *("--tmpfs", "/run/user/1000/systemd"),
                *("--bind", BUS.socket, "/run/user/1000/bus"),
                *("--setenv", "DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
                *("--sync-fd", "9"),
            ],
        ),
        # No bus socket to cover (a session bus elsewhere): the variable names the proxy.
        (
            SandboxHost((), None, False, RUNTIME, True, False),
            BUS,
            [
                *("--tmpfs", "/run/user/1000/systemd"),
                *("--bind", BUS.socket, BUS.socket),
                *("--setenv", "DBUS_SESSION_BUS_ADDRESS", f"unix:path={BUS.socket}"),
                *("--sync-fd", "9"),
            ],
        ),
        # No manager directory: nothing to hide (bwrap cannot mount over what is not there).
        (
            SandboxHost((), None, False, RUNTIME, False, True),
            BUS,
            [
                *("--bind", BUS.socket, "/run/user/1000/bus"),
                *("--setenv", "DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
                *("--sync-fd", "9"),
            ],
        ),
        (
            SandboxHost((), None, False, RUNTIME, True, True),
            None,
            ["--tmpfs", f"{RUNTIME}/systemd"],
        ),
    ],
)
def test_strict_hides_the_managers_socket_and_puts_the_proxy_in_the_bus_place(
    host: SandboxHost, bus: ProxiedBus | None, options: list[str]
) -> None:
    argv = bwrap_argv(BWRAP, ["/bin/app"], host, APP_TMP, bus)
    assert argv == [
        *RUNTIME_BASE,
        *CGROUP_READ_ONLY,
        *options,
        "--die-with-parent",
        "--",
        "/bin/app",
    ]


def test_the_cgroup_tree_is_read_only_after_the_whole_filesystem_is_bound() -> None:
    """Mounts apply in order: a later --dev-bind of / would undo the read-only cgroup tree."""
    argv = bwrap_argv(
        BWRAP, ["/bin/app"], SandboxHost((), None, False, RUNTIME, True, True), APP_TMP, BUS
    )
    assert argv.index("/sys/fs/cgroup") > argv.index("--dev-bind")
    assert argv.count("--dev-bind") == 1


@pytest.mark.parametrize(
    "command",
    [
        ["/bin/ls"],
        ["/bin/sh", "-c", "echo hi"],
        ["/usr/bin/app", "--", "--tmpfs", "/"],  # the command's own words stay the command's
        ["/usr/bin/app", "--bind", "/", "/tmp"],
        ["/usr/bin/app", ""],
    ],
)
@pytest.mark.parametrize(
    "host",
    [
        SandboxHost((), None, False),
        SandboxHost(TMP_SOCKET_DIRS, "/tmp/xauth", True),
    ],
)
def test_the_command_always_follows_the_first_double_dash(
    command: list[str], host: SandboxHost
) -> None:
    argv = bwrap_argv(BWRAP, command, host, APP_TMP)
    separator = argv.index("--")
    assert argv[separator + 1 :] == command
    assert argv[: len(BASE)] == BASE


@pytest.fixture
def host_without_x11(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose /tmp has no X11 or ICE socket directories."""
    monkeypatch.setattr("ssc.strict.sandbox.os.path.isdir", lambda path: False)


@pytest.mark.parametrize(
    ("environ", "xauthority"),
    [
        ({}, None),
        ({"XAUTHORITY": ""}, None),
        ({"XAUTHORITY": "/tmp/xauth_AbCd"}, "/tmp/xauth_AbCd"),
        ({"XAUTHORITY": "/tmp/sub/.Xauthority"}, "/tmp/sub/.Xauthority"),
        # Elsewhere it is still visible in the sandbox: only /tmp is replaced.
        ({"XAUTHORITY": "/home/u/.Xauthority"}, None),
        ({"XAUTHORITY": "/run/user/1000/gdm/Xauthority"}, None),
        # Paths that only look as if they were under /tmp are not bound.
        ({"XAUTHORITY": "/tmp/../home/u/.Xauthority"}, None),
        ({"XAUTHORITY": "/tmpfoo/xauth"}, None),
        ({"XAUTHORITY": "/tmp"}, None),
        ({"XAUTHORITY": "tmp/xauth"}, None),
    ],
)
def test_xauthority_is_bound_back_only_when_it_lives_under_tmp(
    host_without_x11: None, environ: dict[str, str], xauthority: str | None
) -> None:
    assert read_host(environ).xauthority == xauthority


def test_socket_dirs_are_the_ones_present_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ssc.strict.sandbox.os.path.isdir", lambda path: path == "/tmp/.X11-unix")
    assert read_host({}).socket_dirs == ("/tmp/.X11-unix",)


def test_no_socket_dirs_on_a_host_without_x11(host_without_x11: None) -> None:
    assert read_host({}).socket_dirs == ()


def test_read_host_does_not_change_the_environment_it_is_given(host_without_x11: None) -> None:
    environ = {"XAUTHORITY": "/home/u/.Xauthority", "DISPLAY": ":0"}
    read_host(environ)
    assert environ == {"XAUTHORITY": "/home/u/.Xauthority", "DISPLAY": ":0"}


def test_socket_dirs_are_under_tmp() -> None:
    # Only what the private /tmp hides needs binding back; anything else would widen the sandbox.
    assert all(os.path.dirname(d) == "/tmp" for d in TMP_SOCKET_DIRS)


@pytest.mark.parametrize(
    ("legacy_tiocsti", "new_session"),
    [("0\n", False), ("1\n", True), (None, True)],  # None: a kernel before 6.2, no such file
)
def test_a_new_session_is_asked_for_unless_the_kernel_refuses_tiocsti(
    host_without_x11: None,
    monkeypatch: pytest.MonkeyPatch,
    legacy_tiocsti: str | None,
    new_session: bool,
) -> None:
    def fake_open(path: str, *args: object, **kwargs: object) -> io.StringIO:
        assert path == "/proc/sys/dev/tty/legacy_tiocsti"
        if legacy_tiocsti is None:
            raise FileNotFoundError(path)
        return io.StringIO(legacy_tiocsti)

    monkeypatch.setattr(ssc.strict.sandbox, "open", fake_open, raising=False)
    host = read_host({})
    assert host.terminal_injection_possible is new_session
    assert ("--new-session" in bwrap_argv(BWRAP, ["/bin/true"], host, APP_TMP)) is new_session


def test_the_apps_own_tmp_takes_the_place_of_the_hosts() -> None:
    argv = bwrap_argv(BWRAP, ["/bin/app"], SandboxHost((), None, False), APP_TMP)
    assert argv[4:7] == ["--bind", APP_TMP, "/tmp"]
    assert "--tmpfs" not in argv[: argv.index("--")]


@pytest.mark.parametrize(
    ("arguments", "paths"),
    [
        (["/tmp/a.pdf"], ["/tmp/a.pdf"]),
        (["--new-window", "/tmp/mozilla_u0/x y.txt"], ["/tmp/mozilla_u0/x y.txt"]),
        (["file:///tmp/a%20b.pdf"], ["/tmp/a b.pdf"]),
        (["file://localhost/tmp/a.pdf"], ["/tmp/a.pdf"]),
        (["file:/tmp/a.pdf"], ["/tmp/a.pdf"]),
        (["file:///tmp/a.html#top", "file:///tmp/b.html?q=1"], ["/tmp/a.html", "/tmp/b.html"]),
        (["/tmp/./d/../a.pdf", "/tmp/a.pdf"], ["/tmp/a.pdf"]),  # normalised, and once
        # Never the whole of the host's /tmp, nor what is not under it, nor another host's file.
        (["/tmp", "/tmp/", "/tmp/..", "/tmp/../etc/passwd", "/tmpfoo/a"], []),
        (["file:///tmp", "file:///tmp/../etc", "file://otherhost/tmp/a.pdf"], []),
        (["https://example.org/tmp/a.pdf", "tmp/a.pdf", "-o/tmp/a.pdf"], []),
        # The socket directories are bound in already.
        (["/tmp/.X11-unix/X0", "/tmp/.ICE-unix"], []),
    ],
)
def test_handed_paths_are_the_host_tmp_paths_and_uris_the_command_names(
    arguments: list[str], paths: list[str]
) -> None:
    assert handed_paths(arguments) == paths


@pytest.fixture
def host_tmp_dir() -> Iterator[str]:
    """A real directory under the host's /tmp (whatever TMPDIR says)."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="ssc-test-") as directory:
        yield directory


def test_a_handed_file_under_tmp_is_bound_at_the_same_path(
    host_without_x11: None, host_tmp_dir: str
) -> None:
    present = os.path.join(host_tmp_dir, "attachment.pdf")
    with open(present, "w") as f:
        f.write("x")
    missing = os.path.join(host_tmp_dir, "missing.pdf")
    host = read_host({}, None, ["--flag", present, f"file://{missing}", f"file://{host_tmp_dir}"])
    assert host.handed == ((present, present), (host_tmp_dir, host_tmp_dir))
    argv = bwrap_argv(BWRAP, ["/bin/viewer", present], host, APP_TMP)
    # After the app's own /tmp, over it.
    assert argv[len(BASE) : len(BASE) + 6] == [
        *("--bind", present, present),
        *("--bind", host_tmp_dir, host_tmp_dir),
    ]


def test_a_handed_symlink_is_bound_as_what_it_names_unless_that_shows_the_host_tmp(
    host_without_x11: None, host_tmp_dir: str
) -> None:
    target = os.path.join(host_tmp_dir, "real.txt")
    with open(target, "w") as f:
        f.write("x")
    to_file = os.path.join(host_tmp_dir, "link.txt")
    os.symlink(target, to_file)
    to_root = os.path.join(host_tmp_dir, "root")
    os.symlink("/", to_root)
    to_tmp = os.path.join(host_tmp_dir, "tmp")
    os.symlink("/tmp", to_tmp)
    host = read_host({}, None, [to_file, to_root, to_tmp])
    assert host.handed == ((target, to_file),)


@pytest.mark.parametrize(
    ("tmpdir", "own"),
    [(None, False), ("", False), ("/tmp", False), ("/tmp/me", False), ("/var/tmp/me", True)],
)
def test_tmpdir_names_the_apps_tmp_unless_the_user_keeps_one_the_sandbox_shows(
    host_without_x11: None, tmpdir: str | None, own: bool
) -> None:
    environ = {} if tmpdir is None else {"TMPDIR": tmpdir}
    host = read_host(environ, RUNTIME)
    assert host.own_tmpdir is own
    argv = bwrap_argv(BWRAP, ["/bin/app"], host, APP_TMP)
    assert (argv[12:15] == ["--setenv", "TMPDIR", APP_TMP]) is not own


def test_the_other_apps_tmp_is_hidden_but_a_file_in_it_the_command_names_is_bound() -> None:
    other = f"{RUNTIME}/ssc/apps/org.example.Mail/tmp/attachment.pdf"
    roots = ("/tmp", f"{RUNTIME}/ssc")
    assert handed_paths([other, f"file://{other}", f"{RUNTIME}/ssc", f"{RUNTIME}/x"], roots) == [
        other
    ]
