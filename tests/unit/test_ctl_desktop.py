"""``sscctl desktop``: install, list and remove contained entries; refuse bad input whole."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from xdg import BaseDirectory

from ssc import __version__
from ssc.ctl.cli import cli

XTERM = """\
[Desktop Entry]
Name=XTerm
Name[de]=XTerm-Terminal
Comment=standard terminal emulator for the X window system
Exec=xterm
TryExec=xterm
Icon=mini.xterm
Type=Application
Categories=System;TerminalEmulator;
"""


@dataclass(frozen=True)
class Env:
    home: Path  # $XDG_DATA_HOME/applications
    system: Path  # $XDG_DATA_DIRS/applications
    ssc: Path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """XDG directories in tmp_path (pyxdg reads them once, at import) and an ssc beside sscctl."""
    home, system = tmp_path / "home", tmp_path / "system"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_DIRS", str(system))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(BaseDirectory, "xdg_data_home", str(home))
    monkeypatch.setattr(BaseDirectory, "xdg_data_dirs", [str(home), str(system)])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssc = bin_dir / "ssc"
    ssc.write_text("#!/bin/sh\n")
    ssc.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(bin_dir / "sscctl")])
    (system / "applications").mkdir(parents=True)
    (system / "applications" / "debian-xterm.desktop").write_text(XTERM)
    return Env(home / "applications", system / "applications", ssc)


def sscctl(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_install_writes_a_contained_entry_that_shadows_the_systems(env: Env) -> None:
    result = sscctl("desktop", "install", "--isolation=relaxed", "debian-xterm")
    assert result.exit_code == 0, result.stderr
    target = env.home / "debian-xterm.desktop"
    assert result.stdout.splitlines()[0] == f"Contained debian-xterm.desktop (relaxed): {target}"
    text = target.read_text()
    assert f"Exec={env.ssc} --isolation=relaxed --name=debian-xterm -- xterm\n" in text
    assert "Name[de]=XTerm-Terminal\n" in text
    assert f"X-SSC-Source={env.system / 'debian-xterm.desktop'}\n" in text


def test_the_first_install_suggests_the_notifier_once_unless_it_is_in(
    env: Env, tmp_path: Path
) -> None:
    tip = (
        "Tip: 'sscctl notify enable' shows a notification when a contained app reaches its"
        " memory limit."
    )
    assert sscctl("desktop", "install", "debian-xterm").stdout.splitlines()[1:] == [tip]
    assert len(sscctl("desktop", "install", "debian-xterm").stdout.splitlines()) == 1
    sscctl("desktop", "remove", "debian-xterm")
    put(tmp_path / "config" / "systemd" / "user" / "ssc-notify.service", "[Service]\n")
    assert len(sscctl("desktop", "install", "debian-xterm").stdout.splitlines()) == 1


def test_the_default_profile_is_strict(env: Env) -> None:
    assert sscctl("desktop", "install", "debian-xterm.desktop").exit_code == 0
    assert "--isolation=strict" in (env.home / "debian-xterm.desktop").read_text()


def test_installing_again_updates_the_entry_from_the_systems(env: Env) -> None:
    sscctl("desktop", "install", "debian-xterm")
    result = sscctl("desktop", "install", "--isolation=relaxed", "debian-xterm")
    assert result.exit_code == 0, result.stderr
    text = (env.home / "debian-xterm.desktop").read_text()
    assert "--isolation=relaxed --name=debian-xterm -- xterm\n" in text
    assert text.count("X-SSC-Profile") == 1


def test_list_shows_each_contained_entry_with_its_profile_and_source(env: Env) -> None:
    sscctl("desktop", "install", "--isolation=relaxed", "debian-xterm")
    source = env.system / "debian-xterm.desktop"
    assert sscctl("desktop", "list").stdout == (
        f"ID                    PROFILE  SOURCE\ndebian-xterm.desktop  relaxed  {source}\n"
    )
    source.write_text(XTERM + "Keywords=shell;\n")
    assert "(source changed since install: reinstall it)" in sscctl("desktop", "list").stdout
    source.unlink()
    assert "(source is gone: reinstall it)" in sscctl("desktop", "list").stdout


def test_list_with_nothing_installed_says_so(env: Env) -> None:
    result = sscctl("desktop", "list")
    assert (result.exit_code, result.stdout) == (0, "No contained desktop entries.\n")


def test_remove_deletes_the_contained_entry(env: Env) -> None:
    sscctl("desktop", "install", "debian-xterm")
    result = sscctl("desktop", "remove", "debian-xterm")
    assert result.exit_code == 0, result.stderr
    assert not (env.home / "debian-xterm.desktop").exists()
    assert (env.system / "debian-xterm.desktop").exists()


def test_install_never_replaces_an_entry_of_the_users_without_force(env: Env) -> None:
    own = put(env.home / "debian-xterm.desktop", XTERM.replace("Exec=xterm", "Exec=xterm -rv"))
    result = sscctl("desktop", "install", "debian-xterm")
    assert result.exit_code == 1
    assert result.stderr == (
        f"sscctl: {own}: not written by ssc; not replacing it\n"
        "Hint: --force replaces it (the file is not kept)\n"
    )
    assert "X-SSC" not in own.read_text()


def test_install_with_force_contains_the_users_own_entry(env: Env) -> None:
    own = put(env.home / "debian-xterm.desktop", XTERM.replace("Exec=xterm", "Exec=xterm -rv"))
    result = sscctl("desktop", "install", "--force", "debian-xterm")
    assert result.exit_code == 0, result.stderr
    assert "--name=debian-xterm -- xterm -rv\n" in own.read_text()
    assert sscctl("desktop", "list").stdout.splitlines()[1] == (
        f"debian-xterm.desktop  strict   {own}"
    )


def test_remove_never_deletes_an_entry_ssc_did_not_write(env: Env) -> None:
    own = put(env.home / "mine.desktop", XTERM)
    result = sscctl("desktop", "remove", "mine")
    assert result.exit_code == 1
    assert result.stderr == f"sscctl: {own}: not written by ssc; not removing it\n"
    assert own.exists()


def test_removing_what_is_not_installed_names_the_file(env: Env) -> None:
    result = sscctl("desktop", "remove", "debian-xterm")
    assert result.exit_code == 1
    assert result.stderr == (
        f"sscctl: {env.home / 'debian-xterm.desktop'}: not installed (no such file)\n"
    )


def test_one_unknown_id_among_good_ones_writes_nothing(env: Env) -> None:
    result = sscctl("desktop", "install", "debian-xterm", "no-such-app")
    assert result.exit_code == 1
    assert result.stderr.startswith("sscctl: no-such-app.desktop: no such desktop entry (searched ")
    assert len(result.stderr.splitlines()) == 2  # the message and its hint
    assert not env.home.exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[Desktop Entry]\nType=Link\nName=Site\nURL=https://x.org\n", "is a Type=Link entry"),
        ("[Desktop Entry]\nType=Directory\nName=Folder\n", "is a Type=Directory entry"),
        ("[Desktop Entry]\nType=Application\nName=X\n", "has no Exec key"),
        ("[Desktop Entry]\nType=Application\nName=X\nExec=\n", "has an empty Exec key"),
        ("[Desktop Entry]\nthis is not an entry\n", "not a valid desktop entry: line 2"),
    ],
)
def test_an_entry_that_starts_no_program_is_refused_naming_its_file(
    env: Env, text: str, problem: str
) -> None:
    bad = put(env.system / "bad.desktop", text)
    result = sscctl("desktop", "install", "debian-xterm", "bad")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"sscctl: {bad}: {problem}")
    assert len(result.stderr.splitlines()) == 1
    assert not env.home.exists()


def test_an_unknown_profile_is_a_usage_error_and_writes_nothing(env: Env) -> None:
    result = sscctl("desktop", "install", "--isolation=paranoid", "debian-xterm")
    assert result.exit_code == 2
    assert result.stderr.startswith("sscctl: unknown profile 'paranoid' (known: ")
    assert not env.home.exists()


def test_an_unwritable_data_directory_writes_nothing_and_says_which(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = put(env.home.parent.parent / "not-a-dir", "")
    monkeypatch.setattr(BaseDirectory, "xdg_data_home", str(blocker / "share"))
    result = sscctl("desktop", "install", "debian-xterm")
    assert result.exit_code == 1
    assert result.stderr == (
        f"sscctl: {blocker}: not a directory; cannot write into {blocker / 'share/applications'}\n"
    )


def test_an_invalid_id_is_a_usage_error(env: Env) -> None:
    result = sscctl("desktop", "install", "kde/foo")
    assert result.exit_code == 2
    assert result.stderr.startswith("sscctl: invalid desktop file ID 'kde/foo'\nHint: ")


def test_a_bad_option_is_one_line_and_a_hint(env: Env) -> None:
    result = sscctl("desktop", "install", "--bogus", "x")
    assert result.exit_code == 2
    message, hint = result.stderr.splitlines()  # click words the message; ssc frames it
    assert message.startswith("sscctl: No such option")
    assert "--bogus" in message
    assert hint == "Hint: see 'sscctl desktop install --help'"


def test_version_and_help() -> None:
    assert sscctl("--version").stdout == f"sscctl {__version__}\n"
    for args in ([], ["--help"], ["-h"], ["desktop"], ["terminal", "--help"]):
        result = sscctl(*args)
        assert result.exit_code == 0
        assert result.stdout.startswith("Usage: sscctl")
