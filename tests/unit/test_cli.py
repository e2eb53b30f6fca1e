"""The launcher's command line: parsing, exit codes, refusals before any D-Bus call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ssc.launcher.supervise
import ssc.user_manager.transient_units
from ssc import __version__
from ssc.errors import UsageError
from ssc.launcher.cli import HELP, main, parse_args
from ssc.launcher.launch import Request
from ssc.launcher.launch_plan import effective_limits
from ssc.limits import AllButOne, Bytes, Percent
from ssc.profiles import Limits, Profile

GIB = 1024**3


class DBusReached(BaseException):
    """Raised by the fake ``connect``: a BaseException, so ``main``'s error handling lets it by."""


@pytest.fixture(autouse=True)
def no_dbus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test here may reach the bus; only the built-in profiles exist."""

    def connect() -> None:
        raise DBusReached("ssc.user_manager.transient_units.connect was called")

    monkeypatch.setattr(ssc.user_manager.transient_units, "connect", connect)
    # No fork in the unit tier: the checks run here as they would in the child (the split
    # itself is proven against real processes in the integration tier).
    monkeypatch.setattr(ssc.launcher.supervise, "split", lambda on_exit=None: None)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))  # no agent listens there
    # An ordinary user, whoever runs the tests (CI runs them as root, which ssc refuses).
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return captured.err.splitlines()


@pytest.mark.parametrize(
    ("argv", "request_"),
    [
        (["firefox"], Request(command=["firefox"], profile="strict")),
        (
            ["--isolation=relaxed", "/bin/bash", "-i"],
            Request(command=["/bin/bash", "-i"], profile="relaxed"),
        ),
        (
            ["--isolation", "relaxed", "/bin/bash", "-i"],
            Request(command=["/bin/bash", "-i"], profile="relaxed"),
        ),
        (
            ["--cpu=150%", "--memory=4G", "--", "make", "-j8"],
            Request(command=["make", "-j8"], profile="strict", cpu=15000, memory=Bytes(4 * GIB)),
        ),
        (
            ["--cpu", "150%", "--memory", "4G", "make", "-j8"],
            Request(command=["make", "-j8"], profile="strict", cpu=15000, memory=Bytes(4 * GIB)),
        ),
        (
            ["--name=org.mozilla.firefox", "firefox", "--private-window"],
            Request(
                command=["firefox", "--private-window"],
                profile="strict",
                name="org.mozilla.firefox",
            ),
        ),
        (
            ["--memory=60%", "--cpu=all-but-one", "x"],
            Request(command=["x"], profile="strict", cpu=AllButOne(), memory=Percent(6000)),
        ),
        (["--debug", "bash"], Request(command=["bash"], profile="strict", debug=True)),
        # Everything after the command belongs to the command.
        (["bash", "--debug"], Request(command=["bash", "--debug"], profile="strict")),
        (
            ["firefox", "--isolation=relaxed", "--cpu=abc"],
            Request(command=["firefox", "--isolation=relaxed", "--cpu=abc"], profile="strict"),
        ),
        (["ls", "--help"], Request(command=["ls", "--help"], profile="strict")),
        (["ls", "--", "-l"], Request(command=["ls", "--", "-l"], profile="strict")),
        # "--" ends the options: what follows is the command, even if it looks like an option.
        (["--", "--debug"], Request(command=["--debug"], profile="strict")),
        (["--", "--", "x"], Request(command=["--", "x"], profile="strict")),
        (["--debug", "--", "-x", "y"], Request(command=["-x", "y"], profile="strict", debug=True)),
        (["-", "x"], Request(command=["-", "x"], profile="strict")),
        # A value option takes the next word, whatever it looks like.
        (["--name", "--debug", "x"], Request(command=["x"], profile="strict", name="--debug")),
        # The last of a repeated option wins, as with systemd-run -p.
        (["--cpu=50%", "--cpu=150%", "x"], Request(command=["x"], profile="strict", cpu=15000)),
        (["--name=a=b", "x"], Request(command=["x"], profile="strict", name="a=b")),
    ],
)
def test_options_come_before_the_command(argv: list[str], request_: Request) -> None:
    assert parse_args(argv) == request_


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no command given"),
        (["--"], "no command given"),
        (["--debug"], "no command given"),
        (["--isolation=relaxed"], "no command given"),
        (["--bogus", "x"], "unknown option '--bogus'"),
        (["--bogus=1", "x"], "unknown option '--bogus'"),
        (["-x", "firefox"], "unknown option '-x'"),
        (["--debug=yes", "x"], "option --debug takes no value"),
        (["--cpu"], "option --cpu needs a value"),
        (["--memory"], "option --memory needs a value"),
        (["--name"], "option --name needs a value"),
        (["--isolation"], "option --isolation needs a value"),
        (["", "x"], "the command is an empty word"),
        (["--", ""], "the command is an empty word"),
        (["--name=", "x"], "--name must not be empty"),
        (["--name", "", "x"], "--name must not be empty"),
        (["--name=  ", "x"], "--name must not be empty"),
        (["--memory", "--", "x"], "invalid --memory"),
    ],
)
def test_usage_errors_are_refused_while_parsing(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_args(argv)
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--help", "firefox"], ["--cpu=1%", "-h"]])
def test_help_prints_the_usage_and_exits_0(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == HELP
    assert captured.err == ""


def test_help_explains_profiles_limits_and_the_examples() -> None:
    for text in [
        "Usage: ssc [OPTIONS] [--] COMMAND [ARG]...",
        "--isolation=PROFILE",
        "strict",
        "relaxed",
        "--cpu=QUOTA",
        "--memory=SIZE",
        "--name=APP_ID",
        "ssc --isolation=strict firefox",
        "ssc --isolation=relaxed /bin/bash -i",
        "ssc --cpu=150% --memory=4G -- make -j8",
        "ssc --name=org.mozilla.firefox firefox --private-window",
    ]:
        assert text in HELP


def test_version_prints_the_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ssc {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--bogus", "x"],
        ["--cpu"],
        ["--name=", "true"],
        ["", "x"],
        ["--isolation=../etc", "true"],
        ["--isolation=", "true"],
    ],
)
def test_usage_errors_exit_2_with_one_message_line_and_no_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    lines = stderr_lines(capsys)
    assert lines[0].startswith("ssc: ")
    assert all(line.startswith("Hint: ") for line in lines[1:]), lines
    assert len(lines) <= 2


BAD_CPU = ["0", "abc", "-5%", "0%", "0.5%", "", " 50%", "50 %", "150%;Delegate=yes", "50%\n"]
BAD_MEMORY = [
    "0",
    "abc",
    "-5%",
    "1G;Delegate=yes",
    "1G\n",
    "4G\nDelegate=yes",
    "15M",
    "101%",
    "0%",
    "",
    " 4G",
    "4 G",
    "4g",
]


def option_argv(option: str, value: str, joined: bool) -> list[str]:
    return [f"{option}={value}", "true"] if joined else [option, value, "true"]


@pytest.mark.parametrize("value", BAD_CPU)
@pytest.mark.parametrize("joined", [True, False], ids=["--opt=value", "--opt value"])
def test_bad_cpu_quota_exits_2_before_any_dbus_call(
    value: str, joined: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(option_argv("--cpu", value, joined)) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1  # a newline in the value is shown escaped, never as a second line
    assert lines[0].startswith(f"ssc: invalid --cpu: {value!r} ")


@pytest.mark.parametrize("value", BAD_MEMORY)
@pytest.mark.parametrize("joined", [True, False], ids=["--opt=value", "--opt value"])
def test_bad_memory_exits_2_before_any_dbus_call(
    value: str, joined: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(option_argv("--memory", value, joined)) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1
    assert lines[0].startswith(f"ssc: invalid --memory: {value!r} ")


def test_an_unknown_profile_exits_2_listing_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--isolation=nope", "true"]) == 2
    lines = stderr_lines(capsys)
    assert lines[0] == "ssc: unknown profile 'nope' (known: relaxed, strict)"


@pytest.mark.parametrize("isolation", ["strict", "relaxed"])
@pytest.mark.parametrize("command", ["no-such-program-ssc-test", "/nonexistent/ssc-test"])
def test_a_missing_command_exits_127_before_any_dbus_call(
    isolation: str,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main([f"--isolation={isolation}", command, "--arg"]) == 127
    assert stderr_lines(capsys) == [f"ssc: {command}: command not found"]


@pytest.fixture
def not_executable(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "script"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("isolation", ["strict", "relaxed"])
def test_a_non_executable_file_exits_126_before_any_dbus_call(
    isolation: str, not_executable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([f"--isolation={isolation}", str(not_executable)]) == 126
    assert stderr_lines(capsys) == [f"ssc: {not_executable}: permission denied (not executable)"]


def test_a_non_executable_file_found_on_path_exits_126(
    not_executable: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(not_executable.parent))
    assert main(["script"]) == 126
    assert stderr_lines(capsys) == [f"ssc: {not_executable}: permission denied (not executable)"]


def test_a_directory_as_command_exits_126_before_any_dbus_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--isolation=relaxed", str(tmp_path)]) == 126
    assert stderr_lines(capsys) == [f"ssc: {tmp_path}: is a directory"]


def test_a_valid_launch_does_reach_the_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard above sits where the bus is first used: a good request gets that far."""
    program = tmp_path / "prog"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    with pytest.raises(DBusReached):
        main(["--isolation=relaxed", "--cpu=50%", "--memory=1G", "prog"])


STRICT = Profile(
    name="strict",
    isolate=True,
    limits=Limits(
        cpu_quota=AllButOne(),
        memory_max=Percent(7000),
        memory_high=Percent(6500),
        memory_swap_max=Percent(500),
    ),
)


@pytest.mark.parametrize(
    ("cpu", "memory", "limits"),
    [
        (None, None, STRICT.limits),
        (
            None,
            Bytes(4 * GIB),
            Limits(cpu_quota=AllButOne(), memory_max=Bytes(4 * GIB), memory_swap_max=Percent(500)),
        ),
        (
            None,
            Percent(5000),
            Limits(cpu_quota=AllButOne(), memory_max=Percent(5000), memory_swap_max=Percent(500)),
        ),
        (
            15000,
            None,
            Limits(
                cpu_quota=15000,
                memory_max=Percent(7000),
                memory_high=Percent(6500),
                memory_swap_max=Percent(500),
            ),
        ),
        (
            15000,
            Bytes(4 * GIB),
            Limits(cpu_quota=15000, memory_max=Bytes(4 * GIB), memory_swap_max=Percent(500)),
        ),
    ],
)
def test_memory_replaces_the_ceiling_and_drops_memory_high_and_cpu_replaces_the_quota(
    cpu: int | None, memory: Bytes | Percent | None, limits: Limits
) -> None:
    request = Request(command=["x"], profile="strict", cpu=cpu, memory=memory)
    assert effective_limits(STRICT, request) == limits


def test_cpu_override_applies_to_a_profile_without_a_quota() -> None:
    relaxed = Profile(name="relaxed", limits=Limits(memory_max=Percent(7000)))
    request = Request(command=["x"], profile="relaxed", cpu=AllButOne())
    assert effective_limits(relaxed, request) == Limits(
        cpu_quota=AllButOne(), memory_max=Percent(7000)
    )


@pytest.mark.parametrize(
    ("command", "name", "expected"),
    [
        (["/usr/bin/firefox", "--private-window"], None, "firefox"),
        (["firefox-esr"], None, "firefox-esr"),
        (["./build/app"], None, "app"),
        (["/usr/bin/firefox"], "org.mozilla.firefox", "org.mozilla.firefox"),
        (["bash"], "../x", "../x"),
        (["/"], None, "/"),  # no basename: the word itself, still escaped later
        (["dir/"], None, "dir/"),
    ],
)
def test_app_id_is_the_name_option_else_the_program_basename(
    command: list[str], name: str | None, expected: str
) -> None:
    assert Request(command=command, profile="strict", name=name).app_id() == expected


def test_root_is_refused_in_one_line_before_any_dbus_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert main(["--isolation=relaxed", "true"]) == 1
    first, hint = stderr_lines(capsys)
    assert first.startswith("ssc: refusing to run as root")
    assert hint.startswith("Hint: run it as your desktop user")
