"""Profiles: TOML text → a frozen Profile, a user's file merged over a built-in one key by key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ssc.errors import UsageError
from ssc.limits import AllButOne, Bytes, Percent
from ssc.profiles import (
    BUILTIN_DIR,
    Limits,
    Profile,
    ProfileError,
    load_profile,
    parse_profile,
    profile_names,
)
from ssc.strict.bus_policy import BusPolicy

SOURCE = "/home/u/.config/ssc/profiles/mine.toml"


@pytest.fixture
def user_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``$XDG_CONFIG_HOME`` in tmp_path: the user's profile directory, created and empty."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    directory = tmp_path / "ssc" / "profiles"
    directory.mkdir(parents=True)
    return directory


def parse(text: str) -> Profile:
    return parse_profile(text, SOURCE, Profile(name="mine"))


def test_a_profile_file_sets_description_isolation_and_limits() -> None:
    profile = parse(
        """
        description = "for builds"
        isolate = true

        [limits]
        CPUQuota = "150%"
        MemoryMax = "4G"
        MemoryHigh = "60%"
        MemorySwapMax = "0"
        TasksMax = "4096"
        CPUWeight = "50"
        """
    )
    assert profile == Profile(
        name="mine",
        description="for builds",
        isolate=True,
        limits=Limits(
            cpu_quota=15000,
            memory_max=Bytes(4 * 1024**3),
            memory_high=Percent(6000),
            memory_swap_max=Bytes(0),
            tasks_max=4096,
            cpu_weight=50,
        ),
        sources=(SOURCE,),
    )


def test_an_empty_file_changes_nothing_but_is_recorded_as_a_source() -> None:
    base = Profile(name="mine", description="d", isolate=True, limits=Limits(cpu_weight=5))
    assert parse_profile("", SOURCE, base) == Profile(
        name="mine", description="d", isolate=True, limits=Limits(cpu_weight=5), sources=(SOURCE,)
    )


def test_builtin_strict_caps_cpu_and_memory_and_isolates(user_dir: Path) -> None:
    profile = load_profile("strict")
    assert profile.isolate is True
    assert profile.limits == Limits(
        cpu_quota=AllButOne(),
        memory_max=Percent(7000),
        memory_high=Percent(6500),
        memory_swap_max=Percent(500),
        oom_policy="continue",
    )
    assert profile.sources == (os.path.join(BUILTIN_DIR, "strict.toml"),)


def test_builtin_relaxed_caps_memory_only_and_does_not_isolate(user_dir: Path) -> None:
    profile = load_profile("relaxed")
    assert profile.isolate is False
    assert profile.limits == Limits(
        memory_max=Percent(7000), memory_swap_max=Percent(500), oom_policy="continue"
    )


def test_a_user_file_overrides_one_key_of_a_builtin_and_keeps_the_rest(user_dir: Path) -> None:
    builtin = load_profile("strict")
    (user_dir / "strict.toml").write_text('[limits]\nMemoryMax = "50%"\n')
    profile = load_profile("strict")
    assert profile.limits == Limits(
        cpu_quota=AllButOne(),
        memory_max=Percent(5000),
        memory_high=Percent(6500),
        memory_swap_max=Percent(500),
        oom_policy="continue",
    )
    assert profile.isolate is True
    assert profile.description == builtin.description
    assert profile.sources == (
        os.path.join(BUILTIN_DIR, "strict.toml"),
        str(user_dir / "strict.toml"),
    )


def test_a_user_file_can_turn_isolation_off_for_a_builtin(user_dir: Path) -> None:
    (user_dir / "strict.toml").write_text("isolate = false\n")
    profile = load_profile("strict")
    assert profile.isolate is False
    assert profile.limits.cpu_quota == AllButOne()


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("CPUQuota", "cpu_quota"),
        ("MemoryMax", "memory_max"),
        ("MemoryHigh", "memory_high"),
        ("MemorySwapMax", "memory_swap_max"),
    ],
)
def test_infinity_removes_a_builtin_limit(user_dir: Path, key: str, field: str) -> None:
    assert getattr(load_profile("strict").limits, field) is not None
    (user_dir / "strict.toml").write_text(f'[limits]\n{key} = "infinity"\n')
    limits = load_profile("strict").limits
    assert getattr(limits, field) is None
    others = {"cpu_quota", "memory_max", "memory_high", "memory_swap_max"} - {field}
    assert all(getattr(limits, other) is not None for other in others)


def test_a_new_user_profile_is_loaded_on_its_own(user_dir: Path) -> None:
    path = user_dir / "builds.toml"
    path.write_text('description = "make -j"\n[limits]\nCPUQuota = "400%"\nMemoryMax = "8G"\n')
    assert load_profile("builds") == Profile(
        name="builds",
        description="make -j",
        isolate=False,
        limits=Limits(cpu_quota=40000, memory_max=Bytes(8 * 1024**3)),
        sources=(str(path),),
    )


def test_user_profiles_are_listed_with_the_builtin_ones(user_dir: Path) -> None:
    (user_dir / "builds.toml").write_text("")
    (user_dir / "not a name.toml").write_text("")
    (user_dir / "notes.txt").write_text("")
    assert profile_names() == ["builds", "relaxed", "strict"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'colour = "red"',
            "unknown key 'colour' (known: description, isolate, root_held, limits, bus)",
        ),
        ('[limits]\nPrivateTmp = "yes"', "unknown key limits.PrivateTmp (known: CPUQuota,"),
        ('[limits]\nDelegate = "yes"', "unknown key limits.Delegate"),
        ('[limits]\nmemorymax = "4G"', "unknown key limits.memorymax"),
        ('[limits]\nMemoryMax = "lots"', "limits.MemoryMax: 'lots' is not a size"),
        ('[limits]\nMemoryMax = "15M"', "limits.MemoryMax: '15M' is below the smallest"),
        ('[limits]\nCPUQuota = "0.5%"', "limits.CPUQuota: '0.5%' is below the smallest"),
        ('[limits]\nMemoryMax = "1G;Delegate=yes"', "limits.MemoryMax: '1G;Delegate=yes'"),
        ('[limits]\nTasksMax = "0"', "limits.TasksMax: '0' is not a task count"),
        ('[limits]\nCPUWeight = "0"', "limits.CPUWeight: '0' is not a weight"),
        ('isolate = "yes"', "isolate must be a boolean (true or false), not 'yes'"),
        ("isolate = 1", "isolate must be a boolean (true or false), not 1"),
        ("description = 42", "description must be a string, not 42"),
        ('limits = "none"', "limits must be a table, not 'none'"),
        ("[limits]\nMemoryMax = 4096", "limits.MemoryMax: '4096' is below the smallest"),
        ("[limits]\nTasksMax = true", "limits.TasksMax must be a string, not True"),
        ("[limits]\nCPUQuota = true", "limits.CPUQuota must be a string, not True"),
        ("[limits.MemoryMax]\nvalue = 1", "limits.MemoryMax must be a string"),
    ],
)
def test_errors_name_the_file_and_the_key(text: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(text)
    assert caught.value.message.startswith(f"{SOURCE}: ")
    assert message in caught.value.message


@pytest.mark.parametrize(
    "text",
    ["isolate = yes", "[limits\n", 'description = "a"\ndescription = "b"', "= 1", 'a = "\n"'],
)
def test_invalid_toml_is_an_error_naming_the_file(text: str) -> None:
    with pytest.raises(ProfileError, match=r"^/home/u/\.config/ssc/profiles/mine\.toml: not valid"):
        parse(text)


def test_a_broken_user_file_is_an_error_naming_that_file(user_dir: Path) -> None:
    (user_dir / "strict.toml").write_text('[limits]\nMemoryMax = "huge"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile("strict")
    assert caught.value.message.startswith(f"{user_dir / 'strict.toml'}: limits.MemoryMax:")


def test_a_user_file_that_cannot_be_read_is_an_error_naming_it(user_dir: Path) -> None:
    (user_dir / "strict.toml").mkdir()
    with pytest.raises(ProfileError) as caught:
        load_profile("strict")
    assert caught.value.message.startswith(f"{user_dir / 'strict.toml'}: cannot read:")


def test_an_unknown_profile_is_a_usage_error_listing_the_known_ones(user_dir: Path) -> None:
    (user_dir / "builds.toml").write_text("")
    with pytest.raises(UsageError) as caught:
        load_profile("nope")
    assert caught.value.message == "unknown profile 'nope' (known: builds, relaxed, strict)"
    assert caught.value.exit_code == 2
    assert caught.value.hint == f"add one as {user_dir / 'nope.toml'}"


@pytest.mark.parametrize(
    "name",
    ["", "../etc", "../../etc/passwd", "a/b", "/etc/passwd", "strict.toml", ".", "a b", "x\n", "é"],
)
def test_hostile_profile_names_are_refused_before_any_file_is_read(
    user_dir: Path, name: str
) -> None:
    with pytest.raises(UsageError, match="invalid profile name"):
        load_profile(name)


@pytest.mark.parametrize("policy", ["continue", "stop", "kill"])
def test_oom_policy_takes_systemds_three_values(policy: str) -> None:
    assert parse(f'[limits]\nOOMPolicy = "{policy}"\n').limits.oom_policy == policy


@pytest.mark.parametrize("value", ["infinity", "Continue", "restart", "", "1"])
def test_an_oom_policy_that_systemd_does_not_know_is_an_error_naming_the_key(value: str) -> None:
    with pytest.raises(ProfileError, match=r"limits\.OOMPolicy: .* is not an OOM policy"):
        parse(f'[limits]\nOOMPolicy = "{value}"\n')


@pytest.mark.parametrize("name", ["strict", "relaxed"])
def test_both_builtin_profiles_let_an_app_live_on_when_one_of_its_processes_is_oom_killed(
    user_dir: Path, name: str
) -> None:
    assert load_profile(name).limits.oom_policy == "continue"


def test_a_bus_table_sets_the_policy_lists() -> None:
    profile = parse(
        """
        isolate = true
        [bus]
        own = ["{app_id}.*"]
        talk = ["org.freedesktop.Notifications", "org.gtk.vfs.*"]
        call = ["org.freedesktop.portal.*=*"]
        """
    )
    assert profile.bus == BusPolicy(
        own=("{app_id}.*",),
        talk=("org.freedesktop.Notifications", "org.gtk.vfs.*"),
        call=("org.freedesktop.portal.*=*",),
    )


def test_a_users_bus_list_replaces_the_builtin_list_of_that_name_only(user_dir: Path) -> None:
    builtin = load_profile("strict").bus
    assert builtin is not None
    (user_dir / "strict.toml").write_text('[bus]\ntalk = ["org.example.Service"]\n')
    bus = load_profile("strict").bus
    assert bus == builtin._replace(talk=("org.example.Service",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[bus]\ncolour = ["x.y"]',
            "unknown key bus.colour (known: own, talk, see, call, broadcast, apps)",
        ),
        ('[bus]\ntalk = "org.x.Y"', "bus.talk must be a list, not"),
        ("[bus]\ntalk = [1]", "bus.talk must be a string, not 1"),
        ('[bus]\ntalk = ["*"]', "bus.talk: '*' is not a bus name"),
        ('[bus]\ntalk = ["org.freedesktop.*"]', "covers org.freedesktop.systemd1"),
        ('[bus]\nown = ["org.freedesktop.Flatpak"]', "covers org.freedesktop.Flatpak"),
        ('[bus]\ncall = ["org.x.Y"]', "bus.call: 'org.x.Y' is not NAME=RULE"),
    ],
)
def test_a_bad_bus_entry_is_an_error_naming_the_file_and_the_key(text: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse(text)
    assert caught.value.message.startswith(f"{SOURCE}: ")
    assert message in caught.value.message


def test_a_profile_that_isolates_without_a_bus_table_is_isolated_as_strict_is(
    user_dir: Path,
) -> None:
    """Never degrade: isolate = true alone gets strict's bus policy, not an open bus."""
    (user_dir / "mine.toml").write_text("isolate = true\n")
    assert load_profile("mine").bus == load_profile("strict").bus


def test_a_profile_of_ones_own_may_set_its_own_bus_lists(user_dir: Path) -> None:
    (user_dir / "mine.toml").write_text('isolate = true\n[bus]\ntalk = ["org.example.A"]\n')
    assert load_profile("mine").bus == BusPolicy(talk=("org.example.A",))


def test_strict_with_isolation_turned_off_needs_no_bus_policy(user_dir: Path) -> None:
    (user_dir / "strict.toml").write_text("isolate = false\n")
    assert load_profile("strict").isolate is False


def test_a_users_app_table_replaces_the_builtin_tables_lists_and_keeps_the_other_apps(
    user_dir: Path,
) -> None:
    builtin = dict(load_profile("strict").bus.apps)  # type: ignore[union-attr]
    (user_dir / "strict.toml").write_text(
        '[bus.apps."org.keepassxc.KeePassXC"]\ntalk = ["org.example.A"]\n'
        '[bus.apps."org.example.New"]\nown = ["org.example.Name"]\n'
    )
    apps = dict(load_profile("strict").bus.apps)  # type: ignore[union-attr]
    assert apps["org.keepassxc.KeePassXC"] == builtin["org.keepassxc.KeePassXC"]._replace(
        talk=("org.example.A",)
    )
    assert apps["steam"] == builtin["steam"]
    assert apps["org.example.New"] == BusPolicy(own=("org.example.Name",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[bus.apps."x.Y"]\nown = ["org.freedesktop.systemd1"]', 'bus.apps."x.Y".own: '),
        ('[bus.apps."x.Y"]\ncolour = []', 'unknown key bus.apps."x.Y".colour'),
        ('[bus.apps."x.Y"]\napps = {}', 'unknown key bus.apps."x.Y".apps'),
        ('[bus]\napps = ["x"]', "bus.apps must be a table"),
    ],
)
def test_a_bad_app_table_is_an_error_naming_the_file_and_the_key(
    user_dir: Path, text: str, message: str
) -> None:
    (user_dir / "strict.toml").write_text(text)
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile("strict")
