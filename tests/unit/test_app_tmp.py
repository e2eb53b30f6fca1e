"""One /tmp per app: shared while an instance holds it, removed by whoever finds no holder.

flock(2) locks belong to open file descriptions, so two ``hold`` calls in this one process
conflict exactly as two instances would.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from ssc.errors import SscError
from ssc.strict import app_tmp


def test_the_app_dir_is_named_by_the_escaped_app_id() -> None:
    assert app_tmp.app_dir("/run/user/1000", "org.example.App") == (
        "/run/user/1000/ssc/apps/org.example.App"
    )
    # Any ID, however hostile, is one plain name inside ssc's directory.
    hostile = app_tmp.app_dir("/run/user/1000", "../x/y")
    assert hostile == "/run/user/1000/ssc/apps/\\x2e.\\x2fx\\x2fy"


def test_two_instances_of_one_app_share_one_private_tmp(tmp_path: Path) -> None:
    first = app_tmp.hold(str(tmp_path), "org.example.App")
    second = app_tmp.hold(str(tmp_path), "org.example.App")
    try:
        assert first.directory == second.directory
        assert first.directory.startswith(str(tmp_path / "ssc" / "apps"))
        assert stat.S_IMODE(os.stat(first.directory).st_mode) == 0o700
        other = app_tmp.hold(str(tmp_path), "org.example.Other")
        assert other.directory != first.directory
        os.close(other.lock_fd)
    finally:
        os.close(first.lock_fd)
        os.close(second.lock_fd)


def test_the_lock_is_not_inherited_until_the_launcher_says_so(tmp_path: Path) -> None:
    held = app_tmp.hold(str(tmp_path), "app")
    try:
        assert not os.get_inheritable(held.lock_fd)
    finally:
        os.close(held.lock_fd)


def test_a_held_tmp_is_kept_and_an_unheld_one_is_removed(tmp_path: Path) -> None:
    runtime = str(tmp_path)
    held = app_tmp.hold(runtime, "app")
    Path(held.directory, "SingletonSocket").write_text("x")
    app_tmp.remove_unheld(runtime)
    assert Path(held.directory, "SingletonSocket").exists()
    os.close(held.lock_fd)  # the last instance is gone
    app_tmp.remove_unheld(runtime)
    assert not Path(app_tmp.app_dir(runtime, "app")).exists()
    assert os.listdir(app_tmp.apps_dir(runtime)) == []


def test_removing_one_app_leaves_the_others(tmp_path: Path) -> None:
    runtime = str(tmp_path)
    for app in ("a", "b"):
        os.close(app_tmp.hold(runtime, app).lock_fd)
    app_tmp.remove_unheld(runtime, "a")
    assert sorted(os.listdir(app_tmp.apps_dir(runtime))) == ["b"]


def test_what_the_app_made_unreadable_is_removed_and_symlinks_are_not_followed(
    tmp_path: Path,
) -> None:
    runtime = tmp_path / "runtime"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    held = app_tmp.hold(str(runtime), "app")
    locked = Path(held.directory, "locked")
    (locked / "deep").mkdir(parents=True)
    (locked / "deep" / "file").write_text("x")
    (locked / "deep").chmod(0)
    locked.chmod(0o500)
    Path(held.directory, "escape").symlink_to(outside)
    os.close(held.lock_fd)
    app_tmp.remove_unheld(str(runtime))
    assert not Path(app_tmp.app_dir(str(runtime), "app")).exists()
    assert (outside / "keep").read_text() == "keep"


def test_a_launch_that_locked_a_removed_lock_file_takes_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: a remover unlinks ``.ref`` while a launcher waits for its lock."""
    runtime = str(tmp_path)
    ref = os.path.join(app_tmp.app_dir(runtime, "app"), app_tmp.REF)
    real_flock = fcntl.flock
    removed = []

    def flock_then_remove(fd: int, operation: int) -> None:
        real_flock(fd, operation)
        if not removed:  # the first lock is taken just after a remover got rid of the file
            os.unlink(ref)
            removed.append(fd)

    monkeypatch.setattr(app_tmp.fcntl, "flock", flock_then_remove)
    held = app_tmp.hold(runtime, "app")
    try:
        assert removed
        assert os.fstat(held.lock_fd).st_ino == os.stat(ref).st_ino
        assert os.fstat(held.lock_fd).st_nlink == 1
    finally:
        os.close(held.lock_fd)


def test_a_runtime_dir_that_cannot_hold_it_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SscError, match="Failed to set up the app's /tmp"):
        app_tmp.hold(str(blocker), "app")


def test_removal_of_nothing_does_nothing(tmp_path: Path) -> None:
    app_tmp.remove_unheld(str(tmp_path / "absent"))
    app_tmp.remove_unheld(str(tmp_path / "absent"), "app")
