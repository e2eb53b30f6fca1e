"""Resource limit values: parsed from what a user types or a profile says, validated, pure.

Values are small immutable records: tuples of a kind of their own, written out by hand. Not
dataclasses, nor ``typing.NamedTuple``, and no regular expressions: this module is on the
launch path, where importing ``dataclasses``, ``typing`` or ``re`` costs more than the rest of
the launch under the test bed's emulation (see ``bench/launch.py``).

The accepted syntax is a strict subset of what ``systemd-run -p`` accepts, so a value means
the same to ssc as to systemd: sizes with base-1024 suffixes, percentages of physical memory
(sent as ``…Scale``, computed server-side), CPU quotas as percentages of one CPU. Anything else
is refused, so nothing a user types ever reaches the manager unparsed.
See systemd's ``src/shared/bus-unit-util.c`` (``bus_append_parse_resource_limit``,
``bus_append_parse_cpu_quota``) and ``percent-util.h`` (``UINT32_SCALE_FROM_PERMYRIAD``).
"""

from __future__ import annotations

UINT32_MAX = 0xFFFF_FFFF
USEC_PER_SEC = 1_000_000
MIN_MEMORY_CEILING = 16 * 1024**2  # below this, a desktop program cannot even start
# systemd reads 2^64-1 as "no limit" and refuses what does not fit in 64 bits; ssc refuses both.
MAX_SIZE = 2**64 - 2
MAX_CPU_PERMYRIAD = 100_000 * 100  # 100 000 % (a thousand CPUs), far above any desktop
ALL_BUT_ONE = "all-but-one"

_SIZE_SUFFIXES = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class LimitError(ValueError):
    """A value that is not a valid limit; the message says what was expected."""


class _OwnKind(tuple[int, ...]):
    """Equality for record tuples: of the same kind and values (a plain tuple comparison would
    make a size of 5 bytes equal a share of 5/10000)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other) is True

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self))})"


class Bytes(_OwnKind):
    """An absolute size in bytes."""

    __slots__ = ()

    def __new__(cls, value: int) -> Bytes:
        return tuple.__new__(cls, (value,))

    @property
    def value(self) -> int:
        return self[0]

    def __str__(self) -> str:
        return f"{self.value}B"


class Percent(_OwnKind):
    """A share of physical memory (or of the system's task limit), in 1/10000ths."""

    __slots__ = ()

    def __new__(cls, permyriad: int) -> Percent:
        return tuple.__new__(cls, (permyriad,))

    @property
    def permyriad(self) -> int:
        return self[0]

    def scale(self) -> int:
        """The share as systemd's ``…Scale`` properties carry it: 100 % is ``UINT32_MAX``."""
        return (self.permyriad * UINT32_MAX + 5000) // 10000

    def __str__(self) -> str:
        return f"{self.permyriad / 100:g}%"


Amount = Bytes | Percent


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` alone also takes "²" and other scripts' digits."""
    return text.isascii() and text.isdigit()


def parse_percent(text: str) -> int | None:
    """``"70%"`` or ``"12.5%"`` as permyriad (7000, 1250); None if it is not a percentage."""
    number = text.removesuffix("%")
    if number == text:
        return None
    whole, dot, fraction = number.partition(".")
    if not _is_digits(whole) or (dot and not (_is_digits(fraction) and len(fraction) <= 2)):
        return None
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def parse_size(text: str) -> int | None:
    """``"4G"``, ``"1.5G"``, ``"512M"``, ``"65536"`` in bytes; None if it is not a size."""
    factor = _SIZE_SUFFIXES.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    whole, dot, fraction = number.partition(".")
    if not _is_digits(whole) or (dot and not _is_digits(fraction)):
        return None
    size = int(whole) * factor
    if fraction:
        size += int(fraction) * factor // 10 ** len(fraction)
    return size


def parse_memory(text: str, *, minimum: int = MIN_MEMORY_CEILING) -> Amount:
    """A memory amount: a size (base 1024: K, M, G, T) or a percentage of physical memory."""
    permyriad = parse_percent(text)
    if permyriad is not None:
        if not 0 < permyriad <= 10000:
            raise LimitError(f"{text!r} is not a percentage between 0 and 100")
        return Percent(permyriad)
    size = parse_size(text)
    if size is None:
        raise LimitError(f"{text!r} is not a size (like 512M, 4G) or a percentage (like 70%)")
    if size < minimum:
        raise LimitError(f"{text!r} is below the smallest allowed value, {minimum // 1024**2}M")
    if size > MAX_SIZE:
        raise LimitError(f"{text!r} is too large")
    return Bytes(size)


class AllButOne(_OwnKind):
    """Every CPU but one, and at least one whole CPU: a desktop keeps a core for itself."""

    __slots__ = ()

    def __new__(cls) -> AllButOne:
        return tuple.__new__(cls, ())

    def __repr__(self) -> str:
        return "AllButOne()"

    def __str__(self) -> str:
        return ALL_BUT_ONE


CpuQuota = int | AllButOne  # an int is a share of one CPU in 1/10000ths (150 % is 15000)


def parse_cpu_quota(text: str) -> CpuQuota:
    """``"150%"`` (one and a half CPUs), or ``"all-but-one"``."""
    if text == ALL_BUT_ONE:
        return AllButOne()
    permyriad = parse_percent(text)
    if permyriad is None:
        raise LimitError(f"{text!r} is not a CPU quota (like 50%, 150% or {ALL_BUT_ONE})")
    if permyriad < 100:  # systemd refuses quotas below 1 % (a 10 ms slice per second)
        raise LimitError(f"{text!r} is below the smallest CPU quota, 1%")
    if permyriad > MAX_CPU_PERMYRIAD:
        raise LimitError(f"{text!r} is too large")
    return permyriad


def cpu_quota_usec(quota: CpuQuota, cpu_count: int) -> int:
    """The quota as systemd's ``CPUQuotaPerSecUSec``: CPU time allowed per second of wall time."""
    if isinstance(quota, AllButOne):
        return max(1, cpu_count - 1) * USEC_PER_SEC
    return quota * USEC_PER_SEC // 10000


def parse_tasks(text: str) -> int | Percent:
    """A task (process and thread) count, or a percentage of the system's limit."""
    permyriad = parse_percent(text)
    if permyriad is not None and 0 < permyriad <= 10000:
        return Percent(permyriad)
    if _is_digits(text) and 0 < int(text) <= MAX_SIZE:
        return int(text)
    raise LimitError(f"{text!r} is not a task count (like 4096) or a percentage (like 50%)")


OOM_POLICIES = ("continue", "stop", "kill")


def parse_oom_policy(text: str) -> str:
    """What systemd does when the kernel OOM-kills a process in the scope (``OOMPolicy=``).

    ``continue``: only that process dies; ``stop``: the scope is stopped; ``kill``: every
    process in it is killed at once (``memory.oom.group``). See systemd.service(5).
    """
    if text in OOM_POLICIES:
        return text
    raise LimitError(f"{text!r} is not an OOM policy ({', '.join(OOM_POLICIES)})")


def parse_weight(text: str) -> int:
    """A CPU weight, 1 to 10000 (systemd's default is 100)."""
    if _is_digits(text) and 1 <= int(text) <= 10000:
        return int(text)
    raise LimitError(f"{text!r} is not a weight between 1 and 10000")
