"""When a desktop launcher's one move of ssc's process has provably happened already."""

from __future__ import annotations

import os

import pytest

from ssc.cgroup import cgroup_of
from ssc.launcher.desktop_launchers import move_is_done

APPS = "/user.slice/user-1000.slice/user@1000.service/app.slice"
SHELL = (
    "/user.slice/user-1000.slice/user@1000.service/session.slice/org.gnome.Shell@wayland.service"
)
TERMINAL = f"{APPS}/app-gnome-org.gnome.Terminal-2301.scope"
VTE_TAB = f"{APPS}/vte-spawn-6f0e4c8a-5b1e-4c6f-9a7e-2a1d3c4b5e6f.scope"
PTYXIS_TAB = f"{APPS}/ptyxis-spawn-5b0e2c1a3f4d4e6f8a9b0c1d2e3f4a5b.scope"


def test_gnome_shells_scope_for_this_pid_proves_its_move() -> None:
    assert move_is_done(f"{APPS}/app-gnome-firefox\\x2desr-4242.scope", SHELL, 4242)


@pytest.mark.parametrize("parent", [SHELL, f"{APPS}/app-gnome-firefox\\x2desr-4242.scope"])
def test_gnome_shells_scope_for_another_pid_proves_nothing(parent: str) -> None:
    """Born in an ancestor's scope: GNOME's move of *this* PID may be still to come."""
    assert not move_is_done(f"{APPS}/app-gnome-firefox\\x2desr-4242.scope", parent, 4243)


@pytest.mark.parametrize("tab", [VTE_TAB, PTYXIS_TAB])
def test_a_terminals_spawn_scope_proves_the_move_when_this_process_was_moved_there(
    tab: str,
) -> None:
    assert move_is_done(tab, TERMINAL, 5000)


@pytest.mark.parametrize("tab", [VTE_TAB, PTYXIS_TAB])
def test_a_process_born_in_a_tabs_scope_may_still_be_moved_by_its_parent(tab: str) -> None:
    """``ssc`` typed in a tab's shell, or started by a launcher running in that tab."""
    assert not move_is_done(tab, tab, 5000)


@pytest.mark.parametrize("tab", [VTE_TAB, PTYXIS_TAB])
def test_a_spawn_scope_with_no_readable_parent_proves_nothing(tab: str) -> None:
    assert not move_is_done(tab, None, 5000)


@pytest.mark.parametrize(
    "own",
    [
        SHELL,
        f"{APPS}/app-org.kde.konsole-5c1d4e0f2a3b4c5d.scope",  # KDE: the name holds no PID
        f"{APPS}/app-ssc-bash-01234567890123456789.scope",  # an app of ssc's own
        f"{APPS}/app-gnome-firefox-4242.service",
        f"{APPS}/vte-spawn-.scope",
        "/",
        "",
        None,
    ],
)
def test_anything_else_proves_nothing(own: str | None) -> None:
    assert not move_is_done(own, TERMINAL, 4242)


def test_the_cgroup_of_this_process_is_read_from_proc() -> None:
    own = cgroup_of(os.getpid())
    if own is None:
        pytest.skip("no cgroup v2 line in /proc/self/cgroup here")
    assert own.startswith("/")


def test_the_cgroup_of_a_process_that_does_not_exist_is_none() -> None:
    assert cgroup_of(2**22 + 1) is None
