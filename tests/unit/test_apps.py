"""Apps by their desktop entry's name, and which running scopes a TARGET means."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssc.ctl import apps
from ssc.ctl.apps import App, Scope
from ssc.errors import SscError

GEDIT = App("org.gnome.gedit", "Text Editor", "org.gnome.gedit", "org.gnome.gedit")
FIREFOX = App("firefox-esr", "Firefox ESR", "firefox-esr", "firefox-esr")
BASH = App("bash", "bash")


def scope(app: App, number: int) -> Scope:
    escaped = app.app_id.replace("-", "\\x2d")
    return Scope(f"app-ssc-{escaped}-{number:020d}.scope", app, "strict", f"/cg/{number}")


RUNNING = [scope(GEDIT, 1), scope(FIREFOX, 2), scope(FIREFOX, 3), scope(BASH, 4)]


def units_of(found: list[Scope]) -> list[str]:
    return [s.unit for s in found]


def test_an_app_id_means_every_running_scope_of_that_app() -> None:
    assert units_of(apps.resolve("firefox-esr", RUNNING)) == units_of(RUNNING[1:3])
    assert units_of(apps.resolve("firefox-esr.desktop", RUNNING)) == units_of(RUNNING[1:3])


def test_a_unit_name_means_that_scope_alone() -> None:
    unit = RUNNING[2].unit
    assert units_of(apps.resolve(unit, RUNNING)) == [unit]


def test_an_app_is_found_by_its_name_or_the_last_part_of_its_id_in_any_case() -> None:
    assert units_of(apps.resolve("gedit", RUNNING)) == [RUNNING[0].unit]
    assert units_of(apps.resolve("text editor", RUNNING)) == [RUNNING[0].unit]
    assert units_of(apps.resolve("FIREFOX-ESR", RUNNING)) == units_of(RUNNING[1:3])


def test_a_target_that_matches_several_apps_is_an_error_naming_them() -> None:
    one = App("org.one.hogtest", "Hog One")
    two = App("org.two.hogtest", "Hog Two")
    with pytest.raises(SscError) as raised:
        apps.resolve("hogtest", [scope(one, 1), scope(two, 2)])
    assert raised.value.message == "hogtest: matches several apps: org.one.hogtest, org.two.hogtest"


@pytest.mark.parametrize("target", ["nosuchapp", "app-ssc-nosuch-00000000000000000001.scope"])
def test_an_unknown_target_is_an_error_with_a_hint(target: str) -> None:
    with pytest.raises(SscError) as raised:
        apps.resolve(target, RUNNING)
    assert raised.value.message.startswith(f"{target}: no such")
    assert raised.value.hint == "see: sscctl ps"


def test_localized_keys_are_looked_up_in_the_specifications_order() -> None:
    assert apps.locale_keys("Name", "sr_YU.UTF-8@Latn") == [
        "Name[sr_YU@Latn]",
        "Name[sr_YU]",
        "Name[sr@Latn]",
        "Name[sr]",
        "Name",
    ]
    assert apps.locale_keys("Name", "de_DE.UTF-8") == ["Name[de_DE]", "Name[de]", "Name"]
    assert apps.locale_keys("Name", "C.UTF-8") == ["Name[C]", "Name"]
    assert apps.locale_keys("Name", None) == ["Name"]


ENTRY = """\
[Desktop Entry]
Type=Application
Name=Text Editor
Name[de]=Texteditor
Icon=org.gnome.gedit
Exec=gedit %U
"""


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        "XDG_DATA_HOME": str(tmp_path / "home"),
        "XDG_DATA_DIRS": str(tmp_path / "system"),
        "LANG": "de_DE.UTF-8",
    }


def test_an_app_is_named_by_its_desktop_entry_in_the_users_language(tmp_path: Path) -> None:
    entry = tmp_path / "system" / "applications" / "org.gnome.gedit.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text(ENTRY)
    assert apps.lookup("org.gnome.gedit", environment(tmp_path)) == App(
        "org.gnome.gedit", "Texteditor", "org.gnome.gedit", "org.gnome.gedit"
    )


def test_an_entry_in_a_subdirectory_is_found_by_its_id(tmp_path: Path) -> None:
    entry = tmp_path / "system" / "applications" / "kde" / "konsole.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text(ENTRY.replace("Name[de]=Texteditor\n", ""))
    assert apps.lookup("kde-konsole", environment(tmp_path)).name == "Text Editor"


def test_an_app_without_an_entry_is_called_by_its_id(tmp_path: Path) -> None:
    assert apps.lookup("bash", environment(tmp_path)) == App("bash", "bash")
    assert apps.lookup("../etc/passwd", environment(tmp_path)).name == "../etc/passwd"
