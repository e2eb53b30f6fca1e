"""The launcher's side of the system helper: what its answers become for the user (no bus)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from jeepney import HeaderFields

from ssc import held
from ssc.errors import SscError
from ssc.launcher.launch import Request
from ssc.launcher.launch_plan import plan_launch
from ssc.profiles import BUILTIN_DIR, Profile, parse_profile


def reply(error_name: str, text: str) -> SimpleNamespace:
    header = SimpleNamespace(fields={HeaderFields.error_name: error_name})
    return SimpleNamespace(header=header, body=(text,))


@pytest.mark.parametrize(
    "name",
    ["org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"],
)
def test_without_the_helper_a_held_launch_says_so_and_how_an_admin_installs_it(name: str) -> None:
    error = held._failure("start firefox under the helper", reply(name, "not provided"))
    assert (
        error.message
        == "Failed to start firefox under the helper: ssc's system helper is not installed"
    )
    assert error.hint is not None
    assert "ssc-helper install" in error.hint
    assert "root_held" in error.hint


def test_a_helper_that_cannot_start_points_to_its_journal() -> None:
    error = held._failure(
        "start x", reply("org.freedesktop.DBus.Error.Spawn.ChildExited", "exit 1")
    )
    assert "did not start (exit 1)" in error.message
    assert error.hint == "see: journalctl -u ssc-helper.service"


def test_a_refusal_is_the_helpers_own_words() -> None:
    error = held._failure(
        "set limits on u", reply("org.ssc.Helper1.Error.NotAuthorized", "polkit: raise: no")
    )
    assert error.message == "Failed to set limits on u: the helper refused: polkit: raise: no"
    assert error.name == "org.ssc.Helper1.Error.NotAuthorized"


def test_the_held_apps_cgroup_is_in_the_users_own_slice() -> None:
    assert held.held_directory(1000) == (
        "/sys/fs/cgroup/user.slice/user-1000.slice/user-1000-ssc.slice"
    )


def test_a_profile_asks_for_limits_held_by_root_with_a_key_of_its_own() -> None:
    base = Profile("held")
    profile = parse_profile('root_held = true\n[limits]\nMemoryMax = "1G"\n', "held.toml", base)
    assert profile.root_held is True
    assert parse_profile("", "other.toml", base).root_held is False


def test_the_built_in_profiles_are_not_held_by_root() -> None:
    import os

    for name in ("strict", "relaxed"):
        with open(os.path.join(BUILTIN_DIR, f"{name}.toml")) as f:
            assert parse_profile(f.read(), name, Profile(name)).root_held is False


def test_a_held_launch_does_not_read_the_shared_ceiling_of_the_user_managers_apps(
    tmp_path: Path,
) -> None:
    """``shared.toml`` is ``app-ssc.slice``'s; a held app's slice is the helper's, so a broken
    file refuses the user manager's launches and leaves the held ones alone."""
    (tmp_path / "ssc" / "profiles").mkdir(parents=True)
    (tmp_path / "ssc" / "profiles" / "held.toml").write_text("root_held = true\n")
    (tmp_path / "ssc" / "shared.toml").write_text("[limits\n")
    environ = {"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    held_plan = plan_launch(Request(["true"], "held"), "/bin/true", environ)
    assert held_plan.profile.root_held
    assert held_plan.shared_limits is None
    with pytest.raises(SscError, match=r"shared\.toml: not valid TOML"):
        plan_launch(Request(["true"], "relaxed"), "/bin/true", environ)
