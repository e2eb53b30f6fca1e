"""Desktop entry files as text: groups of lines in, the same text out (pure).

A desktop entry is a key file (Desktop Entry Specification 1.5, "Basic format of the file"):
comment and blank lines, ``[Group]`` headers, and ``Key=Value`` or ``Key[locale]=Value`` lines.
:func:`parse` keeps every line as read, so :func:`render` gives back the very text that was
parsed; the few edits ssc makes (:func:`with_value`, :func:`without_key`) touch one line each,
and comments, localized keys, unknown keys and their order stay as they were.

Values are kept raw (escaped). :func:`decode_string` and :func:`encode_string` apply the
escapes of string values (``\\s \\n \\t \\r \\\\``), :func:`decode_list` and :func:`encode_list`
those of ``;``-separated lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

MAIN_GROUP = "Desktop Entry"
ACTION_PREFIX = "Desktop Action "

_GROUP = re.compile(r"\[([^\[\]\x00-\x1f\x7f]+)\]")
_KEY = re.compile(r"[A-Za-z0-9-]+(?:\[[^\[\]=\s]+\])?")
_STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


class KeyFileError(ValueError):
    """Text that is not a desktop entry; the message says where (the caller adds the file)."""


@dataclass(frozen=True)
class Line:
    """One line as read (without its newline); for a ``Key=Value`` line, the key and raw value."""

    text: str
    key: str | None = None
    value: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    header: str
    lines: tuple[Line, ...]

    def get(self, key: str) -> str | None:
        """The raw value of ``key`` (a localized key is spelled ``Name[de]``), or None."""
        for line in self.lines:
            if line.key == key:
                return line.value
        return None

    def keys(self) -> list[str]:
        return [line.key for line in self.lines if line.key is not None]


@dataclass(frozen=True)
class KeyFile:
    head: tuple[Line, ...]  # comments and blank lines before the first group
    groups: tuple[Group, ...]
    final_newline: bool = True

    def group(self, name: str) -> Group | None:
        for group in self.groups:
            if group.name == name:
                return group
        return None

    @property
    def main(self) -> Group:
        """The ``[Desktop Entry]`` group (:func:`parse` makes sure it is there, and first)."""
        return self.groups[0]


def parse(text: str) -> KeyFile:
    """The key file in ``text``; KeyFileError when a line or the group structure is invalid."""
    rows = text.split("\n")
    final_newline = rows[-1] == ""
    if final_newline:
        rows.pop()
    head: list[Line] = []
    groups: list[tuple[str, str, list[Line]]] = []  # name, header, lines
    current = head
    for number, row in enumerate(rows, start=1):
        stripped = row.strip()
        if not stripped or stripped.startswith("#"):
            current.append(Line(row))
        elif stripped.startswith("["):
            name = _group_name(stripped, number)
            if any(name == seen for seen, _, _ in groups):
                raise KeyFileError(f"line {number}: group [{name}] appears twice")
            if not groups and name != MAIN_GROUP:
                raise KeyFileError(
                    f"line {number}: the first group is [{name}], not [{MAIN_GROUP}]"
                )
            current = []
            groups.append((name, row, current))
        else:
            key, value = _key_value(stripped, number)
            if not groups:
                raise KeyFileError(f"line {number}: key {key!r} before the first group")
            if any(line.key == key for line in current):
                raise KeyFileError(f"line {number}: key {key!r} appears twice in [{groups[-1][0]}]")
            current.append(Line(row, key, value))
    if not groups:
        raise KeyFileError(f"no [{MAIN_GROUP}] group")
    return KeyFile(
        tuple(head),
        tuple(Group(name, header, tuple(lines)) for name, header, lines in groups),
        final_newline,
    )


def _group_name(stripped: str, number: int) -> str:
    match = _GROUP.fullmatch(stripped)
    if match is None:
        raise KeyFileError(f"line {number}: invalid group header {stripped!r}")
    return match.group(1)


def _key_value(stripped: str, number: int) -> tuple[str, str]:
    """``Key = Value`` → (``Key``, ``Value``): space around ``=`` is not part of either."""
    key, equals, value = stripped.partition("=")
    key = key.rstrip()
    if not equals or not _KEY.fullmatch(key):
        raise KeyFileError(f"line {number}: not a Key=Value line: {stripped!r}")
    return key, value.lstrip()


def render(keyfile: KeyFile) -> str:
    """The text of ``keyfile``: exactly what :func:`parse` read, plus the edits made since."""
    rows = [line.text for line in keyfile.head]
    for group in keyfile.groups:
        rows.append(group.header)
        rows.extend(line.text for line in group.lines)
    text = "\n".join(rows)
    return text + "\n" if keyfile.final_newline else text


# --- edits ------------------------------------------------------------------------------------


def with_value(group: Group, key: str, raw_value: str) -> Group:
    """``group`` with ``key`` set to ``raw_value``: its line rewritten in place, or a new line
    after the group's last key (blank lines and comments that end the group stay at its end)."""
    new = Line(f"{key}={raw_value}", key, raw_value)
    lines = list(group.lines)
    for index, line in enumerate(lines):
        if line.key == key:
            lines[index] = new
            return replace(group, lines=tuple(lines))
    last_key = max((i for i, line in enumerate(lines) if line.key is not None), default=-1)
    lines.insert(last_key + 1, new)
    return replace(group, lines=tuple(lines))


def without_key(group: Group, key: str) -> Group:
    return replace(group, lines=tuple(line for line in group.lines if line.key != key))


def with_group(keyfile: KeyFile, group: Group) -> KeyFile:
    """``keyfile`` with the group of the same name replaced by ``group``."""
    groups = tuple(group if old.name == group.name else old for old in keyfile.groups)
    return replace(keyfile, groups=groups)


def without_group(keyfile: KeyFile, name: str) -> KeyFile:
    return replace(keyfile, groups=tuple(g for g in keyfile.groups if g.name != name))


# --- value escapes ----------------------------------------------------------------------------


def decode_string(raw: str) -> str:
    r"""A string value with its escapes undone.

    A backslash before any other character is kept with it, as lenient readers do: entries in
    the wild write Exec's ``\\$`` as ``\$``, and the Exec quoting rules then read it as meant.
    """
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and raw[index + 1 : index + 2] in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[raw[index + 1]])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def encode_string(text: str) -> str:
    """``text`` as a string value: the inverse of :func:`decode_string` for any text."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    # Readers drop the space around a value; kept space is spelled \s.
    if out.startswith(" "):
        out = "\\s" + out[1:]
    if out.endswith(" "):
        out = out[:-1] + "\\s"
    return out


def decode_list(raw: str) -> list[str]:
    r"""A ``;``-separated list (``a;b;``): its items, with ``\\;`` read as a ``;`` inside one."""
    items: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and raw[index + 1 : index + 2] == ";":
            current.append(";")
            index += 2
            continue
        if char == ";":
            items.append(decode_string("".join(current)))
            current = []
        else:
            current.append(char)
        index += 1
    if current:
        items.append(decode_string("".join(current)))
    return items


def encode_list(items: list[str]) -> str:
    return "".join(encode_string(item).replace(";", "\\;") + ";" for item in items)
