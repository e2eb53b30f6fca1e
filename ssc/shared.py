"""One ceiling for all contained apps together: ssc's own slice, ``app-ssc.slice``.

Each app's scope has a ceiling of its own (70 % of RAM by default), and nothing bounded them
together: two contained apps, each within its own, could hold 140 % of RAM and freeze the
session. So every ssc scope goes into one slice, ``app-ssc.slice``, which nests in
``app.slice`` by its name, as systemd's slice naming and ``docs/DESKTOP_ENVIRONMENTS.md`` ask,
and the slice holds the limits for all of them together:

- ``MemoryMax``: the shared ceiling. When the contained apps together reach it, the kernel
  kills one process among them, the largest, as at an app's own ceiling: a slice has no
  ``OOMPolicy``, so ``memory.oom.group`` stays 0 and never a whole app, nor the slice, goes;
- ``MemoryHigh`` a little below it (:data:`HIGH_SHARE` of it), so that the kernel reclaims from
  the contained apps before it touches the session's memory;
- ``MemorySwapMax``: a ceiling a hog can escape into swap does not contain it.

The default leaves a reserve for the session and the programs that are not contained, whichever
of two is larger: a share of RAM (:data:`DEFAULT_SHARE`), or a fixed reserve
(:data:`FIXED_RESERVE`); on a small machine, the contained apps still get half of RAM. The
user's own values live in ``$XDG_CONFIG_HOME/ssc/shared.toml``, in systemd's syntax::

    [limits]
    MemoryMax = "12G"         # or "75%"; "infinity": no shared ceiling
    MemoryHigh = "11G"        # default: 95 % of MemoryMax
    MemorySwapMax = "1G"

There is no set-up step: the launcher makes the slice (``StartTransientUnit``) or sets its
limits (``SetUnitProperties``) when its cgroup does not already hold them, and reads them back
from the kernel once its scope is in it. Concurrent first launches cannot race: the manager
makes the slice once, and the others set the same values on it.

``default_limits``, ``parse_shared`` and ``slice_properties`` are pure; ``load_shared`` reads
the file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import SscError
from .limits import MIN_MEMORY_CEILING, Amount, Bytes, LimitError, Percent, parse_memory

if TYPE_CHECKING:
    from .profiles import Limits
    from .units import Property

SLICE = "app-ssc.slice"
GIB = 1024**3
DEFAULT_SHARE = 0.80  # of RAM, for the contained apps together
FIXED_RESERVE = 2 * GIB  # left to the session, whatever the share says
HIGH_SHARE = 0.95  # MemoryHigh, of MemoryMax
DEFAULT_SWAP = Percent(500)  # as the built-in profiles bound each app's swap
KEYS = ("MemoryMax", "MemoryHigh", "MemorySwapMax")
_NO_LIMIT = "infinity"


class SharedError(SscError):
    """A shared.toml that cannot be used; the message names the file and the key."""


def default_ceiling(physical: int) -> int:
    """The contained apps' memory together: RAM less the larger reserve, at least half of RAM.

    8 GiB: 6 GiB (the fixed 2 GiB reserve); 16 GiB: 12.8 GiB (20 %); 64 GiB: 51.2 GiB (20 %);
    the test bed's 3 GiB: 1.5 GiB (half).
    """
    reserve = max(physical - int(physical * DEFAULT_SHARE), FIXED_RESERVE)
    return max(physical - reserve, physical // 2)


def default_limits(physical: int) -> Limits:
    from .profiles import Limits

    ceiling = Bytes(default_ceiling(physical))
    return Limits(memory_max=ceiling, memory_high=high_below(ceiling), memory_swap_max=DEFAULT_SWAP)


def high_below(ceiling: Amount) -> Amount:
    """``MemoryHigh`` for a ceiling: :data:`HIGH_SHARE` of it, of the same kind."""
    if isinstance(ceiling, Bytes):
        return Bytes(int(ceiling.value * HIGH_SHARE))
    return Percent(int(ceiling.permyriad * HIGH_SHARE))


def parse_shared(text: str, source: str, physical: int) -> Limits:
    """The shared limits in ``text`` (a shared.toml) over the defaults for ``physical`` RAM."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SharedError(f"{source}: not valid TOML: {error}") from error
    for key in data:
        if key != "limits":
            raise SharedError(f"{source}: unknown key {key!r} (known: limits)")
    table = data.get("limits", {})
    if not isinstance(table, dict):
        raise SharedError(f"{source}: limits must be a table, not {table!r}")
    limits = default_limits(physical)
    values: dict[str, Amount | None] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise SharedError(f"{source}: unknown key limits.{key} (known: {', '.join(KEYS)})")
        if not isinstance(value, str):
            raise SharedError(f"{source}: limits.{key} must be a string, not {value!r}")
        values[key] = _parse_amount(value, key, source)
    if "MemoryMax" in values:
        ceiling = values["MemoryMax"]
        high = high_below(ceiling) if ceiling is not None else None
        limits = limits._replace(memory_max=ceiling, memory_high=high)
    if "MemoryHigh" in values:
        limits = limits._replace(memory_high=values["MemoryHigh"])
    if "MemorySwapMax" in values:
        limits = limits._replace(memory_swap_max=values["MemorySwapMax"])
    return limits


def _parse_amount(value: str, key: str, source: str) -> Amount | None:
    if value == _NO_LIMIT:
        return None
    try:
        return parse_memory(value, minimum=0 if key == "MemorySwapMax" else MIN_MEMORY_CEILING)
    except LimitError as error:
        raise SharedError(f"{source}: limits.{key}: {error}") from error


def shared_file() -> str:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(config, "ssc", "shared.toml")


def load_shared(physical: int) -> Limits:
    """The shared limits: the user's shared.toml over the defaults (no file: the defaults)."""
    path = shared_file()
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return default_limits(physical)
    except (OSError, UnicodeDecodeError) as error:
        raise SharedError(f"{path}: cannot read: {error}") from error
    return parse_shared(text, path, physical)


def slice_properties(limits: Limits) -> list[Property]:
    """The slice's limits on the wire, a limit that is not set as "no limit" (so that a
    value set before is lifted, not kept)."""
    from .units import Property, resource_properties

    sent = resource_properties(limits, 1)
    named = {prop.name.removesuffix("Scale") for prop in sent}
    for key in KEYS:
        if key not in named:
            sent.append(Property(key, "t", 2**64 - 1))  # systemd's "infinity"
    return sent


def slice_directory() -> str:
    """Where the slice's cgroup is, in the user manager's tree (``user@UID.service``)."""
    uid = os.getuid()
    return f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/app.slice/{SLICE}"


def physical_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
