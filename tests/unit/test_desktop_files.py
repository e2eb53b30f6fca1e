"""The file edge: finding entries by ID in XDG order, atomic writes, and finding ssc."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from xdg import BaseDirectory

from ssc.desktop import files
from ssc.errors import SscError

ENTRY = "[Desktop Entry]\nType=Application\nName={name}\nExec={name}\n"
SSC_ENTRY = ENTRY + "X-SSC-Profile=strict\nX-SSC-Source=/x\nX-SSC-Source-SHA256=00\n"


@dataclass(frozen=True)
class Dirs:
    home: Path  # $XDG_DATA_HOME/applications
    system: Path  # the first of $XDG_DATA_DIRS, /applications
    vendor: Path  # the second


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    """XDG data directories in tmp_path, seen by pyxdg (which reads them once, at import)."""
    home, system, vendor = tmp_path / "home", tmp_path / "system", tmp_path / "vendor"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_DIRS", f"{system}:{vendor}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(BaseDirectory, "xdg_data_home", str(home))
    monkeypatch.setattr(BaseDirectory, "xdg_data_dirs", [str(home), str(system), str(vendor)])
    return Dirs(home / "applications", system / "applications", vendor / "applications")


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_entry_in_a_subdirectory_is_found_by_its_dashed_id(dirs: Dirs) -> None:
    path = put(dirs.system / "kde" / "foo.desktop", ENTRY.format(name="foo"))
    assert files.find_source("kde-foo.desktop").path == path


def test_an_earlier_data_directory_wins(dirs: Dirs) -> None:
    put(dirs.vendor / "app.desktop", ENTRY.format(name="vendor"))
    first = put(dirs.system / "app.desktop", ENTRY.format(name="system"))
    assert files.find_source("app.desktop").path == first


def test_the_source_is_never_an_entry_ssc_wrote(dirs: Dirs) -> None:
    put(dirs.home / "app.desktop", SSC_ENTRY.format(name="contained"))
    original = put(dirs.system / "app.desktop", ENTRY.format(name="system"))
    assert files.find_source("app.desktop").path == original


def test_a_users_own_entry_is_the_source_when_it_comes_first(dirs: Dirs) -> None:
    own = put(dirs.home / "app.desktop", ENTRY.format(name="mine"))
    put(dirs.system / "app.desktop", ENTRY.format(name="system"))
    assert files.find_source("app.desktop").path == own


def test_an_unknown_id_names_itself_and_where_it_looked(dirs: Dirs) -> None:
    dirs.system.mkdir(parents=True)
    with pytest.raises(SscError, match=r"nope.desktop: no such desktop entry \(searched .*system"):
        files.find_source("nope.desktop")


def test_an_invalid_entry_is_refused_naming_the_file(dirs: Dirs) -> None:
    path = put(dirs.system / "bad.desktop", "[Desktop Entry]\ngarbage\n")
    with pytest.raises(SscError, match=f"^{path}: not a valid desktop entry: line 2"):
        files.find_source("bad.desktop")


def test_a_file_that_is_not_utf8_is_refused_naming_the_file(dirs: Dirs) -> None:
    path = dirs.system / "latin1.desktop"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[Desktop Entry]\nName=Caf\xe9\n")
    with pytest.raises(SscError, match=f"^{path}: not a valid desktop entry: not UTF-8"):
        files.find_source("latin1.desktop")


def test_the_contained_entry_goes_flat_into_the_users_directory(dirs: Dirs) -> None:
    assert files.target_path("kde-foo.desktop") == dirs.home / "kde-foo.desktop"


def test_a_users_entry_already_holding_the_id_is_the_one_replaced(dirs: Dirs) -> None:
    existing = put(dirs.home / "kde" / "foo.desktop", ENTRY.format(name="mine"))
    assert files.target_path("kde-foo.desktop") == existing


def test_an_atomic_write_leaves_the_new_text_readable_and_no_temporary_file(dirs: Dirs) -> None:
    target = dirs.home / "app.desktop"
    files.write_atomic(target, "new\n")
    files.write_atomic(target, "newer\n")
    assert target.read_text() == "newer\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(dirs.home) == ["app.desktop"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(
    dirs: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = put(dirs.home / "app.desktop", "old\n")

    def no_rename(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(SscError, match=f"^{target}: cannot write: No space left on device"):
        files.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(dirs.home) == ["app.desktop"]


def test_a_data_directory_below_a_file_is_not_writable(tmp_path: Path) -> None:
    blocker = put(tmp_path / "file", "")
    with pytest.raises(SscError, match=f"^{blocker}: not a directory"):
        files.check_writable(blocker / "share" / "applications")


def test_a_data_directory_without_write_permission_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(SscError, match=f"^{tmp_path}: not writable"):
        files.check_writable(tmp_path / "applications")


def test_installed_lists_only_ssc_entries_by_id(dirs: Dirs) -> None:
    put(dirs.home / "mine.desktop", ENTRY.format(name="mine"))
    put(dirs.home / "kde" / "foo.desktop", SSC_ENTRY.format(name="foo"))
    put(dirs.home / "broken.desktop", "not an entry")
    assert [desktop_id for desktop_id, _ in files.installed()] == ["kde-foo.desktop"]


def executable(path: Path) -> Path:
    put(path, "#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_ssc_is_the_one_beside_the_running_sscctl_through_symlinks(tmp_path: Path) -> None:
    venv_ssc = executable(tmp_path / "venv" / "bin" / "ssc")
    executable(tmp_path / "venv" / "bin" / "sscctl")
    link = tmp_path / "local" / "bin" / "sscctl"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "venv" / "bin" / "sscctl")
    assert files.ssc_executable(str(link)) == str(venv_ssc)


def test_ssc_is_looked_up_on_path_when_not_beside_sscctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = executable(tmp_path / "bin" / "ssc")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert files.ssc_executable(str(tmp_path / "elsewhere" / "sscctl")) == str(on_path)


def test_no_ssc_anywhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SscError, match="cannot find the ssc executable"):
        files.ssc_executable(str(tmp_path / "sscctl"))


def test_a_failing_desktop_database_refresh_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = executable(tmp_path / "bin" / "update-desktop-database")
    tool.write_text("#!/bin/sh\necho 'cannot write cache' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tool.parent))
    warning = files.refresh(tmp_path)
    assert warning == f"update-desktop-database {tmp_path}: cannot write cache"


def test_the_shipped_shell_entry_is_the_one_in_the_desktop_directory() -> None:
    shipped = Path(__file__).resolve().parents[2] / "desktop" / "ssc-shell.desktop"
    _, data = files.shell_template()
    assert data == shipped.read_bytes()


def test_sys_argv_is_used_when_no_program_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssc = executable(tmp_path / "bin" / "ssc")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "sscctl")])
    assert files.ssc_executable() == str(ssc)


def test_without_update_desktop_database_the_mime_cache_is_written_as_it_would(
    dirs: Dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File associations need the user's cache to list a contained entry (see mimecache)."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    mime = "MimeType=text/plain;x-scheme-handler/foo;\n"
    put(dirs.home / "a.desktop", ENTRY.format(name="a") + mime)
    put(dirs.home / "sub" / "b.desktop", ENTRY.format(name="b") + "MimeType=text/plain;image/png\n")
    put(dirs.home / "c.desktop", ENTRY.format(name="c"))
    assert files.refresh(dirs.home) is None
    assert (dirs.home / "mimeinfo.cache").read_text() == (
        "[MIME Cache]\n"
        "image/png=sub-b.desktop;\n"
        "text/plain=a.desktop;sub-b.desktop;\n"
        "x-scheme-handler/foo=a.desktop;\n"
    )


def test_no_mime_cache_is_made_for_entries_without_mime_types(
    dirs: Dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    put(dirs.home / "c.desktop", ENTRY.format(name="c"))
    assert files.refresh(dirs.home) is None
    assert not (dirs.home / "mimeinfo.cache").exists()
