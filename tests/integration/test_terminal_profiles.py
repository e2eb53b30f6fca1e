"""``sscctl terminal`` against the real schemas of GNOME Terminal and Ptyxis, stored in dconf
over the session bus, and the profile's command giving a shell in its own scope.

The test bed has Ptyxis (package ptyxis) but not GNOME Terminal's schema, which Debian ships
in the gnome-terminal package, not in gnome-terminal-data: the GNOME Terminal cases skip there,
saying so, until the bed's recipe installs gnome-terminal.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssc.desktop.terminal import (
    GNOME_TERMINAL,
    PTYXIS,
    TerminalApp,
    parse_gvariant_string,
    parse_gvariant_strv,
)

pytestmark = pytest.mark.integration

GT_DEFAULT = "b1dcc9dd-5262-4d8d-a863-c897e6d979b9"  # GNOME Terminal's schema default
TERMINALS = [pytest.param(GNOME_TERMINAL, id="gnome-terminal"), pytest.param(PTYXIS, id="ptyxis")]
IN_BED = bool(os.environ.get("SSC_TESTBED") or os.environ.get("CI"))


def gsettings(*args: str) -> str:
    result = subprocess.run(["gsettings", *args], capture_output=True, text=True)
    assert result.returncode == 0, f"gsettings {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def installed(app: TerminalApp) -> bool:
    schemas = gsettings("list-schemas").split() + gsettings("list-relocatable-schemas").split()
    return {app.list_schema, app.profile_schema} <= set(schemas)


def require(app: TerminalApp) -> None:
    if installed(app):
        return
    if app is PTYXIS and IN_BED:
        pytest.fail("Ptyxis's schemas are missing from the test bed")
    package = {GNOME_TERMINAL.name: "gnome-terminal", PTYXIS.name: "ptyxis"}[app.name]
    pytest.skip(f"{app.name}'s schemas are not installed (Debian: package {package})")


def profiles(app: TerminalApp) -> list[str]:
    return parse_gvariant_strv(gsettings("get", app.list_schema, app.list_key))


def default(app: TerminalApp) -> str:
    return parse_gvariant_string(gsettings("get", app.list_schema, app.default_key))


def profile_key(app: TerminalApp, key: str) -> str:
    return gsettings("get", f"{app.profile_schema}:{app.profile_path(app.uuid)}", key)


def reset() -> None:
    for app in (GNOME_TERMINAL, PTYXIS):
        if installed(app):
            gsettings("reset", app.list_schema, app.list_key)
            gsettings("reset", app.list_schema, app.default_key)
            gsettings("reset-recursively", f"{app.profile_schema}:{app.profile_path(app.uuid)}")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The session's environment with its own data directory; terminal settings reset."""
    if shutil.which("gsettings") is None:
        if IN_BED:
            pytest.fail("gsettings is missing from the test bed")
        pytest.skip("gsettings is not installed")
    reset()
    try:
        yield {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    finally:
        reset()


def sscctl(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(["sscctl", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("app", TERMINALS)
def test_install_writes_a_profile_the_real_schema_accepts(
    env: dict[str, str], app: TerminalApp
) -> None:
    require(app)
    out = sscctl(env, "terminal", "install")
    assert f"{app.name}: added a profile 'Contained (relaxed)' ({app.uuid})" in out
    # read back by other processes: stored for real (dconf), not in a memory backend
    assert profile_key(app, app.label_key) == "'Contained (relaxed)'"
    assert profile_key(app, "use-custom-command") == "true"
    listed = profiles(app)
    assert listed[-1] == app.uuid
    if app is GNOME_TERMINAL:
        assert listed == [GT_DEFAULT, app.uuid]
        assert default(app) == GT_DEFAULT
    else:  # Ptyxis had no profile yet: it got an ordinary default one first, as it makes itself
        assert len(listed) == 2
        assert default(app) == listed[0]


@pytest.mark.parametrize("app", TERMINALS)
def test_the_profiles_command_gives_a_shell_in_its_own_scope(
    env: dict[str, str], app: TerminalApp
) -> None:
    require(app)
    sscctl(env, "terminal", "install", "--isolation=relaxed")
    command = shlex.split(parse_gvariant_string(profile_key(app, "custom-command")))
    login_shell = pwd.getpwuid(os.getuid()).pw_shell
    assert command[1:] == ["--isolation=relaxed", login_shell, "-i"]
    assert Path(command[0]).is_absolute()
    result = subprocess.run(
        command,
        input="cat /proc/$$/cgroup\nexit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    shell = re.escape(Path(login_shell).name)
    assert re.search(rf"/app-ssc-{shell}-[0-9]{{20}}\.scope$", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("app", TERMINALS)
def test_default_then_remove_hands_the_default_back(env: dict[str, str], app: TerminalApp) -> None:
    require(app)
    sscctl(env, "terminal", "install", "--default")
    assert default(app) == app.uuid
    others = [uuid for uuid in profiles(app) if uuid != app.uuid]

    sscctl(env, "terminal", "remove")
    assert profiles(app) == others
    assert default(app) == others[0]
    assert profile_key(app, "custom-command") == "''"


def test_install_adds_a_contained_shell_entry_that_validates(env: dict[str, str]) -> None:
    sscctl(env, "terminal", "install")
    entry = Path(env["XDG_DATA_HOME"]) / "applications" / "ssc-shell.desktop"
    assert "--name=ssc-shell --" in entry.read_text()
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        if IN_BED:
            pytest.fail("desktop-file-validate is missing from the test bed")
        pytest.skip("desktop-file-validate is not installed")
    result = subprocess.run([validate, str(entry)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

    sscctl(env, "terminal", "remove")
    assert not entry.exists()
