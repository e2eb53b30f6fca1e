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

import contextlib
import os
from typing import TYPE_CHECKING

from .errors import SscError
from .limits import MIN_MEMORY_CEILING, Amount, Bytes, LimitError, Percent, parse_memory

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .profiles import Limits
    from .unit_properties import Property

SLICE = "app-ssc.slice"
GIB = 1024**3
DEFAULT_SHARE = 0.80  # of RAM, for the contained apps together
FIXED_RESERVE = 1 * GIB  # left to the session, whatever the share says
HIGH_SHARE = 0.95  # MemoryHigh, of MemoryMax
DEFAULT_SWAP = Percent(500)  # as the built-in profiles bound each app's swap
KEYS = ("MemoryMax", "MemoryHigh", "MemorySwapMax")
_NO_LIMIT = "infinity"


class SharedError(SscError):
    """A shared.toml that cannot be used; the message names the file and the key."""


def default_ceiling(physical: int) -> int:
    """The contained apps' memory together: RAM less the larger reserve, at least half of RAM.

    3 GiB (the test bed): 2 GiB (the fixed 1 GiB reserve); 8 GiB: 6.4 GiB (20 %); 16 GiB:
    12.8 GiB; 64 GiB: 51.2 GiB; 1.5 GiB: 0.75 GiB (half).
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


def with_ceiling(text: str, ceiling: str) -> str:
    """``text`` (a shared.toml, maybe empty) with ``MemoryMax`` set to ``ceiling`` (a value in
    systemd's syntax, as typed: ``12G``, ``75%``) and its
    ``MemoryHigh`` line dropped (the default, just below the new ceiling, takes its place);
    every other line, comments included, stays as it was."""
    lines = text.splitlines()
    out: list[str] = []
    in_limits = False
    written = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if in_limits and not written:
                out.append(f'MemoryMax = "{ceiling}"')
                written = True
            in_limits = stripped.split("#", 1)[0].strip() == "[limits]"
        elif in_limits and _key_of(stripped) == "MemoryHigh":
            continue
        elif in_limits and _key_of(stripped) == "MemoryMax":
            out.append(f'MemoryMax = "{ceiling}"')
            written = True
            continue
        out.append(line)
    if not written:
        if not in_limits:
            out += ([""] if out else []) + ["[limits]"]
        out.append(f'MemoryMax = "{ceiling}"')
    return "\n".join(out) + "\n"


def _key_of(line: str) -> str | None:
    key, has_value, _ = line.partition("=")
    return key.strip() if has_value else None


def shared_file(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_CONFIG_HOME/ssc/shared.toml`` of ``environ`` (by default this process's)."""
    env = os.environ if environ is None else environ
    config = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or "~", ".config")
    return os.path.join(os.path.expanduser(config), "ssc", "shared.toml")


def read_shared_text() -> str:
    """The user's shared.toml as text; empty when there is none."""
    try:
        with open(shared_file(), encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as error:
        raise SharedError(f"{shared_file()}: cannot read: {error}") from error


def write_shared_text(text: str) -> None:
    """Replace the user's shared.toml whole (a new file renamed over it: never half written)."""
    path = shared_file()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = f"{path}.{os.getpid()}.new"
    try:
        with open(staging, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(staging, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise SharedError(f"{path}: cannot write: {error.strerror}") from error


def load_shared(physical: int, environ: Mapping[str, str] | None = None) -> Limits:
    """The shared limits: the user's shared.toml over the defaults (no file: the defaults)."""
    path = shared_file(environ)
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
    from .unit_properties import Property, resource_properties

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
