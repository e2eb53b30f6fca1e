"""The D-Bus messages ssc sends, at the wire level, without a bus.

The message is the one ``ssc.user_manager.transient_units`` really builds: a fake connection stands
where the socket would be, records what it is given and answers as the manager would. The recorded
message is then serialised with jeepney and parsed back, as the bus daemon would receive it.
"""

from __future__ import annotations

import array
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from jeepney import DBusAddress, MessageType, new_error, new_method_return, new_signal
from jeepney.low_level import HeaderFields, Message, Parser

import ssc.user_manager.transient_units
from ssc.errors import SscError
from ssc.limits import AllButOne, Percent
from ssc.profiles import Limits
from ssc.unit_properties import Property, scope_properties, scope_property_attempts
from ssc.user_manager.transient_units import SYSTEMD, session_bus_address, start_scope

UNIT = "app-ssc-firefox\\x2desr-0123456789abcdef0123456789abcdef.scope"
JOB = "/org/freedesktop/systemd1/job/42"
LIMITS = Limits(
    cpu_quota=AllButOne(),
    memory_max=Percent(7000),
    memory_high=Percent(6500),
    memory_swap_max=Percent(500),
)
MANAGER = DBusAddress("/org/freedesktop/systemd1", interface="org.freedesktop.systemd1.Manager")


class FakeConnection:
    """Where jeepney's blocking connection would be: records calls, answers from a script."""

    def __init__(
        self,
        errors: list[str | None] | None = None,
        results: list[str] | None = None,
        error_text: str | None = None,
    ):
        self.error_text = error_text
        self.sent: list[Message] = []
        self.sent_unanswered: list[Message] = []
        self.events: list[str] = []
        self.errors = deque(errors or [])  # per StartTransientUnit call: an error name or None
        self.signals = deque(
            new_signal(MANAGER, "JobRemoved", "uoss", (7, job, UNIT, result))
            for job, result in (
                [(JOB, result) for result in results] if results else [(JOB, "done")]
            )
        )

    def send_and_get_reply(self, message: Message, *, timeout: float | None = None) -> Message:
        self.sent.append(message)
        member = message.header.fields[HeaderFields.member]
        self.events.append(f"call {member}")
        if member != "StartTransientUnit":
            return new_method_return(message)
        error = self.errors.popleft() if self.errors else None
        if error is not None:
            return new_error(message, error, "s", (self.error_text or f"{error} for test",))
        return new_method_return(message, "o", (JOB,))

    def send(self, message: Message) -> None:
        """A message whose reply is not waited for."""
        self.sent_unanswered.append(message)
        self.events.append(f"send {message.header.fields[HeaderFields.member]}")

    @contextmanager
    def filter(self, rule: object, *, bufsize: int = 1) -> Iterator[deque[Message]]:
        self.events.append("filter on")
        yield deque()
        self.events.append("filter off")

    def recv_until_filtered(
        self, queue: deque[Message], *, timeout: float | None = None
    ) -> Message:
        if not self.signals:
            raise TimeoutError
        return self.signals.popleft()


def start_transient_unit_message(properties: list[Property]) -> Message:
    """The StartTransientUnit message ``transient_units`` builds for these properties."""
    connection = FakeConnection()
    job = ssc.user_manager.transient_units._start_transient_unit(connection, UNIT, properties)
    assert job == JOB
    (message,) = connection.sent
    return message


def round_trip(message: Message) -> tuple[Message, list[int]]:
    """Serialise as a connection would send it, and parse it back as the bus would."""
    fds = array.array("i")
    data = message.serialise(serial=7, fds=fds)
    parser = Parser()
    parser.add_data(data, fds=list(fds))
    parsed = parser.get_next_message()
    assert parsed is not None
    assert parser.get_next_message() is None
    return parsed, list(fds)


def expected_body(properties: list[Property]) -> tuple[object, ...]:
    return (UNIT, "fail", [(p.name, (p.signature, p.value)) for p in properties], [])


def test_start_transient_unit_with_pids_round_trips_on_the_wire() -> None:
    properties = scope_properties("firefox-esr", LIMITS, 4, pidfd=None, pid=4242)
    parsed, fds = round_trip(start_transient_unit_message(properties))
    fields = parsed.header.fields
    assert parsed.header.message_type == MessageType.method_call
    assert parsed.header.serial == 7
    assert fields[HeaderFields.destination] == "org.freedesktop.systemd1"
    assert fields[HeaderFields.path] == "/org/freedesktop/systemd1"
    assert fields[HeaderFields.interface] == "org.freedesktop.systemd1.Manager"
    assert fields[HeaderFields.member] == "StartTransientUnit"
    assert fields[HeaderFields.signature] == "ssa(sv)a(sa(sv))"
    assert HeaderFields.unix_fds not in fields
    assert fds == []
    assert parsed.body == (
        UNIT,
        "fail",
        [
            ("Description", ("s", "firefox-esr")),
            ("PIDs", ("au", [4242])),
            ("Slice", ("s", "app-ssc.slice")),
            ("CollectMode", ("s", "inactive-or-failed")),
            ("CPUQuotaPerSecUSec", ("t", 3_000_000)),
            ("MemoryMaxScale", ("u", 3006477107)),
            ("MemoryHighScale", ("u", 2791728742)),
            ("MemorySwapMaxScale", ("u", 214748365)),
        ],
        [],
    )


def test_start_transient_unit_with_a_pidfd_passes_the_fd_out_of_band() -> None:
    properties = scope_properties("firefox-esr", LIMITS, 4, pidfd=11, pid=4242)
    parsed, fds = round_trip(start_transient_unit_message(properties))
    assert fds == [11]  # the descriptor travels beside the message, as SCM_RIGHTS
    assert parsed.header.fields[HeaderFields.unix_fds] == 1
    assert parsed.header.fields[HeaderFields.signature] == "ssa(sv)a(sa(sv))"
    assert parsed.body == expected_body(properties)
    assert ("PIDFDs", ("ah", [11])) in parsed.body[2]


@pytest.mark.parametrize(
    "limits",
    [
        Limits(),
        Limits(cpu_quota=15000, tasks_max=4096, cpu_weight=100),
        Limits(tasks_max=Percent(5000), memory_swap_max=Percent(1)),
    ],
)
def test_every_property_table_serialises_with_its_signatures(limits: Limits) -> None:
    properties = scope_properties("x", limits, 8, pidfd=None, pid=1)
    parsed, _ = round_trip(start_transient_unit_message(properties))
    assert parsed.body == expected_body(properties)


def test_the_job_removed_subscription_comes_before_the_start_call_and_goes_after() -> None:
    connection = FakeConnection()
    properties = scope_properties("x", LIMITS, 4, pidfd=None, pid=1)
    start_scope(connection, UNIT, [properties])
    assert connection.events == [
        "call AddMatch",
        "filter on",
        "call StartTransientUnit",
        "filter off",
        "send RemoveMatch",
    ]
    (remove_match,) = connection.sent_unanswered
    assert remove_match.body == connection.sent[0].body  # the same rule
    add_match = connection.sent[0]
    assert add_match.header.fields[HeaderFields.destination] == "org.freedesktop.DBus"
    rule = add_match.body[0]
    for part in [
        "type='signal'",
        "sender='org.freedesktop.systemd1'",
        "interface='org.freedesktop.systemd1.Manager'",
        "member='JobRemoved'",
        "path='/org/freedesktop/systemd1'",
    ]:
        assert part in rule


@pytest.mark.parametrize(
    "error",
    ["org.freedesktop.DBus.Error.UnknownProperty", "org.freedesktop.DBus.Error.PropertyReadOnly"],
)
def test_a_manager_without_pidfds_is_asked_again_with_pids(error: str) -> None:
    connection = FakeConnection(errors=[error, None])
    first = scope_properties("x", LIMITS, 4, pidfd=11, pid=4242)
    fallback = scope_properties("x", LIMITS, 4, pidfd=None, pid=4242)
    start_scope(connection, UNIT, [first, fallback])
    assert started_bodies(connection) == [expected_body(first), expected_body(fallback)]


def started_bodies(connection: FakeConnection) -> list[tuple[object, ...]]:
    calls = [m for m in connection.sent if m.header.fields[HeaderFields.member] != "AddMatch"]
    return [round_trip(m)[0].body for m in calls]


REFUSED = "org.freedesktop.DBus.Error.PropertyReadOnly"


def test_a_manager_before_253_gets_oom_policy_continue_dropped_after_pidfds_and_pids() -> None:
    limits = LIMITS._replace(oom_policy="continue")
    attempts = scope_property_attempts("x", limits, 4, pidfd=11, pid=4242)
    connection = FakeConnection(errors=[REFUSED, REFUSED, None])
    start_scope(connection, UNIT, attempts)
    bodies = started_bodies(connection)
    assert bodies == [expected_body(a) for a in attempts]
    names = [[name for name, _ in body[2]] for body in bodies]  # type: ignore[attr-defined]
    assert ("PIDFDs" in names[0], "OOMPolicy" in names[0]) == (True, True)
    assert ("PIDs" in names[1], "OOMPolicy" in names[1]) == (True, True)
    assert ("PIDs" in names[2], "OOMPolicy" in names[2]) == (True, False)


@pytest.mark.parametrize("policy", ["stop", "kill"])
def test_an_oom_policy_other_than_continue_is_never_dropped_and_its_refusal_has_a_hint(
    policy: str,
) -> None:
    limits = LIMITS._replace(oom_policy=policy)
    attempts = scope_property_attempts("x", limits, 4, pidfd=None, pid=4242)
    assert len(attempts) == 1
    connection = FakeConnection(
        errors=[REFUSED], error_text="Cannot set property OOMPolicy, or unknown property."
    )
    with pytest.raises(SscError) as caught:
        start_scope(connection, UNIT, attempts)
    assert "OOMPolicy" in caught.value.message
    assert caught.value.hint is not None
    assert "253" in caught.value.hint


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            "org.freedesktop.systemd1.UnitExists",
            f"Failed to start transient scope unit {UNIT}: the name is taken "
            "(org.freedesktop.systemd1.UnitExists for test)",
        ),
        (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            f"Failed to start transient scope unit {UNIT}: no systemd user manager on the bus",
        ),
        (
            "org.freedesktop.DBus.Error.AccessDenied",
            f"Failed to start transient scope unit {UNIT}: "
            "org.freedesktop.DBus.Error.AccessDenied for test",
        ),
        # Not retried: only an unknown PIDFDs property calls for the PIDs fallback.
        (
            "org.freedesktop.DBus.Error.InvalidArgs",
            f"Failed to start transient scope unit {UNIT}: "
            "org.freedesktop.DBus.Error.InvalidArgs for test",
        ),
    ],
)
def test_a_refused_start_is_an_error_naming_the_unit(error: str, message: str) -> None:
    connection = FakeConnection(errors=[error, None])
    properties = scope_properties("x", LIMITS, 4, pidfd=11, pid=1)
    fallback = scope_properties("x", LIMITS, 4, pidfd=None, pid=1)
    with pytest.raises(SscError) as caught:
        start_scope(connection, UNIT, [properties, fallback])
    assert caught.value.message == message
    assert len(connection.sent) == 2  # AddMatch and one StartTransientUnit: no retry


def test_unknown_property_in_the_last_attempt_is_an_error() -> None:
    connection = FakeConnection(errors=["org.freedesktop.DBus.Error.UnknownProperty"])
    with pytest.raises(SscError, match="Failed to start transient scope unit"):
        start_scope(connection, UNIT, [scope_properties("x", LIMITS, 4, pidfd=None, pid=1)])


@pytest.mark.parametrize("result", ["failed", "canceled", "timeout", "dependency", "skipped"])
def test_a_job_that_is_not_done_is_a_failure_naming_the_unit(result: str) -> None:
    connection = FakeConnection(results=[result])
    with pytest.raises(SscError) as caught:
        start_scope(connection, UNIT, [scope_properties("x", LIMITS, 4, pidfd=None, pid=1)])
    assert caught.value.message == f"Failed to start transient scope unit {UNIT}: job {result}"
    assert caught.value.hint == f"see: journalctl --user -u {UNIT}"


def test_job_removed_signals_for_other_jobs_are_skipped() -> None:
    connection = FakeConnection()
    connection.signals.appendleft(
        new_signal(
            MANAGER, "JobRemoved", "uoss", (6, "/org/freedesktop/systemd1/job/41", "o", "failed")
        )
    )
    start_scope(connection, UNIT, [scope_properties("x", LIMITS, 4, pidfd=None, pid=1)])
    assert not connection.signals


@pytest.mark.parametrize(
    ("environ", "address"),
    [
        (
            {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus", "XDG_RUNTIME_DIR": "/x"},
            "unix:path=/run/user/1000/bus",
        ),
        (
            {"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=/tmp/dbus-AbC,guid=0123"},
            "unix:abstract=/tmp/dbus-AbC,guid=0123",
        ),
        ({"XDG_RUNTIME_DIR": "/run/user/1234"}, "unix:path=/run/user/1234/bus"),
        (
            {"DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": "/run/user/1234"},
            "unix:path=/run/user/1234/bus",
        ),
        ({}, f"unix:path=/run/user/{os.getuid()}/bus"),
        (
            {"DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": ""},
            f"unix:path=/run/user/{os.getuid()}/bus",
        ),
    ],
)
def test_session_bus_address_comes_from_the_environment_else_the_user_managers_socket(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], address: str
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert session_bus_address() == address


def test_the_manager_is_addressed_on_its_well_known_name() -> None:
    assert (SYSTEMD.bus_name, SYSTEMD.object_path, SYSTEMD.interface) == (
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
    )
