"""The launcher-agent wire format: what the launcher asks is what the agent reads, and nothing
of the environment beyond what the plan needs crosses over."""

from __future__ import annotations

import pytest

from ssc.agent import client, protocol
from ssc.errors import SscError
from ssc.launcher.launch import Request
from ssc.limits import AllButOne, Bytes, Percent
from ssc.unit_properties import describe


@pytest.mark.parametrize(
    "request_",
    [
        Request(command=["firefox"], profile="strict"),
        Request(command=["make", "-j8"], profile="relaxed", cpu=15000, memory=Bytes(4 << 30)),
        Request(command=["x", ""], profile="mine", cpu=AllButOne(), memory=Percent(6000)),
        Request(command=["bash", "-i"], profile="relaxed", name="org.example.Shell", debug=True),
        Request(command=["odd\udcff", "ü", "a=b", "-"], profile="strict"),
    ],
)
def test_a_request_reads_back_as_the_launcher_sent_it(request_: Request) -> None:
    environ = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": "/home/u/.config"}
    data = protocol.encode(protocol.request_fields(request_, "/usr/bin/x", environ))
    assert protocol.parse_request(protocol.decode(data)) == (request_, "/usr/bin/x", environ)


def test_only_the_environment_the_plan_reads_is_sent() -> None:
    environ = {"HOME": "/home/u", "SECRET_TOKEN": "x", "LD_PRELOAD": "/tmp/evil.so", "PATH": "/b"}
    fields = protocol.request_fields(Request(command=["x"], profile="strict"), "/b/x", environ)
    assert protocol.values(fields, "env") == ["PATH=/b", "HOME=/home/u"]


def test_a_long_command_line_is_cut_where_the_description_cuts_it() -> None:
    command = ["/usr/bin/" + "p" * 300, *(["word"] * 10_000), "z" * 100_000]
    request_ = Request(command=command, profile="strict")
    fields = protocol.request_fields(request_, "/usr/bin/p", {})
    sent, _, _ = protocol.parse_request(protocol.decode(protocol.encode(fields)))
    assert len(protocol.encode(fields)) < 2 * protocol.COMMAND_TEXT_MAX
    assert sent.command[0] == command[0]  # the app ID is its basename: never cut
    assert describe(sent.command, "strict") == describe(command, "strict")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"version\x001", "NUL-terminated"),
        (b"version\x00", "a key without a value"),
        (b"version\x002\x00profile\x00strict\x00", "not version 1"),
        (b"version\x001\x00profile\x00strict\x00", "no profile, program or command"),
        (
            b"version\x001\x00profile\x00s\x00program\x00/x\x00arg\x00x\x00env\x00LD_PRELOAD=x\x00",
            "not an environment entry",
        ),
        (
            b"version\x001\x00profile\x00s\x00program\x00/x\x00arg\x00x\x00cpu\x001e3\x00",
            "not a number",
        ),
        (
            b"version\x001\x00profile\x00s\x00program\x00/x\x00arg\x00x\x00memory\x00X5\x00",
            "not a memory amount",
        ),
    ],
)
def test_a_malformed_request_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=problem):
        protocol.parse_request(protocol.decode(data))


def test_a_started_answer_gives_the_unit_and_the_proxy_socket_of_its_random_part() -> None:
    unit = "app-ssc-firefox-01234567890123456789.scope"
    answer = client._answer(protocol.started(unit, ["one", "two"]), [])
    assert answer is not None
    assert (answer.unit, answer.said, answer.sandboxing) == (unit, ["one", "two"], None)
    assert answer.bus_socket == "bus-01234567890123456789"


def test_a_sandboxed_answer_carries_the_tmp_lock_that_came_with_it() -> None:
    fields = protocol.started("app-ssc-x-01234567890123456789.scope", []) + protocol.sandboxed(
        "/usr/bin/bwrap", "/usr/bin/xdg-dbus-proxy", ["--filter", "--talk=a.b"], "/run/t"
    )
    answer = client._answer(fields, [42])
    assert answer is not None
    assert answer.sandboxing is not None
    assert answer.sandboxing.bwrap == "/usr/bin/bwrap"
    assert answer.sandboxing.bus_filters == ["--filter", "--talk=a.b"]
    assert (answer.sandboxing.tmp_directory, answer.sandboxing.tmp_lock_fd) == ("/run/t", 42)


def test_a_refusal_is_the_launchers_own_error_with_its_exit_code() -> None:
    fields = protocol.refused("unknown profile 'x'", "add one as ~/x.toml", 2, [])
    with pytest.raises(SscError) as raised:
        client._answer(fields, [])
    assert (raised.value.message, raised.value.hint) == (
        "unknown profile 'x'",
        "add one as ~/x.toml",
    )
    assert raised.value.exit_code == 2


def test_a_direct_answer_sends_the_launcher_its_own_way() -> None:
    assert client._answer(protocol.direct("root holds this profile's limits"), []) is None
