"""The test bed without its host tools: one line saying what to install, never a traceback."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest

VM_DIR = Path(__file__).resolve().parents[1] / "vm"
RUN_SCRIPT = VM_DIR / "run"
sys.path.insert(0, str(VM_DIR))

from bed import machine, procs, recipe  # noqa: E402
from bed.image import BuildError, Image  # noqa: E402


def _load_run_script() -> ModuleType:
    loader = SourceFileLoader("ssc_vm_run", str(RUN_SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


vm_run = _load_run_script()


def _bin_dir(tmp_path: Path, *tools: str) -> Path:
    """A PATH directory holding only ``tools``, each a script that succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        script = bin_dir / tool
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
    return bin_dir


def _fake_cached_image(cache_home: Path) -> None:
    image = Image(cache_home / "ssc-testbed" / recipe.recipe_hash(vm_run.PROJECT_ROOT))
    image.directory.mkdir(parents=True)
    for path in (image.rootfs, image.kernel, image.initrd):
        path.touch()


def test_the_script_without_any_tool_prints_one_line_and_exits_125(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": str(empty), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(RUN_SCRIPT), "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == vm_run.BED_FAILURE == 125
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0] == (
        "tests/vm/run: the test bed needs mmdebstrap, mke2fs, qemu-system-x86_64, qemu-img "
        "(missing here): install them (Debian/Ubuntu: apt-get install mmdebstrap e2fsprogs "
        "qemu-system-x86 qemu-utils), or run tests/run-all, which installs them"
    )
    assert not (tmp_path / "cache").exists()  # no work started: not even the cache directory


def test_a_cached_image_needs_only_qemu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_cached_image(tmp_path / "cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path, "qemu-img")))
    monkeypatch.setattr(sys, "argv", ["tests/vm/run", "--", "true"])
    assert vm_run.main() == 125
    assert capsys.readouterr().err.splitlines() == [
        "tests/vm/run: the test bed needs qemu-system-x86_64 (missing here): install it "
        "(Debian/Ubuntu: apt-get install qemu-system-x86), or run tests/run-all, which installs "
        "them"
    ]


@pytest.mark.parametrize(
    ("present", "cached", "missing"),
    [
        ((), True, {"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils"}),
        (("qemu-system-x86_64", "qemu-img"), True, {}),
        (
            ("qemu-system-x86_64", "qemu-img"),
            False,
            {"mmdebstrap": "mmdebstrap", "mke2fs": "e2fsprogs"},
        ),
        (("qemu-system-x86_64", "qemu-img", "mke2fs"), False, {"mmdebstrap": "mmdebstrap"}),
        (("qemu-system-x86_64", "qemu-img", "mke2fs", "mmdebstrap"), False, {}),
    ],
)
def test_missing_host_tools_checks_what_the_run_will_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    present: tuple[str, ...],
    cached: bool,
    missing: dict[str, str],
) -> None:
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path, *present)))
    assert vm_run.missing_host_tools(image_cached=cached) == missing


def test_a_tool_that_is_not_executable_counts_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _bin_dir(tmp_path, "qemu-system-x86_64", "qemu-img")
    (bin_dir / "qemu-img").chmod(0o644)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert vm_run.missing_host_tools(image_cached=True) == {"qemu-img": "qemu-utils"}


def test_run_checked_turns_a_missing_tool_into_the_callers_error(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(BuildError) as caught:
        procs.run_checked(["ssc-no-such-tool", "--flag"], log, BuildError)
    assert str(caught.value) == "cannot start ssc-no-such-tool: not found on PATH"


def test_run_checked_turns_a_tool_it_may_not_run_into_the_callers_error(tmp_path: Path) -> None:
    tool = tmp_path / "not-executable"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o644)  # no execute bit: execve fails with EACCES, for root too
    with pytest.raises(BuildError) as caught:
        procs.run_checked([str(tool)], tmp_path / "build.log", BuildError)
    assert str(caught.value) == f"cannot start {tool}: Permission denied"


def test_make_overlay_without_qemu_img_is_a_bed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path)))
    with pytest.raises(machine.BedError, match=r"^cannot start qemu-img: not found on PATH$"):
        machine.make_overlay(Image(tmp_path / "image"), tmp_path)


def test_boot_without_qemu_is_a_bed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path, "qemu-img")))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(
        machine.BedError, match=r"^cannot start qemu-system-x86_64: not found on PATH$"
    ):
        machine.boot_and_run(
            Image(tmp_path / "image"),
            "tcg",
            run_dir,
            machine.Phases(),
            boot_timeout=1,
            run_timeout=1,
        )


def test_the_kvm_probe_without_qemu_is_a_bed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSC_VM_ACCEL", raising=False)
    monkeypatch.setenv("PATH", str(_bin_dir(tmp_path)))
    monkeypatch.setattr(os, "access", lambda path, mode: True)  # as if /dev/kvm were usable
    with pytest.raises(
        machine.BedError, match=r"^cannot start qemu-system-x86_64: not found on PATH$"
    ):
        machine.accelerator(Image(tmp_path / "image"), tmp_path)
