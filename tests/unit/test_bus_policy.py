"""The bus policy as xdg-dbus-proxy's arguments: pure, and never reaching systemd or Flatpak."""

from __future__ import annotations

import pytest

from ssc.profiles import load_profile
from ssc.strict.bus_policy import FIELDS, BusPolicy, BusPolicyError, check_entry, policy_arguments


def test_the_policy_becomes_filter_arguments_in_order() -> None:
    policy = BusPolicy(
        own=("{app_id}.*",),
        talk=("org.freedesktop.Notifications",),
        see=("org.example.Seen",),
        call=("org.freedesktop.portal.*=*",),
        broadcast=("org.freedesktop.portal.*=@/org/freedesktop/portal/*",),
    )
    assert policy_arguments(policy, "org.gnome.TextEditor") == [
        "--filter",
        "--own=org.gnome.TextEditor.*",
        "--talk=org.freedesktop.Notifications",
        "--see=org.example.Seen",
        "--call=org.freedesktop.portal.*=*",
        "--broadcast=org.freedesktop.portal.*=@/org/freedesktop/portal/*",
    ]


@pytest.mark.parametrize("app_id", ["firefox", "firefox-esr", "x", "a/b", "", "1.2", "é.x", "org"])
def test_an_app_id_that_makes_no_bus_name_leaves_its_entries_out(app_id: str) -> None:
    policy = BusPolicy(own=("{app_id}.*", "org.mozilla.*"))
    assert policy_arguments(policy, app_id) == ["--filter", "--own=org.mozilla.*"]


@pytest.mark.parametrize(
    "app_id", ["org.freedesktop", "org.freedesktop.systemd1", "org.freedesktop.Flatpak"]
)
def test_an_app_id_that_would_reach_systemd_or_flatpak_is_an_error(app_id: str) -> None:
    with pytest.raises(BusPolicyError, match="would let the app reach its way out"):
        policy_arguments(BusPolicy(own=("{app_id}.*",)), app_id)


def test_ids_the_desktop_entries_register_are_owned_too_and_a_dangerous_one_is_left_out() -> None:
    policy = BusPolicy(own=("{app_id}.*",), talk=("org.freedesktop.Notifications",))
    registered = ["org.gnome.TextEditor", "org.freedesktop", "org.gnome.TextEditor"]
    assert policy_arguments(policy, "gnome-text-editor", registered) == [
        "--filter",
        "--own=org.gnome.TextEditor.*",
        "--talk=org.freedesktop.Notifications",
    ]


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("talk", "org.freedesktop.systemd1"),
        ("talk", "org.freedesktop.*"),
        ("see", "org.freedesktop.Flatpak"),
        ("call", "org.freedesktop.systemd1=*"),
        ("broadcast", "org.freedesktop.*=@/org/freedesktop/*"),
    ],
)
def test_no_entry_may_cover_systemd_or_flatpaks_host_commands(field: str, entry: str) -> None:
    refusal = check_entry(field, entry)
    assert refusal is not None
    assert "strict never allows" in refusal


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("talk", "*"),
        ("own", "org.*"),  # one element: xdg-dbus-proxy refuses it too
        ("talk", "org.kde.StatusNotifierItem-*"),
        ("own", "single"),
        ("own", ":1.42"),
        ("talk", "org..x"),
        ("call", "org.freedesktop.portal.*"),  # no rule
        ("call", "=*"),
    ],
)
def test_an_entry_that_is_not_a_bus_name_is_refused(field: str, entry: str) -> None:
    assert check_entry(field, entry) is not None


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("own", "{app_id}.*"),
        ("own", "{app_id}"),
        ("talk", "org.freedesktop.systemd1x"),  # another name, not below systemd1
        ("talk", "org.freedesktop.portal.Desktop"),
        ("call", "org.freedesktop.portal.*=*"),
        ("broadcast", "org.freedesktop.portal.*=@/org/freedesktop/portal/*"),
    ],
)
def test_ordinary_entries_are_accepted(field: str, entry: str) -> None:
    assert check_entry(field, entry) is None


def test_the_builtin_strict_policy_is_valid_and_leaves_systemd_and_flatpak_out() -> None:
    policy = load_profile("strict").bus
    assert policy is not None
    for one in (policy, *(app for _, app in policy.apps)):
        for field in FIELDS:
            for entry in getattr(one, field):
                assert check_entry(field, entry) is None, (field, entry)
    arguments = policy_arguments(policy, "org.mozilla.firefox")
    assert "--own=org.mozilla.firefox.*" in arguments
    assert "--talk=org.freedesktop.Notifications" in arguments
    assert not any("systemd1" in a or "org.freedesktop.Flatpak" in a for a in arguments)


def test_an_apps_own_entries_are_added_for_its_id_and_for_the_ids_it_registers() -> None:
    policy = BusPolicy(
        talk=("org.freedesktop.Notifications",),
        apps=(("org.keepassxc.KeePassXC", BusPolicy(own=("org.freedesktop.secrets",))),),
    )
    keyring = "--own=org.freedesktop.secrets"
    assert keyring in policy_arguments(policy, "org.keepassxc.KeePassXC")
    assert keyring in policy_arguments(policy, "keepassxc", ["org.keepassxc.KeePassXC"])
    for other in ("org.example.Other", "keepassxc", "org.keepassxc"):
        assert keyring not in policy_arguments(policy, other)


def test_the_builtin_policy_lets_keepassxc_alone_be_the_keyring_and_steam_reach_gamemode() -> None:
    policy = load_profile("strict").bus
    assert policy is not None
    assert "--own=org.freedesktop.secrets" in policy_arguments(policy, "org.keepassxc.KeePassXC")
    assert "--own=org.freedesktop.secrets" not in policy_arguments(policy, "org.mozilla.firefox")
    for steam in ("steam", "com.valvesoftware.Steam"):
        arguments = policy_arguments(policy, steam)
        assert "--own=com.steampowered.*" in arguments
        assert "--talk=com.feralinteractive.GameMode" in arguments
    assert "--talk=org.gnome.evolution.dataserver.*" in policy_arguments(policy, "x")


def test_activatable_apps_may_be_asked_to_open_files_and_nothing_else() -> None:
    arguments = policy_arguments(
        BusPolicy(),
        "org.example.Mail",
        activatable=["org.gnome.TextEditor", "org.example.Mail", "org.gnome.font-viewer", "x"],
    )
    assert arguments == [
        "--filter",
        "--call=org.gnome.TextEditor=org.freedesktop.Application.Open@/org/gnome/TextEditor",
        "--call=org.gnome.TextEditor=org.freedesktop.Application.Activate@/org/gnome/TextEditor",
        "--call=org.gnome.font-viewer=org.freedesktop.Application.Open@/org/gnome/font_viewer",
        "--call=org.gnome.font-viewer=org.freedesktop.Application.Activate@/org/gnome/font_viewer",
    ]


@pytest.mark.parametrize("app", ["org.freedesktop.systemd1", "org.freedesktop.Flatpak"])
def test_an_activatable_entry_named_like_systemd_or_flatpak_is_left_out(app: str) -> None:
    assert policy_arguments(BusPolicy(), "org.example.App", activatable=[app]) == ["--filter"]
