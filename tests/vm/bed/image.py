"""Build the test bed's image once and keep it in the cache, keyed by the recipe's hash.

An image is a directory ``<cache>/<hash>/`` holding ``rootfs.raw`` (ext4), ``vmlinuz`` and
``initrd.img``. It is built in a temporary directory and renamed into place, under an
exclusive ``flock``, so a build that is killed leaves no half image and no stale lock (the
kernel drops a ``flock`` with its holder).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import recipe
from .procs import run_checked

ROOTFS_SIZE = "6G"  # sparse: the image holds ~0.7 GB; the rest is room for the swap file and tests


class BuildError(Exception):
    """The image could not be built; the message says which step failed."""


@dataclass(frozen=True)
class Image:
    directory: Path

    @property
    def rootfs(self) -> Path:
        return self.directory / "rootfs.raw"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    def is_complete(self) -> bool:
        return all(p.is_file() for p in (self.rootfs, self.kernel, self.initrd))


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssc-testbed"


def ensure_image(project_root: Path, log: Path) -> tuple[Image, bool]:
    """The image for the current recipe, building it first if it is not cached.

    Returns the image and whether it was built now.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    image = Image(root / recipe.recipe_hash(project_root))
    if image.is_complete():
        return image, False
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image.is_complete():  # another run built it while we waited
            return image, False
        _remove_stale_builds(root)
        staging = root / f".build-{os.getpid()}"
        try:
            _build(project_root, staging, log)
            staging.rename(image.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_other_images(root, keep=image.directory)
    return image, True


def _build(project_root: Path, out: Path, log: Path) -> None:
    if os.geteuid() != 0:
        raise BuildError(
            "building the test bed image needs root (mmdebstrap and mke2fs keep file ownership); "
            "on a Linux desktop with a user manager, run the integration tier directly: "
            "pytest -m integration"
        )
    out.mkdir(parents=True)
    wheelhouse = out / "wheelhouse"
    rootfs_dir = out / "rootfs"
    _step("download Python wheels for the guest", log)
    _download_wheels(project_root, wheelhouse, log)
    _step(f"bootstrap Debian {recipe.SUITE} with mmdebstrap", log)
    _bootstrap(rootfs_dir, wheelhouse, log)
    _step("copy out kernel and initrd", log)
    _copy_boot_files(rootfs_dir, out)
    _step("make the ext4 image", log)
    run_checked(
        [
            *("mke2fs", "-q", "-t", "ext4", "-L", "ssc-root", "-d", str(rootfs_dir), "-F"),
            *(str(out / "rootfs.raw"), ROOTFS_SIZE),
        ],
        log,
        BuildError,
    )
    shutil.rmtree(rootfs_dir)
    shutil.rmtree(wheelhouse)


def _download_wheels(project_root: Path, wheelhouse: Path, log: Path) -> None:
    """Wheels for the guest's Python (3.13), fetched by the host's pip, which is fast."""
    run_checked(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheelhouse)),
            *("--only-binary=:all:", "--python-version", "3.13"),
            *recipe.python_requirements(project_root),
        ],
        log,
        BuildError,
    )


def _bootstrap(rootfs_dir: Path, wheelhouse: Path, log: Path) -> None:
    customize = [
        'mkdir -p "$1/tmp/ssc-guest" "$1/tmp/ssc-wheelhouse"',
        f"sync-in {recipe.GUEST_DIR} /tmp/ssc-guest",
        f"sync-in {wheelhouse} /tmp/ssc-wheelhouse",
        # A clean environment: the host's pip settings (find-links, indexes) must not leak in.
        'chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh '
        f"/tmp/ssc-guest/setup-image {recipe.GUEST_VENV} {recipe.TEST_USER} {recipe.TEST_UID}",
        'rm -rf "$1/tmp/ssc-guest" "$1/tmp/ssc-wheelhouse"',
    ]
    command = [
        "mmdebstrap",
        "--variant=apt",
        "--include=" + ",".join(recipe.PACKAGES),
        # Documentation and translations are not needed to test, and cost build and boot time.
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/locale/locale.alias",
        "--dpkgopt=path-exclude=/usr/share/help/*",
        *(f"--customize-hook={hook}" for hook in customize),
        recipe.SUITE,
        str(rootfs_dir),
    ]
    run_checked(command, log, BuildError)


def _copy_boot_files(rootfs_dir: Path, out: Path) -> None:
    boot = rootfs_dir / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if len(kernels) != 1 or len(initrds) != 1:
        raise BuildError(f"expected one kernel and one initrd in {boot}, found {kernels} {initrds}")
    shutil.copyfile(kernels[0], out / "vmlinuz")
    shutil.copyfile(initrds[0], out / "initrd.img")


def _remove_stale_builds(root: Path) -> None:
    """Staging directories of builds that were killed (we hold the build lock, so none is live)."""
    for stale in root.glob(".build-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _remove_other_images(root: Path, keep: Path) -> None:
    for entry in root.iterdir():
        if entry.is_dir() and entry != keep and len(entry.name) == 16:
            shutil.rmtree(entry, ignore_errors=True)


def _step(what: str, log: Path) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] build: {what}"
    print(f"tests/vm/run: {line}", file=sys.stderr, flush=True)
    with open(log, "a") as f:
        f.write(line + "\n")
