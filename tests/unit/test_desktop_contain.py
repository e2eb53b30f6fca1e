"""The contained entry: every Exec through ssc, D-Bus activation off, everything else kept."""

from __future__ import annotations

import pytest

from ssc.desktop import contain, keyfile
from ssc.desktop.contain import NotContainable, Origin

SSC = "/home/j/.local/bin/ssc"
ORIGIN = Origin("/usr/share/applications/org.gnome.gedit.desktop", "ab" * 32)

GEDIT = """\
# Translators: keep this comment
[Desktop Entry]
Name=Text Editor
Name[de]=Texteditor
Comment=Edit text files
Comment[fr]=Éditer des fichiers texte
Exec=gedit %U
TryExec=gedit
Terminal=false
NoDisplay=false
Icon=org.gnome.gedit
Type=Application
Categories=GNOME;GTK;Utility;TextEditor;
MimeType=text/plain;
StartupNotify=true
StartupWMClass=Gedit
DBusActivatable=true
Actions=new-window;new-document;preferences;
X-GNOME-UsesNotifications=true

[Desktop Action new-window]
Name=New Window
Name[de]=Neues Fenster
Exec=gedit --new-window

[Desktop Action new-document]
Name=New Document
Exec=gedit --new-document "%U"

[Desktop Action preferences]
Name=Preferences
"""


def contained(text: str, profile: str = "strict", app_id: str = "org.gnome.gedit") -> str:
    entry = contain.contain(
        keyfile.parse(text), ssc=SSC, profile=profile, app_id=app_id, origin=ORIGIN
    )
    return keyfile.render(entry)


def test_the_main_exec_starts_the_original_command_through_ssc() -> None:
    text = contained(GEDIT)
    assert f"Exec={SSC} --isolation=strict --name=org.gnome.gedit -- gedit %U\n" in text


def test_each_action_starts_its_own_command_through_ssc() -> None:
    text = contained(GEDIT, profile="relaxed")
    ssc = f"{SSC} --isolation=relaxed --name=org.gnome.gedit --"
    assert f"Exec={ssc} gedit --new-window\n" in text
    assert f"Exec={ssc} gedit --new-document %U\n" in text


def test_dbus_activation_is_dropped_so_launchers_use_exec() -> None:
    assert "DBusActivatable" not in contained(GEDIT)


def test_an_action_that_only_dbus_could_start_is_dropped_with_its_listing() -> None:
    text = contained(GEDIT)
    assert "[Desktop Action preferences]" not in text
    assert "Actions=new-window;new-document;\n" in text


def test_every_other_line_is_kept_as_it_was() -> None:
    text = contained(GEDIT)
    changed = {"Exec=", "DBusActivatable=", "Actions=", "X-SSC-", "Name=Preferences"}
    kept = [
        line
        for line in GEDIT.splitlines()
        if not any(line.startswith(prefix) for prefix in changed)
        and line != "[Desktop Action preferences]"
    ]
    assert [line for line in text.splitlines() if line in kept] == kept


def test_the_profile_and_the_source_are_recorded() -> None:
    entry = keyfile.parse(contained(GEDIT))
    assert contain.is_ssc_entry(entry)
    assert contain.recorded_profile(entry) == "strict"
    assert contain.recorded_origin(entry) == ORIGIN
    assert entry.main.keys()[-3:] == ["X-SSC-Profile", "X-SSC-Source", "X-SSC-Source-SHA256"]


def test_a_source_path_with_odd_characters_is_recorded_exactly() -> None:
    origin = Origin("/data/my apps/x\\y.desktop", "00" * 32)
    entry = contain.contain(
        keyfile.parse(GEDIT), ssc=SSC, profile="strict", app_id="x", origin=origin
    )
    assert contain.recorded_origin(keyfile.parse(keyfile.render(entry))) == origin


def test_an_ssc_path_with_a_space_is_quoted() -> None:
    entry = contain.contain(
        keyfile.parse(GEDIT), ssc="/opt/my tools/ssc", profile="strict", app_id="a", origin=ORIGIN
    )
    assert contain.exec_args(entry.main) == [
        "/opt/my tools/ssc",
        "--isolation=strict",
        "--name=a",
        "--",
        "gedit",
        "%U",
    ]


def test_a_quoted_original_command_keeps_its_arguments() -> None:
    text = GEDIT.replace("Exec=gedit %U", 'Exec=env "A=b c" sh -c "echo \\\\$HOME" %f')
    entry = keyfile.parse(contained(text))
    assert contain.exec_args(entry.main) == [
        SSC,
        "--isolation=strict",
        "--name=org.gnome.gedit",
        "--",
        "env",
        "A=b c",
        "sh",
        "-c",
        "echo $HOME",
        "%f",
    ]


def test_an_entry_written_by_ssc_is_recognised_and_a_foreign_one_is_not() -> None:
    assert contain.is_ssc_entry(keyfile.parse(contained(GEDIT)))
    assert not contain.is_ssc_entry(keyfile.parse(GEDIT))


MINIMAL = "[Desktop Entry]\nType=Application\nName=X\nExec=x\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[Desktop Entry]\nType=Link\nName=X\nURL=https://example.org\n", "is a Type=Link entry"),
        ("[Desktop Entry]\nType=Directory\nName=X\n", "is a Type=Directory entry"),
        ("[Desktop Entry]\nType=Service\nName=X\nExec=x\n", "has Type=Service"),
        ("[Desktop Entry]\nName=X\nExec=x\n", "has no Type key"),
        ("[Desktop Entry]\nType=Application\nExec=x\n", "has no Name key"),
        ("[Desktop Entry]\nType=Application\nName=X\n", "has no Exec key: nothing to start"),
        (
            "[Desktop Entry]\nType=Application\nName=X\nDBusActivatable=true\n",
            "started over D-Bus only",
        ),
        ("[Desktop Entry]\nType=Application\nName=X\nExec=\n", "has an empty Exec key"),
        ('[Desktop Entry]\nType=Application\nName=X\nExec=x "y\n', "unterminated double quote"),
    ],
)
def test_entries_that_start_no_program_are_refused(text: str, problem: str) -> None:
    with pytest.raises(NotContainable, match=problem):
        contained(text)


def test_a_minimal_application_is_contained() -> None:
    assert contained(MINIMAL, app_id="x").splitlines()[3] == (
        f"Exec={SSC} --isolation=strict --name=x -- x"
    )
