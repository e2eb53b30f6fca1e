"""Terminal profiles: the settings plans, GVariant text, ``sscctl terminal`` on fake settings."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner, Result
from xdg import BaseDirectory

from ssc.ctl.cli import cli
from ssc.desktop import contain, gsettings, keyfile, manage, terminal
from ssc.desktop.terminal import GNOME_TERMINAL, PTYXIS, Reset, Write

GT_DEFAULT = "b1dcc9dd-5262-4d8d-a863-c897e6d979b9"  # the schema's default profile
COMMAND = ["/usr/bin/ssc", "--isolation=relaxed", "/bin/bash", "-i"]


def fixed_uuid(app: terminal.TerminalApp, uuid: str) -> terminal.TerminalApp:
    return replace(app, new_uuid=lambda: uuid)


def test_gnome_terminal_profile_is_written_then_listed_keeping_the_default() -> None:
    path = f"/org/gnome/terminal/legacy/profiles:/:{GNOME_TERMINAL.uuid}/"
    changes = terminal.install_plan(
        GNOME_TERMINAL, [GT_DEFAULT], GT_DEFAULT, COMMAND, "Contained (relaxed)", False
    )
    profile = "org.gnome.Terminal.Legacy.Profile"
    assert changes == [
        Write(profile, "visible-name", "'Contained (relaxed)'", path),
        Write(profile, "use-custom-command", "true", path),
        Write(profile, "custom-command", "'/usr/bin/ssc --isolation=relaxed /bin/bash -i'", path),
        Write(
            "org.gnome.Terminal.ProfilesList", "list", f"['{GT_DEFAULT}', '{GNOME_TERMINAL.uuid}']"
        ),
    ]


def test_default_makes_the_ssc_profile_the_default() -> None:
    changes = terminal.install_plan(GNOME_TERMINAL, [GT_DEFAULT], GT_DEFAULT, COMMAND, "c", True)
    assert changes[-1] == Write(
        "org.gnome.Terminal.ProfilesList", "default", f"'{GNOME_TERMINAL.uuid}'"
    )


def test_installing_twice_changes_only_the_profiles_keys() -> None:
    uuid = PTYXIS.uuid
    changes = terminal.install_plan(PTYXIS, ["abc", uuid], "abc", COMMAND, "c", False)
    assert [change.key for change in changes] == ["label", "use-custom-command", "custom-command"]


def test_a_terminal_with_no_profile_yet_gets_its_own_default_first() -> None:
    app = fixed_uuid(PTYXIS, "0123456789abcdef0123456789abcdef")
    changes = terminal.install_plan(app, [], "", COMMAND, "c", False)
    plain = "0123456789abcdef0123456789abcdef"
    assert changes[-2:] == [
        Write("org.gnome.Ptyxis", "profile-uuids", f"['{plain}', '{PTYXIS.uuid}']"),
        Write("org.gnome.Ptyxis", "default-profile-uuid", f"'{plain}'"),
    ]


def test_ptyxis_paths_and_keys() -> None:
    changes = terminal.install_plan(PTYXIS, ["abc"], "abc", COMMAND, "Contained", False)
    path = f"/org/gnome/Ptyxis/Profiles/{PTYXIS.uuid}/"
    assert changes[0] == Write("org.gnome.Ptyxis.Profile", "label", "'Contained'", path)
    assert len(PTYXIS.uuid) == 32
    assert "-" not in PTYXIS.uuid


def test_remove_takes_the_profile_out_and_hands_the_default_back() -> None:
    uuid = GNOME_TERMINAL.uuid
    changes = terminal.remove_plan(GNOME_TERMINAL, [GT_DEFAULT, uuid], uuid)
    assert changes == [
        Write("org.gnome.Terminal.ProfilesList", "list", f"['{GT_DEFAULT}']"),
        Write("org.gnome.Terminal.ProfilesList", "default", f"'{GT_DEFAULT}'"),
        Reset("org.gnome.Terminal.Legacy.Profile", path=GNOME_TERMINAL.profile_path(uuid)),
    ]


def test_removing_the_only_profile_resets_the_list_to_the_terminals_own() -> None:
    uuid = PTYXIS.uuid
    changes = terminal.remove_plan(PTYXIS, [uuid], uuid)
    assert changes[:2] == [
        Reset("org.gnome.Ptyxis", "profile-uuids"),
        Reset("org.gnome.Ptyxis", "default-profile-uuid"),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [("'plain'", "plain"), ('"it\'s"', "it's"), ("'a\\\\b'", "a\\b"), ("''", "")],
)
def test_gvariant_strings_are_read_as_gsettings_prints_them(text: str, value: str) -> None:
    assert terminal.parse_gvariant_string(text) == value


@pytest.mark.parametrize("value", ["plain", "it's", "a\\b", "", "x\ny\t'\"", "ünï"])
def test_gvariant_strings_survive_writing_and_reading(value: str) -> None:
    assert terminal.parse_gvariant_string(terminal.gvariant_string(value)) == value


def test_gvariant_string_arrays() -> None:
    assert terminal.parse_gvariant_strv("@as []") == []
    assert terminal.parse_gvariant_strv("['a', 'b']") == ["a", "b"]
    assert terminal.gvariant_strv([]) == "@as []"
    with pytest.raises(ValueError, match="not a GVariant string array"):
        terminal.parse_gvariant_strv("'a'")


# --- sscctl terminal, on fake settings --------------------------------------------------------


class FakeSettings:
    """A settings store with the two terminals' schema defaults, recording what was applied."""

    DEFAULTS: ClassVar[dict[tuple[str, str], str]] = {
        ("org.gnome.Terminal.ProfilesList", "list"): f"['{GT_DEFAULT}']",
        ("org.gnome.Terminal.ProfilesList", "default"): f"'{GT_DEFAULT}'",
        ("org.gnome.Ptyxis", "profile-uuids"): "@as []",
        ("org.gnome.Ptyxis", "default-profile-uuid"): "''",
    }

    def __init__(self, schemas: Sequence[str]) -> None:
        self._schemas = frozenset(schemas)
        self.values: dict[tuple[str, str], str] = {}

    def schemas(self) -> frozenset[str]:
        return self._schemas

    def get(self, schema: str, key: str) -> str:
        return self.values.get((schema, key), self.DEFAULTS.get((schema, key), "''"))

    def apply(self, changes: Sequence[terminal.Change]) -> None:
        for change in changes:
            schema = f"{change.schema}:{change.path}" if change.path else change.schema
            if isinstance(change, Write):
                self.values[schema, change.key] = change.value
            elif change.key is not None:
                self.values.pop((schema, change.key), None)
            else:
                for stored in [k for k in self.values if k[0] == schema]:
                    del self.values[stored]


ALL_SCHEMAS = [
    "org.gnome.Terminal.ProfilesList",
    "org.gnome.Terminal.Legacy.Profile",
    "org.gnome.Ptyxis",
    "org.gnome.Ptyxis.Profile",
]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSettings:
    fake = FakeSettings(ALL_SCHEMAS)
    monkeypatch.setattr(gsettings, "GSettingsTool", lambda: fake)
    monkeypatch.setattr(manage, "login_shell", lambda: "/bin/zsh")
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(BaseDirectory, "xdg_data_home", str(home))
    monkeypatch.setattr(BaseDirectory, "xdg_data_dirs", [str(home)])
    ssc = tmp_path / "bin" / "ssc"
    ssc.parent.mkdir()
    ssc.write_text("#!/bin/sh\n")
    ssc.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "sscctl")])
    return fake


def sscctl(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ssc_path() -> str:
    return str(Path(sys.argv[0]).parent / "ssc")


def test_terminal_install_adds_a_profile_to_both_terminals_and_a_shell_entry(
    settings: FakeSettings,
) -> None:
    result = sscctl("terminal", "install")
    assert result.exit_code == 0, result.stderr
    command = f"{ssc_path()} --isolation=relaxed /bin/zsh -i"
    gt_path = "org.gnome.Terminal.Legacy.Profile:" + GNOME_TERMINAL.profile_path(
        GNOME_TERMINAL.uuid
    )
    assert settings.values[gt_path, "custom-command"] == f"'{command}'"
    assert settings.values[gt_path, "use-custom-command"] == "true"
    assert GNOME_TERMINAL.uuid in settings.get("org.gnome.Terminal.ProfilesList", "list")
    assert PTYXIS.uuid in settings.get("org.gnome.Ptyxis", "profile-uuids")
    assert f"Other terminals: set the command to run to: {command}" in result.stdout

    entry_path = Path(BaseDirectory.xdg_data_home) / "applications" / "ssc-shell.desktop"
    entry = keyfile.parse(entry_path.read_text())
    assert contain.exec_args(entry.main) == [
        ssc_path(),
        "--isolation=relaxed",
        "--name=ssc-shell",
        "--",
        "/bin/zsh",
        "-i",
    ]
    assert entry.main.get("Terminal") == "true"


def test_terminal_install_default_and_remove_hand_the_default_back(
    settings: FakeSettings,
) -> None:
    assert sscctl("terminal", "install", "--default", "--isolation=strict").exit_code == 0
    assert settings.get("org.gnome.Terminal.ProfilesList", "default") == (
        f"'{GNOME_TERMINAL.uuid}'"
    )
    custom = settings.values[
        f"org.gnome.Ptyxis.Profile:{PTYXIS.profile_path(PTYXIS.uuid)}", "custom-command"
    ]
    assert shlex.split(terminal.parse_gvariant_string(custom))[1] == "--isolation=strict"

    result = sscctl("terminal", "remove")
    assert result.exit_code == 0, result.stderr
    assert settings.get("org.gnome.Terminal.ProfilesList", "default") == f"'{GT_DEFAULT}'"
    assert GNOME_TERMINAL.uuid not in settings.get("org.gnome.Terminal.ProfilesList", "list")
    assert PTYXIS.uuid not in settings.get("org.gnome.Ptyxis", "profile-uuids")
    assert not [key for key in settings.values if GNOME_TERMINAL.uuid in key[0]]
    assert not (Path(BaseDirectory.xdg_data_home) / "applications" / "ssc-shell.desktop").exists()


def test_without_a_known_terminal_the_command_line_is_still_printed(
    settings: FakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gsettings, "GSettingsTool", lambda: FakeSettings([]))
    result = sscctl("terminal", "install")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"Other terminals: set the command to run to: {ssc_path()} --isolation=relaxed /bin/zsh -i"
    )


def test_default_without_a_known_terminal_is_an_error_and_writes_nothing(
    settings: FakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gsettings, "GSettingsTool", lambda: FakeSettings([]))
    result = sscctl("terminal", "install", "--default")
    assert result.exit_code == 2
    assert result.stderr.startswith("sscctl: --default: no GNOME Terminal or Ptyxis")
    assert not (Path(BaseDirectory.xdg_data_home) / "applications").exists()


def test_an_unknown_profile_changes_no_setting(settings: FakeSettings) -> None:
    result = sscctl("terminal", "install", "--isolation=paranoid")
    assert result.exit_code == 2
    assert settings.values == {}


def test_remove_with_nothing_installed_says_so(settings: FakeSettings) -> None:
    result = sscctl("terminal", "remove")
    assert result.exit_code == 0
    assert result.stdout == "No contained terminal profile or shell entry to remove.\n"


def test_the_shell_entry_never_replaces_one_of_the_users(settings: FakeSettings) -> None:
    own = Path(BaseDirectory.xdg_data_home) / "applications" / "ssc-shell.desktop"
    own.parent.mkdir(parents=True)
    own.write_text("[Desktop Entry]\nType=Application\nName=Mine\nExec=mine\n")
    result = sscctl("terminal", "install")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"sscctl: {own}: not written by ssc")
    assert settings.values == {}
