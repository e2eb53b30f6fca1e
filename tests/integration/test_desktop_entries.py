"""Every desktop entry of a real system: parsed and rendered back unchanged, every Exec
re-quoted to the same arguments, and every contained entry accepted by desktop-file-validate.

The entries are the test bed's ``/usr/share/applications`` (the packages of
``tests/vm/bed/recipe.py``), as shipped by Debian.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ssc.desktop import contain, exec_line, ids, keyfile

pytestmark = pytest.mark.integration

SYSTEM_APPLICATIONS = Path("/usr/share/applications")


def system_entries() -> list[Path]:
    return sorted(SYSTEM_APPLICATIONS.rglob("*.desktop"))


def require(tool: str) -> str:
    """The tool's path; a missing tool fails the test in the bed and in CI, else skips it."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("SSC_TESTBED") or os.environ.get("CI"):
            pytest.fail(f"{tool} is missing from the test bed")
        pytest.skip(f"{tool} is not installed")
    return path


def validation_errors(path: Path) -> set[str]:
    """desktop-file-validate's complaints about ``path``, without the path that starts each."""
    result = subprocess.run(
        [require("desktop-file-validate"), str(path)], capture_output=True, text=True
    )
    lines = (result.stdout + result.stderr).splitlines()
    errors = {line.removeprefix(f"{path}: ") for line in lines if ": error: " in line}
    assert (result.returncode == 0) == (not errors), lines
    return errors


def test_the_system_has_entries_to_check() -> None:
    assert len(system_entries()) >= 3, f"too few entries in {SYSTEM_APPLICATIONS} to prove much"


def test_every_system_entry_renders_back_to_the_same_text() -> None:
    for path in system_entries():
        text = path.read_text(encoding="utf-8")
        assert keyfile.render(keyfile.parse(text)) == text, path


def test_every_exec_of_every_system_entry_survives_requoting() -> None:
    checked = 0
    for path in system_entries():
        for group in keyfile.parse(path.read_text(encoding="utf-8")).groups:
            args = contain.exec_args(group)
            if args is None:
                continue
            requoted = keyfile.encode_string(exec_line.join(args))
            assert exec_line.split(keyfile.decode_string(requoted)) == args, (path, group.name)
            checked += 1
    assert checked > 0


def test_sscctl_contains_every_system_application_into_entries_that_validate(
    tmp_path: Path,
) -> None:
    """Each contained entry has no validation error that its source has not already."""
    applications = []
    for path in system_entries():
        entry = keyfile.parse(path.read_text(encoding="utf-8"))
        main = entry.main
        if main.get("Type") == "Application" and main.get("Exec") and main.get("Name"):
            applications.append((ids.desktop_id_of(path.relative_to(SYSTEM_APPLICATIONS)), path))
    assert applications, "no application entry to contain"

    data_home = tmp_path / "data"
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}
    desktop_ids = [desktop_id for desktop_id, _ in applications]
    result = subprocess.run(
        ["sscctl", "desktop", "install", "--isolation=relaxed", *desktop_ids],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr

    # the ssc beside sscctl, as files.ssc_executable finds it
    ssc = str(Path(require("sscctl")).resolve().parent / "ssc")
    for desktop_id, source in applications:
        contained = data_home / "applications" / desktop_id
        new_errors = validation_errors(contained) - validation_errors(source)
        assert not new_errors, (desktop_id, new_errors)
        args = contain.exec_args(keyfile.parse(contained.read_text(encoding="utf-8")).main)
        assert args is not None
        assert args[:4] == [ssc, "--isolation=relaxed", f"--name={ids.app_id(desktop_id)}", "--"]

    listed = subprocess.run(
        ["sscctl", "desktop", "list"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert all(desktop_id in listed for desktop_id in desktop_ids)
