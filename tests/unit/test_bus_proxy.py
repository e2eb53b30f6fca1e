"""xdg-dbus-proxy as strict starts it: its command line, and a proxy that listens, dies or
stays silent (a fake one, in Python)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

import ssc.strict.bus_proxy
from ssc.errors import SscError
from ssc.strict.bus_proxy import proxy_argv, start


def test_the_proxy_command_line_has_one_bus_and_its_sync_descriptor() -> None:
    argv = proxy_argv(
        "/usr/bin/xdg-dbus-proxy",
        "unix:path=/run/user/1000/bus",
        "/run/user/1000/ssc/bus-1",
        7,
        ["--filter", "--talk=org.freedesktop.Notifications"],
    )
    assert argv == [
        "/usr/bin/xdg-dbus-proxy",
        "--fd=7",
        "unix:path=/run/user/1000/bus",
        "/run/user/1000/ssc/bus-1",
        "--filter",
        "--talk=org.freedesktop.Notifications",
    ]


FAKE_PROXY = """#!{python}
import os, select, sys, time
fd = int(next(a for a in sys.argv if a.startswith("--fd=")).split("=")[1])
behaviour = os.environ["FAKE_PROXY"]
if behaviour == "dies":
    sys.exit(1)
if behaviour == "silent":
    time.sleep(30)
os.write(fd, b"x")
poller = select.poll()
poller.register(fd, 0)  # a write end reports POLLERR once every read end is closed
poller.poll(30_000)
open(os.environ["FAKE_PROXY_DONE"], "w").close()
"""


@pytest.fixture
def fake_proxy(tmp_path: Path) -> Path:
    proxy = tmp_path / "xdg-dbus-proxy"
    proxy.write_text(FAKE_PROXY.format(python=sys.executable))
    proxy.chmod(0o755)
    return proxy


def test_a_proxy_that_listens_is_tied_to_the_read_end_and_ends_with_it(
    fake_proxy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = tmp_path / "done"
    monkeypatch.setenv("FAKE_PROXY", "listens")
    monkeypatch.setenv("FAKE_PROXY_DONE", str(done))
    bus = start(str(fake_proxy), "unix:path=/nowhere", str(tmp_path / "bus"), ["--filter"])
    assert bus.socket == str(tmp_path / "bus")
    assert os.get_inheritable(bus.sync_fd)  # bwrap gets it as --sync-fd
    assert not done.exists()
    os.close(bus.sync_fd)  # the sandbox is gone
    deadline = time.monotonic() + 30
    while not done.exists():
        assert time.monotonic() < deadline, "the proxy outlived the sandbox"
        time.sleep(0.05)


@pytest.mark.parametrize(("behaviour", "reason"), [("dies", "it exited"), ("silent", "it did not")])
def test_a_proxy_that_does_not_listen_is_a_clear_error(
    fake_proxy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: str,
    reason: str,
) -> None:
    monkeypatch.setenv("FAKE_PROXY", behaviour)
    monkeypatch.setattr(ssc.strict.bus_proxy, "READY_TIMEOUT", 1.0)
    with pytest.raises(SscError, match=f"Failed to start xdg-dbus-proxy .*: {reason}"):
        start(str(fake_proxy), "unix:path=/nowhere", str(tmp_path / "bus"), ["--filter"])
