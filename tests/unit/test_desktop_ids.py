"""Desktop file IDs: normalizing what the user types, and every path an ID may be at."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from ssc.desktop import ids


@pytest.mark.parametrize(
    ("name", "desktop_id"),
    [
        ("firefox-esr", "firefox-esr.desktop"),
        ("firefox-esr.desktop", "firefox-esr.desktop"),
        ("org.gnome.gedit", "org.gnome.gedit.desktop"),
        ("kde-foo", "kde-foo.desktop"),
    ],
)
def test_an_id_is_accepted_with_or_without_its_suffix(name: str, desktop_id: str) -> None:
    assert ids.normalize(name) == desktop_id


@pytest.mark.parametrize("name", ["", ".desktop", "kde/foo", "../etc/x", ".hidden", "a b", "-x"])
def test_what_cannot_be_a_desktop_file_id_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid desktop file ID"):
        ids.normalize(name)


def test_the_app_id_is_the_desktop_id_without_its_suffix() -> None:
    assert ids.app_id("org.gnome.gedit.desktop") == "org.gnome.gedit"


def test_every_reading_of_the_dashes_is_a_candidate_path_flat_first() -> None:
    assert ids.relative_paths("kde-foo-bar.desktop") == [
        PurePosixPath("kde-foo-bar.desktop"),
        PurePosixPath("kde/foo-bar.desktop"),
        PurePosixPath("kde-foo/bar.desktop"),
        PurePosixPath("kde/foo/bar.desktop"),
    ]


def test_an_id_without_dashes_has_one_path() -> None:
    assert ids.relative_paths("org.gnome.gedit.desktop") == [
        PurePosixPath("org.gnome.gedit.desktop")
    ]


def test_double_dashes_never_give_an_empty_directory_name() -> None:
    paths = ids.relative_paths("a--b.desktop")
    assert PurePosixPath("a--b.desktop") in paths
    assert all("" not in path.parts for path in paths)
    assert all(ids.desktop_id_of(path) == "a--b.desktop" for path in paths)


def test_a_path_below_applications_maps_to_its_id() -> None:
    assert ids.desktop_id_of(PurePosixPath("kde/foo.desktop")) == "kde-foo.desktop"
    for path in ids.relative_paths("x-y-z.desktop"):
        assert ids.desktop_id_of(path) == "x-y-z.desktop"
