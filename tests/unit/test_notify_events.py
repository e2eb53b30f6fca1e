"""The watcher's decisions: which kills to tell, folded per app, named and worded."""

from __future__ import annotations

from ssc.ctl.usage import MemoryEvents
from ssc.notify import events
from ssc.notify.events import Folder, Kill, Victim

MiB = 1024**2
GiB = 1024**3
HOG = Victim(42, "python3", 64 * MiB)
SHELL = Victim(41, "bash", 4 * MiB)


def kill(kills: int = 1, **changes: object) -> Kill:
    return Kill(kills, True, 64 * MiB, 64 * MiB, {41: SHELL, 42: HOG})._replace(**changes)


def test_a_kill_at_the_ceiling_is_the_scopes_own_oom() -> None:
    counters = events.Counters(MemoryEvents())
    change = counters.update(MemoryEvents(max=30, oom=1, oom_kill=1))
    assert (change.at_ceiling, change.kills, change.at_limit) == (True, 1, True)


def test_an_oom_read_before_its_kill_still_makes_the_kill_one_at_the_ceiling() -> None:
    counters = events.Counters(MemoryEvents(max=5))
    first = counters.update(MemoryEvents(max=30, oom=1))
    assert (first.at_ceiling, first.kills) == (True, 0)
    second = counters.update(MemoryEvents(max=30, oom=1, oom_kill=1))
    assert (second.kills, second.at_limit) == (1, True)
    third = counters.update(MemoryEvents(max=30, oom=1, oom_kill=2))
    assert (third.kills, third.at_limit) == (1, False)  # no OOM of its own since the last kill


def test_a_kill_without_the_scopes_own_oom_was_the_system_running_out() -> None:
    change = events.Counters(MemoryEvents()).update(MemoryEvents(oom_kill=2))
    assert (change.kills, change.at_limit, change.at_ceiling) == (2, False, False)
    quiet = events.Counters(MemoryEvents(max=1)).update(MemoryEvents(max=9))
    assert (quiet.kills, quiet.at_ceiling) == (0, True)


def test_throttling_is_reclaim_at_memory_high_and_not_pressure_at_the_ceiling() -> None:
    change = events.Counters(MemoryEvents()).update(MemoryEvents(high=5))
    assert (change.throttled, change.at_ceiling) == (True, False)


def test_the_victims_are_the_largest_processes_that_are_gone() -> None:
    before = {41: SHELL, 42: HOG, 43: Victim(43, "sleep", MiB)}
    assert events.victims(before, alive={41}, count=1) == [HOG]
    assert events.victims(before, alive={41, 42, 43}, count=1) == []
    assert events.victims(before, alive=set(), count=2) == [HOG, SHELL]


def test_kills_close_together_make_one_notification_after_they_settle() -> None:
    folder = Folder()
    folder.add("hog", kill(), now=100.0)
    folder.add("hog", kill(2), now=100.4)
    assert folder.take_due(100.9) == []
    assert folder.next_due() == 100.0 + events.SETTLE
    (pending,) = folder.take_due(101.0)
    assert (pending.app_id, pending.kills) == ("hog", 3)
    assert folder.take_due(200.0) == []


def test_later_kills_update_the_shown_notification_at_most_every_few_seconds() -> None:
    folder = Folder()
    folder.add("hog", kill(), now=100.0)
    folder.take_due(101.0)
    folder.told("hog", 7, 101.0, 1, [HOG])
    folder.add("hog", kill(), now=102.0)
    assert folder.next_due() == 101.0 + events.UPDATE_INTERVAL
    shown = folder.current("hog", 106.0)
    assert shown is not None
    assert (shown.notification_id, shown.kills) == (7, 1)


def test_a_kill_long_after_the_last_notification_starts_a_new_one() -> None:
    folder = Folder()
    folder.told("hog", 7, 100.0, 1, [HOG])
    assert folder.current("hog", 100.0 + events.FOLD_WINDOW + 1) is None
    folder.forget_old(100.0 + events.FOLD_WINDOW + 1)
    assert folder.shown == {}


def test_apps_are_folded_apart() -> None:
    folder = Folder()
    folder.add("one", kill(), now=100.0)
    folder.add("two", kill(), now=100.0)
    assert sorted(p.app_id for p in folder.take_due(101.0)) == ["one", "two"]


def test_the_notice_names_the_app_the_process_and_the_limit() -> None:
    notice = events.kill_notice(
        "Firefox", 1, [HOG], at_limit=True, limit=8 * GiB, peak=8 * GiB, alive=True
    )
    assert notice.summary == "Firefox: a process was stopped"
    assert notice.body == (
        "python3 (PID 42) reached Firefox's memory limit of 8 GiB (peak 8.0 GiB);"
        " the rest of Firefox keeps running."
    )


def test_folded_kills_are_counted_and_the_first_few_named() -> None:
    named = [Victim(n, "cc1plus", MiB) for n in range(1, 5)]
    notice = events.kill_notice(
        "Build", 5, named, at_limit=True, limit=2 * GiB, peak=None, alive=False
    )
    assert notice.summary == "Build: 5 processes were stopped"
    assert notice.body == (
        "cc1plus (PID 1), cc1plus (PID 2), cc1plus (PID 3) and 2 more reached Build's memory"
        " limit of 2 GiB."
    )


def test_an_unnamed_kill_and_a_system_wide_one_are_worded_as_such() -> None:
    unnamed = events.kill_notice("X", 1, [], at_limit=True, limit=GiB, peak=GiB, alive=True)
    assert unnamed.body.startswith("A process reached X's memory limit of 1 GiB")
    system = events.kill_notice("X", 2, [HOG], at_limit=False, limit=None, peak=None, alive=True)
    assert system.body == (
        "python3 (PID 42) and 1 more were stopped by the kernel: the system ran out of memory;"
        " the rest of X keeps running."
    )


def test_a_kill_at_the_shared_ceiling_says_all_contained_apps_reached_it() -> None:
    shared = events.kill_notice(
        "Firefox",
        1,
        [HOG],
        at_limit=False,
        limit=8 * GiB,
        peak=None,
        alive=True,
        shared_limit=int(2.4 * GiB),
    )
    assert shared.summary == "Firefox: a process was stopped"
    assert shared.body == (
        "python3 (PID 42) was stopped: all contained apps together reached their shared limit"
        " of 2.4 GiB; the rest of Firefox keeps running."
    )


def test_a_shared_kill_folded_with_others_keeps_the_shared_limit() -> None:
    folder = events.Folder()
    folder.add("x", events.Kill(1, False, None, None, {}, shared_limit=GiB), 0.0)
    folder.add("x", events.Kill(1, False, None, None, {}), 0.5)
    (pending,) = folder.take_due(10.0)
    assert (pending.kills, pending.shared_limit) == (2, GiB)


def test_throttling_is_told_at_most_every_ten_minutes() -> None:
    assert events.should_warn_throttled(None, 5.0)
    assert not events.should_warn_throttled(5.0, 5.0 + events.THROTTLE_QUIET - 1)
    assert events.should_warn_throttled(5.0, 5.0 + events.THROTTLE_QUIET)
    notice = events.throttle_notice("Firefox", 8 * GiB, int(7.6 * GiB))
    assert notice.summary == "Firefox is being slowed down"
    assert "memory limit of 8 GiB (using 7.6 GiB)" in notice.body


def test_markup_is_escaped_for_servers_that_read_it() -> None:
    assert events.escape_markup("a <b> & c") == "a &lt;b&gt; &amp; c"
