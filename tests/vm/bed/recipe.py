"""What goes into the test bed's image, and the hash that names a built image in the cache.

The image is rebuilt only when this recipe changes: the Debian suite and packages, the files
copied into the guest (``tests/vm/guest/``), the build procedure (``image.py``) and the
project's Python dependencies (installed into the guest's venv at build time, because pip
under software emulation is slow).
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

SUITE = "trixie"  # systemd 257, Python 3.13, cgroup v2 with cpu/memory/pids delegated to user@

# What the guest needs, and why: a real init and user session, and what the features test with.
PACKAGES = (
    # a booted system with a lingering user's manager and session bus
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "dbus-user-session",
    "libpam-systemd",
    "polkitd",
    "linux-image-amd64",
    "kmod",
    "procps",
    "util-linux",
    "passwd",
    "ca-certificates",
    # Python for the project and its tests (a venv holds the project's dependencies)
    "python3",
    "python3-venv",
    # strict isolation: the sandbox, and the filtering proxy for the session bus
    "bubblewrap",
    "xdg-dbus-proxy",
    # GUI apps under strict, desktop entries and their launcher
    "xvfb",
    "x11-utils",
    "xterm",
    "desktop-file-utils",
    "libglib2.0-bin",
    # terminal profiles: the real gsettings schemas (Debian ships GNOME Terminal's in the
    # gnome-terminal package itself) and a backend that stores them
    "dconf-gsettings-backend",
    "dconf-service",
    "gnome-terminal",
    "ptyxis",
    # the root-side helper's tests: sudo for the one script that stops polkitd and installs
    # the helper as root (guest/as-root); polkitd above brings pkaction and pkcheck
    "sudo",
    # strict with real apps: a single-instance browser whose second start hands over to the
    # first through a socket under /tmp (chrome/browser/process_singleton_posix.cc)
    "chromium",
)

# Where things live inside the guest (guest/setup-image and guest/runner use the same paths).
GUEST_VENV = "/opt/ssc/venv"
TEST_USER = "tester"
TEST_UID = 1000

HERE = Path(__file__).resolve().parent
GUEST_DIR = HERE.parent / "guest"


def python_requirements(project_root: Path) -> list[str]:
    """The project's runtime and test requirements, plus the build backend, from pyproject.toml.

    The build backend is there so the guest can install the checkout without reaching PyPI.
    """
    pyproject = tomllib.loads((project_root / "pyproject.toml").read_text())
    project = pyproject["project"]
    requirements = list(project.get("dependencies", []))
    requirements += project.get("optional-dependencies", {}).get("test", [])
    requirements += pyproject["build-system"]["requires"]
    return requirements


def recipe_hash(project_root: Path) -> str:
    """A short hash over everything that decides the image's contents."""
    digest = hashlib.sha256()
    digest.update(SUITE.encode())
    digest.update("\0".join(PACKAGES).encode())
    digest.update("\0".join(python_requirements(project_root)).encode())
    for path in [HERE / "recipe.py", HERE / "image.py", *sorted(GUEST_DIR.rglob("*"))]:
        if path.is_file():
            digest.update(path.relative_to(HERE.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
