"""GUI programs keep working under strict isolation: an X11 client reaches Xvfb."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import xvfb

pytestmark = pytest.mark.integration

COOKIE_NAME = b"MIT-MAGIC-COOKIE-1"
FAMILY_LOCAL = 256


def _xauth_entry(display_number: str, cookie: bytes) -> bytes:
    """One Xauthority record (Xau format: big-endian lengths, FamilyLocal with the hostname)."""

    def counted(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    return (
        FAMILY_LOCAL.to_bytes(2, "big")
        + counted(socket.gethostname().encode())
        + counted(display_number.encode())
        + counted(COOKIE_NAME)
        + counted(cookie)
    )


@pytest.fixture
def xvfb_with_cookie() -> Iterator[tuple[str, Path]]:
    """An Xvfb that only lets in clients with the cookie, kept in a file under /tmp."""
    number = str(90 + os.getpid() % 9)
    auth = Path(f"/tmp/ssc-test-xauth-{os.getpid()}")
    auth.write_bytes(_xauth_entry(number, os.urandom(16)))
    try:
        with xvfb(number, "-auth", str(auth)) as display:
            yield display, auth
    finally:
        auth.unlink()


def xdpyinfo_under_strict(display: str, xauthority: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISPLAY": display, "XAUTHORITY": xauthority}
    return subprocess.run(
        ["ssc", "--isolation=strict", "xdpyinfo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_x11_client_connects_to_xvfb_under_strict(xvfb_with_cookie: tuple[str, Path]) -> None:
    display, auth = xvfb_with_cookie
    result = xdpyinfo_under_strict(display, str(auth))
    assert result.returncode == 0, result.stderr
    assert f"name of display:    {display}" in result.stdout


def test_the_cookie_is_what_lets_the_client_in(xvfb_with_cookie: tuple[str, Path]) -> None:
    """Without the cookie the same client is refused: the bound XAUTHORITY file did the work."""
    display, _ = xvfb_with_cookie
    assert xdpyinfo_under_strict(display, "/nonexistent").returncode != 0
