"""``ssc-helper install|uninstall``: the four files it writes, the path it refuses, and the edge."""

from __future__ import annotations

import configparser
import itertools
import os
import posixpath
import stat
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

from ssc.errors import SscError
from ssc.helper import install as installer
from ssc.helper.install import HelperPath

VENV_PYTHON = "/opt/ssc/bin/python3"
REPO = Path(__file__).resolve().parents[2]
POLICY_SOURCE = REPO / "ssc" / "helper" / "data" / "org.ssc.helper.policy"


# --- The unit -------------------------------------------------------------------------------


def service_lines(python: str = VENV_PYTHON) -> list[str]:
    lines = installed_unit(python).splitlines()
    return lines[lines.index("[Service]") + 1 :]


def installed_unit(python: str) -> str:
    return installer.unit_text(python)


def setting_pairs(lines: list[str]) -> list[tuple[str, str]]:
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith(("#", "[")))
    return [(key, value) for key, value in pairs]


def settings(lines: list[str]) -> dict[str, str]:
    return dict(setting_pairs(lines))


def test_the_unit_runs_the_venvs_own_python_isolated_as_the_helper_module() -> None:
    assert settings(service_lines())["ExecStart"] == f"{VENV_PYTHON} -I -m ssc.helper"


def test_the_unit_is_a_bus_service_that_is_ready_once_it_owns_the_helpers_name() -> None:
    service = settings(service_lines())
    assert (service["Type"], service["BusName"]) == ("dbus", "org.ssc.Helper1")


def test_every_hardening_setting_has_a_comment_line_above_it() -> None:
    lines = service_lines()
    for setting, _reason in installer.HARDENING:
        index = lines.index(setting)
        assert lines[index - 1].startswith("# "), setting
    uncommented = [
        line
        for before, line in itertools.pairwise(lines)
        if line and not line.startswith("#") and not before.startswith("#")
    ]
    assert uncommented == ["BusName=org.ssc.Helper1"]  # the half of Type=dbus's pair


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("PrivateNetwork", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", "@system-service"),
        ("SystemCallFilter", "~@privileged @resources"),
        ("SystemCallErrorNumber", "EPERM"),
        ("PrivateMounts", "yes"),
        ("UMask", "0077"),
        ("IPAddressDeny", "any"),
        ("ProtectProc", "default"),
    ],
)
def test_the_unit_is_hardened_with(key: str, value: str) -> None:
    assert (key, value) in setting_pairs(service_lines())


def test_the_helper_stays_root_and_sees_other_users_processes() -> None:
    service = settings(service_lines())
    assert "User" not in service
    assert "DynamicUser" not in service
    assert "PrivateUsers" not in service  # would show other users' uids in /proc as nobody


def test_a_venv_path_with_a_space_or_a_specifier_stays_one_literal_word() -> None:
    exec_start = settings(service_lines("/srv/my venv/100%/bin/py$thon"))["ExecStart"]
    assert exec_start == '"/srv/my venv/100%%/bin/py$$thon" -I -m ssc.helper'


def test_a_venv_path_with_a_newline_cannot_become_a_unit() -> None:
    with pytest.raises(ValueError, match="control character"):
        installer.unit_text("/opt/ssc/bin/python3\nExecStartPre=/bin/evil")


# --- The bus policy, the activation file, the polkit actions ---------------------------------


def parse_xml(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def test_only_root_may_own_the_helpers_bus_name() -> None:
    config = parse_xml(installer.bus_policy_text())
    owners = [
        (policy.attrib, rule.tag)
        for policy in config.iter("policy")
        for rule in policy
        if rule.get("own") == "org.ssc.Helper1"
    ]
    assert owners == [({"user": "root"}, "allow"), ({"context": "default"}, "deny")]
    assert not [rule for rule in config.iter() if rule.get("own_prefix")]


def test_anyone_may_call_the_helper_its_introspection_peer_and_properties_only() -> None:
    config = parse_xml(installer.bus_policy_text())
    default = next(policy for policy in config.iter("policy") if policy.get("context"))
    sends = [rule.attrib for rule in default if rule.tag == "allow"]
    assert all(send["send_destination"] == "org.ssc.Helper1" for send in sends)
    assert [send["send_interface"] for send in sends] == [
        "org.ssc.Helper1",
        "org.freedesktop.DBus.Introspectable",
        "org.freedesktop.DBus.Peer",
        "org.freedesktop.DBus.Properties",
    ]


def test_only_root_may_ask_the_system_manager_to_move_a_process_into_a_user_manager() -> None:
    """What keeps a held app in its scope: AttachProcessesToUnit and AttachProcesses."""
    config = parse_xml(installer.bus_policy_text())
    rules = [
        (policy.get("context") or policy.get("user"), rule.tag, rule.get("send_member"))
        for policy in config.iter("policy")
        for rule in policy
        if rule.get("send_destination") == "org.freedesktop.systemd1"
    ]
    kinds = ("Service", "Socket", "Mount", "Swap", "Slice", "Scope")
    calls = [("AttachProcessesToUnit", "Manager")] + [("AttachProcesses", k) for k in kinds]
    assert rules == [("default", "deny", member) for member, _ in calls] + [
        ("root", "allow", member) for member, _ in calls
    ]
    interfaces = {
        rule.get("send_interface")
        for rule in config.iter()
        if rule.get("send_destination") == "org.freedesktop.systemd1"
    }
    assert interfaces == {f"org.freedesktop.systemd1.{kind}" for _, kind in calls}


def test_the_activation_file_hands_the_helpers_name_to_its_unit() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(installer.activation_text())
    assert dict(parser["D-BUS Service"]) == {
        "Name": "org.ssc.Helper1",
        "Exec": "/bin/false",
        "User": "root",
        "SystemdService": "ssc-helper.service",
    }


def defaults_of(policy: ET.Element) -> dict[str, dict[str, str]]:
    return {
        action.attrib["id"]: {
            rule.tag: rule.text or "" for rule in action.iter() if rule.tag.startswith("allow_")
        }
        for action in policy.iter("action")
    }


def test_the_polkit_actions_are_contain_for_the_active_session_and_raise_for_admins() -> None:
    policy = ET.parse(POLICY_SOURCE).getroot()
    assert policy.findtext("vendor") == "ssc"
    assert defaults_of(policy) == {
        "org.ssc.helper.contain": {
            "allow_any": "no",
            "allow_inactive": "no",
            "allow_active": "yes",
        },
        "org.ssc.helper.raise": {
            "allow_any": "auth_admin_keep",
            "allow_inactive": "auth_admin_keep",
            "allow_active": "auth_admin_keep",
        },
    }
    for action in policy.iter("action"):
        assert action.findtext("description")
        assert action.findtext("message")


def test_the_installed_polkit_actions_carry_the_marker_and_still_parse() -> None:
    source = POLICY_SOURCE.read_text()
    installed = installer.marked_xml(source)
    assert installed.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!-- Written by')
    assert defaults_of(parse_xml(installed)) == defaults_of(parse_xml(source))


def test_contrib_shows_the_very_policy_file_the_package_installs() -> None:
    link = REPO / "contrib" / "polkit" / "org.ssc.helper.policy"
    assert os.readlink(link) == "../../ssc/helper/data/org.ssc.helper.policy"
    assert link.samefile(POLICY_SOURCE)


def test_every_file_install_writes_carries_the_marker_in_its_first_lines() -> None:
    files = installer.installed_files(VENV_PYTHON, POLICY_SOURCE.read_text())
    assert sorted(files) == sorted(installer.INSTALLED)
    for text in files.values():
        assert installer.carries_marker(text)
    assert not installer.carries_marker(POLICY_SOURCE.read_text())


# --- Who may change what the helper loads -----------------------------------------------------


STICKY = "/x is writable by anyone: mode 1777, sticky like /tmp, so anyone may put files in it"


def fake_stat(kind: str, uid: int, permissions: int) -> os.stat_result:
    file_type = {"d": stat.S_IFDIR, "f": stat.S_IFREG}.get(kind, stat.S_IFLNK)
    return os.stat_result((file_type | permissions, 0, 0, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("kind", "uid", "permissions", "reason"),
    [
        ("d", 0, 0o755, None),
        ("f", 0, 0o644, None),
        ("f", 0, 0o755, None),
        ("f", 1000, 0o644, "/x is owned by uid 1000, not root"),
        ("d", 1000, 0o755, "/x is owned by uid 1000, not root"),
        ("f", 0, 0o664, "/x is writable by its group, gid 0: mode 0664"),
        ("d", 0, 0o775, "/x is writable by its group, gid 0: mode 0775"),
        ("f", 0, 0o646, "/x is writable by anyone: mode 0646"),
        ("d", 0, 0o1777, STICKY),
        ("-> /y", 1000, 0o777, None),  # a link itself: its target is what counts
    ],
)
def test_unsafe_reason(kind: str, uid: int, permissions: int, reason: str | None) -> None:
    assert installer.unsafe_reason(fake_stat(kind, uid, permissions), "/x") == reason


class FakeFileSystem:
    """A file system from a table: path -> (kind, uid, permissions); kind is "d", "f", or
    "-> target" for a symlink. Missing ancestors are root-owned 0755 directories."""

    def __init__(self, table: dict[str, tuple[str, int, int]]) -> None:
        self.table: dict[str, tuple[str, int, int]] = {"/": ("d", 0, 0o755)}
        for path in table:
            parent = posixpath.dirname(path)
            while parent not in self.table:
                self.table[parent] = ("d", 0, 0o755)
                parent = posixpath.dirname(parent)
        self.table.update(table)

    def lstat(self, path: str) -> os.stat_result:
        if path not in self.table:
            raise FileNotFoundError(path)
        return fake_stat(*self.table[path])

    def readlink(self, path: str) -> str:
        return self.table[path][0].removeprefix("-> ")

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return [
            name[len(prefix) :]
            for name in self.table
            if name.startswith(prefix) and name != path and "/" not in name[len(prefix) :]
        ]


SITE = "/opt/ssc/lib/python3.11/site-packages"
HELPER = HelperPath(
    python=VENV_PYTHON,
    sys_path=("/usr/lib/python311.zip", "/usr/lib/python3.11", SITE),
    helper_file=f"{SITE}/ssc/helper/__init__.py",
)


def venv(changes: dict[str, tuple[str, int, int]] | None = None) -> FakeFileSystem:
    """A root-owned venv in /opt/ssc on the system's python, with ``changes``."""
    table = {
        VENV_PYTHON: ("-> python3.11", 0, 0o777),
        "/opt/ssc/bin/python3.11": ("-> /usr/bin/python3.11", 0, 0o777),
        "/usr/bin/python3.11": ("f", 0, 0o755),
        "/opt/ssc/pyvenv.cfg": ("f", 0, 0o644),
        "/usr/lib/python3.11/os.py": ("f", 0, 0o644),
        "/usr/lib/python3.11/json/__init__.py": ("f", 0, 0o644),
        f"{SITE}/ssc/__init__.py": ("f", 0, 0o644),
        f"{SITE}/ssc/helper/__init__.py": ("f", 0, 0o644),
        f"{SITE}/ssc/helper/data/org.ssc.helper.policy": ("f", 0, 0o644),
        f"{SITE}/jeepney/io/blocking.py": ("f", 0, 0o644),
    }
    return FakeFileSystem({**table, **(changes or {})})


def test_a_root_owned_venv_on_a_root_owned_python_may_be_installed() -> None:
    assert installer.refusal(HELPER, venv()) is None


def test_an_unsafe_file_deep_in_a_sys_path_tree_is_found() -> None:
    fs = venv(
        {f"{SITE}/jeepney/io/blocking.py": ("f", 1000, 0o644)},
    )
    assert installer.refusal(HELPER, fs) == (
        f"refusing to install: {SITE}/jeepney/io/blocking.py is owned by uid 1000, not root"
        " (the helper runs as root and must run only root-owned code)"
    )


def test_an_unsafe_ancestor_of_the_venv_is_found() -> None:
    fs = venv({"/opt": ("d", 0, 0o775)})
    reason = installer.refusal(HELPER, fs)
    assert reason
    assert reason.startswith("refusing to install: /opt is writable by its group")


def test_the_interpreter_a_venv_links_to_is_checked_through_every_link() -> None:
    fs = venv(
        {
            "/opt/ssc/bin/python3.11": ("-> /srv/alice/python3", 0, 0o777),
            "/srv/alice": ("d", 1000, 0o755),
            "/srv/alice/python3": ("-> /usr/bin/python3.11", 1000, 0o777),
        }
    )
    reason = installer.refusal(HELPER, fs)
    assert reason
    assert reason.startswith("refusing to install: /srv/alice is owned by uid 1000")


def test_a_missing_sys_path_entry_is_unsafe_when_anyone_could_create_it() -> None:
    fs = venv({"/usr/lib": ("d", 0, 0o1777)})
    reason = installer.refusal(HELPER, fs)
    assert reason
    assert reason.startswith("refusing to install: /usr/lib is writable by anyone")


def test_a_writable_pyvenv_cfg_is_found() -> None:
    fs = venv({"/opt/ssc/pyvenv.cfg": ("f", 0, 0o666)})
    reason = installer.refusal(HELPER, fs)
    assert reason
    assert "/opt/ssc/pyvenv.cfg is writable by anyone" in reason


def test_an_editable_install_pointing_into_a_home_directory_is_refused() -> None:
    helper = HelperPath(VENV_PYTHON, HELPER.sys_path, "/home/alice/src/ssc/ssc/helper/__init__.py")
    fs = FakeFileSystem(
        {
            "/home/alice": ("d", 1000, 0o755),
            "/home/alice/src/ssc/ssc/helper/__init__.py": ("f", 1000, 0o644),
        }
    )
    reason = installer.refusal(helper, fs)
    assert reason
    assert reason.startswith("refusing to install: /home/alice is owned by uid 1000")


def test_an_editable_install_from_a_root_owned_checkout_is_refused_too() -> None:
    helper = HelperPath(VENV_PYTHON, HELPER.sys_path, "/srv/ssc/ssc/helper/__init__.py")
    fs = venv({"/srv/ssc/ssc/helper/__init__.py": ("f", 0, 0o644)})
    assert installer.refusal(helper, fs) == (
        f"refusing to install: {VENV_PYTHON} imports ssc from /srv/ssc/ssc, outside its"
        " sys.path (an editable install?); install ssc into the venv itself, without -e"
    )


def test_a_venv_under_root_s_home_is_refused_because_the_unit_hides_it() -> None:
    python = "/root/.local/pipx/venvs/ssc/bin/python3"
    site = "/root/.local/pipx/venvs/ssc/lib/python3.11/site-packages"
    helper = HelperPath(python, (site,), f"{site}/ssc/helper/__init__.py")
    fs = FakeFileSystem(
        {
            "/root": ("d", 0, 0o700),
            python: ("-> /usr/bin/python3.11", 0, 0o777),
            "/usr/bin/python3.11": ("f", 0, 0o755),
            f"{site}/ssc/helper/__init__.py": ("f", 0, 0o644),
        }
    )
    reason = installer.refusal(helper, fs)
    assert reason
    assert reason.startswith(f"refusing to install: {python} is under /root")
    assert "ProtectHome=yes" in reason


def test_a_symlink_loop_is_an_error_not_a_hang() -> None:
    fs = venv({"/usr/bin/python3.11": ("-> /usr/bin/python3.11", 0, 0)})
    with pytest.raises(OSError, match="too many levels"):
        installer.refusal(HELPER, fs)


# --- The command line -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_a_user_other_than_root_is_refused_in_one_line(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert installer.main([command]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("ssc-helper: must be run as root")
    assert err.count("\n") == 1


def test_an_unsafe_path_is_refused_in_one_line_before_anything_is_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_install(*args: object, **kwargs: object) -> installer.Outcome:
        raise AssertionError("install ran")

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(sys, "executable", VENV_PYTHON)
    monkeypatch.setattr(installer, "ask_helper_path", lambda python: HELPER)
    monkeypatch.setattr(installer, "RealFileSystem", lambda: venv({"/opt/ssc": ("d", 1000, 0o755)}))
    monkeypatch.setattr(installer, "install", no_install)
    assert installer.main(["install"]) == 1
    _, err = capsys.readouterr()
    assert err == (
        "ssc-helper: refusing to install: /opt/ssc is owned by uid 1000, not root"
        " (the helper runs as root and must run only root-owned code)\n"
    )


# --- Installing and uninstalling under a temporary root ---------------------------------------


class Commands:
    """Records the commands install and uninstall run; fails those it is told to."""

    def __init__(self, failing: Sequence[str] = (), active: bool = False) -> None:
        self.ran: list[list[str]] = []
        self.failing = failing
        self.active = active

    def __call__(self, argv: Sequence[str]) -> str | None:
        self.ran.append(list(argv))
        if argv[:2] == ["systemctl", "is-active"]:
            return None if self.active else "inactive"
        return "Failed to connect to bus" if any(word in argv for word in self.failing) else None


def which(name: str) -> str | None:
    return {"busctl": "/usr/bin/busctl", "dbus-send": "/usr/bin/dbus-send"}.get(name)


BUSCTL_RELOAD = [
    "/usr/bin/busctl",
    "--system",
    "call",
    "org.freedesktop.DBus",
    "/org/freedesktop/DBus",
    "org.freedesktop.DBus",
    "ReloadConfig",
]


def do_install(root: Path, commands: Commands | None = None) -> installer.Outcome:
    return installer.install(
        VENV_PYTHON,
        POLICY_SOURCE.read_text(),
        root=str(root),
        run=commands or Commands(),
        which=which,
    )


def test_install_writes_the_four_files_marked_and_world_readable_then_reloads(
    tmp_path: Path,
) -> None:
    commands = Commands()
    outcome = do_install(tmp_path, commands)
    written = sorted(
        str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()
    )
    assert written == sorted(installer.INSTALLED)
    for relative in installer.INSTALLED:
        path = tmp_path / relative
        assert installer.carries_marker(path.read_text())
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert outcome.lines == [f"Wrote {tmp_path / relative}" for relative in installer.INSTALLED]
    assert outcome.last == "Check it with: pkaction --action-id org.ssc.helper.contain --verbose"
    assert outcome.warnings == []
    assert commands.ran == [["systemctl", "daemon-reload"], BUSCTL_RELOAD]


def test_installing_twice_replaces_its_own_files(tmp_path: Path) -> None:
    do_install(tmp_path)
    outcome = do_install(tmp_path)
    assert len(outcome.lines) == 4
    assert not list(tmp_path.rglob("*.tmp"))


def test_install_will_not_overwrite_a_file_it_did_not_write(tmp_path: Path) -> None:
    own = tmp_path / installer.UNIT_PATH
    own.parent.mkdir(parents=True)
    own.write_text("[Service]\nExecStart=/usr/local/bin/my-helper\n")
    with pytest.raises(SscError, match="was not written by ssc-helper install"):
        do_install(tmp_path)
    assert own.read_text() == "[Service]\nExecStart=/usr/local/bin/my-helper\n"
    assert not (tmp_path / installer.ACTIONS_PATH).exists()


def test_a_failed_reload_is_a_warning_and_the_files_stay(tmp_path: Path) -> None:
    outcome = do_install(tmp_path, Commands(failing=["daemon-reload", "ReloadConfig"]))
    assert outcome.warnings == [
        "systemctl daemon-reload failed: Failed to connect to bus",
        "the system bus did not reload its configuration: Failed to connect to bus",
    ]
    assert all((tmp_path / relative).exists() for relative in installer.INSTALLED)


def test_the_bus_reload_falls_back_to_dbus_send_and_warns_without_either() -> None:
    argv = installer.bus_reload_argv(lambda name: "/bin/dbus-send" if name == "dbus-send" else None)
    assert argv
    assert (argv[0], argv[-1]) == ("/bin/dbus-send", "org.freedesktop.DBus.ReloadConfig")
    warnings = installer.reload_system(Commands(), lambda name: None)
    assert warnings == [
        "cannot ask the system bus to reload its configuration: neither busctl nor dbus-send"
        " is installed"
    ]


def test_uninstall_removes_exactly_the_marked_files_and_leaves_an_unmarked_one(
    tmp_path: Path,
) -> None:
    do_install(tmp_path)
    neighbour = tmp_path / "etc/systemd/system/other.service"
    neighbour.write_text("[Service]\n")
    (tmp_path / installer.BUS_POLICY_PATH).write_text("<busconfig/>\n")  # an admin's own now
    commands = Commands()
    outcome = installer.uninstall(root=str(tmp_path), run=commands, which=which)
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert left == sorted([installer.BUS_POLICY_PATH, "etc/systemd/system/other.service"])
    assert outcome.warnings == [
        f"left {tmp_path / installer.BUS_POLICY_PATH} in place:"
        " it was not written by ssc-helper install"
    ]
    assert outcome.lines == [
        f"Removed {tmp_path / relative}"
        for relative in installer.INSTALLED
        if relative != installer.BUS_POLICY_PATH
    ]
    assert commands.ran[-2:] == [["systemctl", "daemon-reload"], BUSCTL_RELOAD]


def test_uninstall_stops_a_running_helper_first(tmp_path: Path) -> None:
    do_install(tmp_path)
    commands = Commands(active=True)
    installer.uninstall(root=str(tmp_path), run=commands, which=which)
    assert commands.ran[:2] == [
        ["systemctl", "is-active", "--quiet", "ssc-helper.service"],
        ["systemctl", "stop", "ssc-helper.service"],
    ]


def test_uninstalling_twice_is_fine(tmp_path: Path) -> None:
    do_install(tmp_path)
    installer.uninstall(root=str(tmp_path), run=Commands(), which=which)
    outcome = installer.uninstall(root=str(tmp_path), run=Commands(), which=which)
    assert outcome.lines == ["Nothing to remove: the helper's files are not installed"]
    assert outcome.warnings == []
