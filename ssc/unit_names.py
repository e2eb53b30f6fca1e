"""A scope's name: the application ID escaped as one field of it, made and read back, with
nothing but the language.

It lives apart from ``ssc.units`` so that the supervisor, which removes an app's /tmp as the
app exits (``ssc.app_tmp``), names the app's directory without importing the profiles and
TOML (under the test bed's emulation that import costs the exit a good part of a second), and
so that the system helper (``ssc.helper``) names the scopes it holds as the launcher does.
"""

from __future__ import annotations

import re

LAUNCHER = "ssc"
UNIT_NAME_MAX = 255  # systemd's UNIT_NAME_MAX is 256 including the terminating NUL
RANDOM_DIGITS = 20  # 64 random bits, zero-padded: 2**64 has 20 decimal digits
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")
_NAME_PREFIX = f"app-{LAUNCHER}-"
_NAME_SUFFIX_LENGTH = 1 + RANDOM_DIGITS + len(".scope")
MAX_ESCAPED_APP_ID = UNIT_NAME_MAX - len(_NAME_PREFIX) - _NAME_SUFFIX_LENGTH


def escape_app_id(app_id: str) -> str:
    """Escape an application ID for use inside a unit name, as ``systemd-escape`` would.

    Bytes outside ``[A-Za-z0-9:_.]`` become ``\\xNN``; unlike ``systemd-escape`` a ``/`` is
    escaped too (not turned into ``-``), and a leading ``.`` is escaped, so any string, however
    hostile (``../x``, a newline), gives one valid field. Escapes are never cut in half when the
    result is shortened to fit the unit name limit.
    """
    pieces: list[str] = []
    length = 0
    for index, byte in enumerate(app_id.encode("utf-8", errors="surrogateescape")):
        if byte in _PLAIN and not (index == 0 and byte == ord(".")):
            piece = chr(byte)
        else:
            piece = f"\\x{byte:02x}"
        if length + len(piece) > MAX_ESCAPED_APP_ID:
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def random_part(random_bytes: bytes) -> str:
    """The random field of a unit name: 8 random bytes as 20 decimal digits."""
    if len(random_bytes) != 8:
        raise ValueError("the random part is made of 8 random bytes")
    return f"{int.from_bytes(random_bytes, 'big'):0{RANDOM_DIGITS}d}"


def scope_name(app_id: str, random_digits: str) -> str:
    """``app-ssc-<escaped app id>-<random digits>.scope``."""
    if len(random_digits) != RANDOM_DIGITS or set(random_digits) - set("0123456789"):
        raise ValueError(f"random part must be {RANDOM_DIGITS} decimal digits")
    return f"{_NAME_PREFIX}{escape_app_id(app_id)}-{random_digits}.scope"


_SCOPE_NAME = re.compile(
    rf"{_NAME_PREFIX}(?P<id>[A-Za-z0-9:_.\\]+)-[0-9]{{{RANDOM_DIGITS}}}\.scope"
)
_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")


def app_id_of(unit: str) -> str | None:
    """The application ID in an ssc scope's name (``escape_app_id`` undone); None if the name
    is not one ssc (or its system helper) could have made."""
    match = _SCOPE_NAME.fullmatch(unit)
    if match is None:
        return None
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match["id"].encode("ascii"))
    return raw.decode("utf-8", errors="replace")
