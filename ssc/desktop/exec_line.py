r"""The Exec key's command line (Desktop Entry Specification 1.5, "The Exec key"): pure.

An Exec value is read in two steps, and written back in the same two in reverse:

1. the string escapes of every key file value (``\s \n \t \r \\``): ``keyfile.decode_string``;
2. the command line's quoting, here: arguments are separated by spaces; an argument holding a
   reserved character is enclosed in double quotes, inside which ``"``, `````, ``$`` and ``\``
   take a backslash. :func:`split` undoes it, :func:`join` does it.

So a literal backslash inside a quoted argument is four backslashes in the file, and a
literal ``$`` is ``\\$``, as the specification spells out.

Field codes (``%f %F %u %U %i %c %k`` and ``%%``) are text to this module: they stay in the
arguments as they are, for the launcher to expand. The specification forbids them inside a
quoted argument; :func:`join` quotes an argument only when it must, so an argument that is a
field code alone, like ``%U``, is never quoted.

Reading is as lenient as the launchers: GLib (GNOME Shell, ``gio launch``) parses an Exec value
with ``g_shell_parse_argv``, which also takes 'single quotes', a backslash outside quotes, and
``#`` after a space as the start of a comment, and reads other reserved characters as themselves.
:func:`split` reads those the same way, so such an entry starts the same program through ssc.
Writing is strict: :func:`join` produces only the specification's form, and
``split(join(args)) == args`` for any list of arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

# Characters that the specification says an argument must be quoted for.
RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
# Characters that take a backslash inside double quotes.
_ESCAPED_IN_QUOTES = frozenset('"`$\\')
_SPACE = frozenset(" \t\n")


class ExecError(ValueError):
    """An Exec value that cannot be split into arguments (an unterminated quote)."""


def split(command: str) -> list[str]:
    """The arguments of a command line whose string escapes are already undone."""
    args: list[str] = []
    word: list[str] = []
    in_word = False
    index, end = 0, len(command)
    while index < end:
        char = command[index]
        if char in _SPACE:
            if in_word:
                args.append("".join(word))
                word, in_word = [], False
            index += 1
        elif char == '"':
            index = _read_double_quoted(command, index + 1, word)
            in_word = True
        elif char == "'":
            closing = command.find("'", index + 1)
            if closing < 0:
                raise ExecError("unterminated single quote")
            word.append(command[index + 1 : closing])
            index, in_word = closing + 1, True
        elif char == "\\":
            if index + 1 >= end:
                raise ExecError("backslash at the end of the command line")
            if command[index + 1] != "\n":  # backslash-newline joins lines, as in a shell
                word.append(command[index + 1])
                in_word = True
            index += 2
        elif char == "#" and (index == 0 or command[index - 1] in " \n"):
            newline = command.find("\n", index)
            index = end if newline < 0 else newline
        else:
            word.append(char)
            in_word = True
            index += 1
    if in_word:
        args.append("".join(word))
    return args


def _read_double_quoted(command: str, index: int, word: list[str]) -> int:
    """Append the quoted text from ``index`` to ``word``; the index after the closing quote."""
    end = len(command)
    while index < end:
        char = command[index]
        if char == '"':
            return index + 1
        following = command[index + 1 : index + 2]
        if char == "\\" and following in _ESCAPED_IN_QUOTES:
            word.append(following)
            index += 2
        elif char == "\\" and following == "\n":
            index += 2
        else:
            word.append(char)
            index += 1
    raise ExecError("unterminated double quote")


def quote(arg: str) -> str:
    """``arg`` as one argument of a command line, quoted only if it must be."""
    if arg and not RESERVED.intersection(arg):
        return arg
    escaped = "".join("\\" + char if char in _ESCAPED_IN_QUOTES else char for char in arg)
    return f'"{escaped}"'


def join(args: Sequence[str]) -> str:
    """The command line of ``args`` (before the string escapes, which ``keyfile`` applies)."""
    return " ".join(quote(arg) for arg in args)
