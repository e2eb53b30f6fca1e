"""GUI programs keep working under strict isolation: an X11 client reaches Xvfb."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    if shutil.which("Xvfb") is None:
        if os.environ.get("SSC_TESTBED") or os.environ.get("CI"):
            pytest.fail("Xvfb is missing from the test bed")
        pytest.skip("Xvfb is not installed")
    number = str(90 + os.getpid() % 9)
    auth = Path(f"/tmp/ssc-test-xauth-{os.getpid()}")
    auth.write_bytes(_xauth_entry(number, os.urandom(16)))
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-auth", str(auth), "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket_path = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        assert server.poll() is None, "Xvfb exited"
        assert time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.2)
    try:
        yield f":{number}", auth
    finally:
        server.terminate()
        server.wait(timeout=30)
        auth.unlink()


def test_x11_client_connects_to_xvfb_under_strict(xvfb_with_cookie: tuple[str, Path]) -> None:
    display, auth = xvfb_with_cookie
    env = {**os.environ, "DISPLAY": display, "XAUTHORITY": str(auth)}
    result = subprocess.run(
        ["ssc", "--isolation=strict", "xdpyinfo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"name of display:    {display}" in result.stdout


def test_the_cookie_is_what_lets_the_client_in(xvfb_with_cookie: tuple[str, Path]) -> None:
    """Without the cookie the same client is refused: the bound XAUTHORITY file did the work."""
    display, _ = xvfb_with_cookie
    env = {**os.environ, "DISPLAY": display, "XAUTHORITY": "/nonexistent"}
    result = subprocess.run(
        ["ssc", "--isolation=strict", "xdpyinfo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
