"""The wire format between the launcher and ssc's agent: pure, data in and out.

One request and one answer per connection, on a ``SOCK_SEQPACKET`` unix socket (message
boundaries kept, file descriptors passed with ``SCM_RIGHTS``). A message is a sequence of
``key NUL value NUL`` pairs in UTF-8; a key may repeat (a list). NUL cannot occur in a command
line, an environment value or a path, so nothing needs escaping.

The request carries what the launcher's command line and environment say (not the process's
whole environment: the keys in ``ENVIRONMENT``), with the launcher's PIDFD beside it. The agent
first sends ``ACCEPTED`` (it has the request and the peer checks passed), then the answer:
``unit`` and, for strict, ``bwrap``, ``proxy``, ``filter``… and ``tmp`` with the /tmp lock's
descriptor beside it; or ``error``/``hint``/``exit``, which the launcher reports as its own;
or ``direct``, which sends the launcher its own way (a root-held profile, another bus).

Only the launch path imports this module: it imports nothing but ``ssc.limits``' values.
"""

from __future__ import annotations

from ..limits import ALL_BUT_ONE, AllButOne, Bytes, Percent

TYPE_CHECKING = False  # mypy reads it as true; typing stays off the launch path
if TYPE_CHECKING:
    from ..launcher.launch import Request
    from ..limits import Amount, CpuQuota

VERSION = "1"
ACCEPTED = b"accepted"
MAX_MESSAGE = 65536  # a bigger message is refused, never read in part
# What the plan reads from the environment: where profiles, shared.toml, desktop entries and
# the runtime directory are, where bwrap and the proxy are found, and the bus the manager is on.
ENVIRONMENT = (
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_DATA_DIRS",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
)
# The scope's Description holds at most 256 characters of the command line: more is not sent.
COMMAND_TEXT_MAX = 512


class ProtocolError(ValueError):
    """A message that is not in this format."""


Fields = list[tuple[str, str]]


def encode(fields: Fields) -> bytes:
    for key, value in fields:
        if "\0" in key or "\0" in value:
            raise ProtocolError(f"a NUL in {key!r}")
    return "".join(f"{key}\0{value}\0" for key, value in fields).encode("utf-8", "surrogateescape")


def decode(data: bytes) -> Fields:
    if not data.endswith(b"\0"):
        raise ProtocolError("not NUL-terminated")
    words = data[:-1].decode("utf-8", "surrogateescape").split("\0")
    if len(words) % 2:
        raise ProtocolError("a key without a value")
    return list(zip(words[::2], words[1::2], strict=True))


def values(fields: Fields, key: str) -> list[str]:
    return [value for name, value in fields if name == key]


def value(fields: Fields, key: str) -> str | None:
    found = values(fields, key)
    return found[-1] if found else None


# --- the request -----------------------------------------------------------------------------


def request_fields(request: Request, program: str, environ: dict[str, str] | None = None) -> Fields:
    """The request: the command line's choices, the program found on PATH, the environment."""
    fields: Fields = [("version", VERSION), ("profile", request.profile), ("program", program)]
    fields += [("arg", word) for word in _command_head(request.command)]
    if request.cpu is not None:
        fields.append(("cpu", _cpu_text(request.cpu)))
    if request.memory is not None:
        fields.append(("memory", _memory_text(request.memory)))
    if request.name is not None:
        fields.append(("name", request.name))
    if request.debug:
        fields.append(("debug", "1"))
    for key in ENVIRONMENT:
        text = (environ or {}).get(key)
        if text is not None:
            fields.append(("env", f"{key}={text}"))
    return fields


def _command_head(command: list[str]) -> list[str]:
    """The command's first word whole (the app ID is its basename) and as many of the rest as
    the Description can show: ``units.describe`` cuts the same text at the same place."""
    head = [command[0]]
    length = len(command[0])
    for word in command[1:]:
        if length >= COMMAND_TEXT_MAX:
            break
        head.append(word[: COMMAND_TEXT_MAX - length])
        length += 1 + len(word)
    return head


def parse_request(fields: Fields) -> tuple[Request, str, dict[str, str]]:
    """The launcher's request, program and environment; ProtocolError if malformed."""
    from ..launcher.launch import Request

    if value(fields, "version") != VERSION:
        raise ProtocolError(f"not version {VERSION}")
    profile = value(fields, "profile")
    program = value(fields, "program")
    command = values(fields, "arg")
    if profile is None or program is None or not command:
        raise ProtocolError("no profile, program or command")
    cpu = value(fields, "cpu")
    memory = value(fields, "memory")
    environ = {}
    for entry in values(fields, "env"):
        key, equals, text = entry.partition("=")
        if not equals or key not in ENVIRONMENT:
            raise ProtocolError(f"not an environment entry ssc sends: {key!r}")
        environ[key] = text
    request = Request(
        command=command,
        profile=profile,
        cpu=None if cpu is None else _cpu_of(cpu),
        memory=None if memory is None else _memory_of(memory),
        name=value(fields, "name"),
        debug=value(fields, "debug") == "1",
    )
    return request, program, environ


def _cpu_text(quota: CpuQuota) -> str:
    return ALL_BUT_ONE if isinstance(quota, AllButOne) else str(quota)


def _cpu_of(text: str) -> CpuQuota:
    if text == ALL_BUT_ONE:
        return AllButOne()
    return _number(text)


def _memory_text(amount: Amount) -> str:
    return f"B{amount.value}" if isinstance(amount, Bytes) else f"P{amount.permyriad}"


def _memory_of(text: str) -> Amount:
    if text[:1] == "B":
        return Bytes(_number(text[1:]))
    if text[:1] == "P":
        return Percent(_number(text[1:]))
    raise ProtocolError(f"not a memory amount: {text!r}")


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ProtocolError(f"not a number: {text!r}")
    return int(text)


# --- the answer ------------------------------------------------------------------------------


def started(unit: str, said: list[str]) -> Fields:
    return [("say", line) for line in said] + [("unit", unit)]


def sandboxed(bwrap: str, proxy: str, filters: list[str], tmp: str) -> Fields:
    return [("bwrap", bwrap), ("proxy", proxy), *(("filter", f) for f in filters), ("tmp", tmp)]


def refused(message: str, hint: str | None, exit_code: int, said: list[str]) -> Fields:
    fields = [("say", line) for line in said] + [("error", message), ("exit", str(exit_code))]
    return fields + ([("hint", hint)] if hint else [])


def direct(reason: str) -> Fields:
    return [("direct", reason)]
