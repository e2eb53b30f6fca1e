"""Which bus names a program registers, as its desktop entries tell."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssc.strict.bus_names import application_dirs, program_of, read_bus_entries, registered_ids


@pytest.mark.parametrize(
    ("text", "program"),
    [
        ("[Desktop Entry]\nExec=gnome-text-editor %U\n", "gnome-text-editor"),
        ("[Desktop Entry]\nExec=/usr/bin/gnome-text-editor\n", "gnome-text-editor"),
        ('[Desktop Entry]\nExec="/opt/My App/app" %f\n', "My"),  # first word, as Exec splits
        ("[Desktop Entry]\nExec = app\n", "app"),
        ("[Desktop Entry]\nName=x\n[Desktop Action new]\nExec=other\n", None),
        ("[Desktop Action new]\nExec=other\n[Desktop Entry]\nExec=main\n", "main"),
        ("[Desktop Entry]\nExec=\n", None),
        ("[Desktop Entry]\nTryExec=app\n", None),
        ("", None),
    ],
)
def test_the_program_is_the_first_word_of_the_main_groups_exec(
    text: str, program: str | None
) -> None:
    assert program_of(text) == program


def entry(directory: Path, name: str, exec_line: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(f"[Desktop Entry]\nType=Application\nExec={exec_line}\n")


def test_reverse_dns_entries_running_the_program_name_its_ids(tmp_path: Path) -> None:
    system, home = tmp_path / "share", tmp_path / "home"
    entry(system / "applications", "org.gnome.TextEditor.desktop", "gnome-text-editor %U")
    entry(system / "applications", "gnome-text-editor.desktop", "gnome-text-editor")  # not DNS
    entry(system / "applications", "org.gnome.Calculator.desktop", "gnome-calculator")
    entry(home / "applications", "org.example.Editor.desktop", "/usr/bin/gnome-text-editor")
    dirs = [str(home / "applications"), str(system / "applications")]
    ids = registered_ids("/usr/bin/gnome-text-editor", dirs)
    assert ids == ["org.example.Editor", "org.gnome.TextEditor"]


def test_missing_directories_and_unreadable_entries_name_nothing(tmp_path: Path) -> None:
    (tmp_path / "applications").mkdir()
    (tmp_path / "applications" / "org.x.Bin.desktop").write_bytes(b"\xff\xfe")
    dirs = [str(tmp_path / "nowhere"), str(tmp_path / "applications")]
    assert registered_ids("x", dirs) == []


def test_application_dirs_follow_the_base_directory_spec() -> None:
    environ = {"XDG_DATA_HOME": "/h", "XDG_DATA_DIRS": "/a::/b:relative:/a"}
    assert application_dirs(environ) == ["/h/applications", "/a/applications", "/b/applications"]
    assert application_dirs({"HOME": "/home/u"}) == [
        "/home/u/.local/share/applications",
        "/usr/local/share/applications",
        "/usr/share/applications",
    ]


def test_activatable_apps_are_the_first_entry_of_each_id_that_says_so(tmp_path: Path) -> None:
    system, home = tmp_path / "share" / "applications", tmp_path / "home" / "applications"
    for directory in (system, home):
        directory.mkdir(parents=True)
    activatable = "[Desktop Entry]\nType=Application\nExec=x\nDBusActivatable=true\n"
    (system / "org.gnome.TextEditor.desktop").write_text(activatable)
    (system / "org.gnome.Loupe.desktop").write_text(activatable)
    (system / "org.gnome.Hidden.desktop").write_text(activatable + "Hidden=true\n")
    (system / "org.example.Plain.desktop").write_text("[Desktop Entry]\nExec=plain\n")
    (system / "org.example.Action.desktop").write_text(
        "[Desktop Entry]\nExec=a\n[Desktop Action new]\nDBusActivatable=true\n"
    )
    # Contained by sscctl: the user's entry, without the key, shadows the system's.
    (home / "org.gnome.Loupe.desktop").write_text("[Desktop Entry]\nExec=ssc -- loupe\n")
    entries = read_bus_entries("/usr/bin/plain", [str(home), str(system)])
    assert entries.activatable == ["org.gnome.TextEditor"]
    assert entries.registered == ["org.example.Plain"]
    assert read_bus_entries(None, [str(home), str(system)]).registered == []
