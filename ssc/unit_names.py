"""A scope's name: the application ID escaped as one field of it, made and read back, with
nothing but the language.

It lives apart from ``ssc.unit_properties`` so that the supervisor, which removes an app's /tmp as
the app exits (``ssc.strict.app_tmp``), names the app's directory without importing the profiles and
TOML (under the test bed's emulation that import costs the exit a good part of a second), and
so that the system helper (``ssc.helper``) names the scopes it holds as the launcher does.
No regular expressions: the supervisor's exit is on the launch path too (see ``ssc.limits``).
"""

from __future__ import annotations

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


_ESCAPED_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\")
_HEX = frozenset(b"0123456789abcdef")


def app_id_of(unit: str) -> str | None:
    """The application ID in an ssc scope's name (``escape_app_id`` undone); None if the name
    is not one ssc (or its system helper) could have made."""
    if not (unit.startswith(_NAME_PREFIX) and unit.endswith(".scope")):
        return None
    escaped, dash, digits = unit[len(_NAME_PREFIX) : -len(".scope")].rpartition("-")
    if not (dash and len(digits) == RANDOM_DIGITS and digits.isascii() and digits.isdigit()):
        return None
    if not escaped or not _ESCAPED_ID_CHARS.issuperset(escaped):
        return None
    return _unescape(escaped.encode("ascii")).decode("utf-8", errors="replace")


def _unescape(escaped: bytes) -> bytes:
    """``\\xNN`` (two lowercase hex digits) back to the byte it stands for."""
    raw = bytearray()
    index = 0
    while index < len(escaped):
        code = escaped[index + 2 : index + 4]
        if escaped[index : index + 2] == b"\\x" and len(code) == 2 and _HEX.issuperset(code):
            raw.append(int(code, 16))
            index += 4
        else:
            raw.append(escaped[index])
            index += 1
    return bytes(raw)
