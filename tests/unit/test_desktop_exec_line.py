"""Exec lines: splitting as launchers do, joining as the specification says, and round trips."""

from __future__ import annotations

import random

import pytest

from ssc.desktop import exec_line
from ssc.desktop.keyfile import decode_string, encode_string


def args_of(raw: str) -> list[str]:
    """The arguments of an Exec value as written in a file (string escapes and all)."""
    return exec_line.split(decode_string(raw))


def value_of(args: list[str]) -> str:
    """The Exec value to write to a file for ``args``."""
    return encode_string(exec_line.join(args))


# (Exec value as it appears in the file, the arguments it means)
TRICKY_LINES = [
    ("foo", ["foo"]),
    ("foo %U", ["foo", "%U"]),
    ("firefox-esr %u", ["firefox-esr", "%u"]),
    ('"/opt/My App/bin/app" --flag %f', ["/opt/My App/bin/app", "--flag", "%f"]),
    # the specification's own examples: \\$ is a literal $, four backslashes one backslash
    (r'sh -c "echo \\$HOME"', ["sh", "-c", "echo $HOME"]),
    (r'app "C:\\\\Program Files"', ["app", r"C:\Program Files"]),
    (r'app "say \\"hi\\""', ["app", 'say "hi"']),
    (r'app "\\`date\\`"', ["app", "`date`"]),
    ("app 100%%", ["app", "100%%"]),
    ("env LANG=C app --name=%c %i %k", ["env", "LANG=C", "app", "--name=%c", "%i", "%k"]),
    ('env "GTK_THEME=Adwaita:dark" app %F', ["env", "GTK_THEME=Adwaita:dark", "app", "%F"]),
    ('app ""', ["app", ""]),
    ("app   a    b", ["app", "a", "b"]),
    (r"app\sarg", ["app", "arg"]),  # \s is a space before the quoting rules apply
    (r'app "a\sb"', ["app", "a b"]),
    (r'app "tab\there"', ["app", "tab\there"]),
    ('app "it\'s"', ["app", "it's"]),
    ('app "%f"', ["app", "%f"]),
    ('app "Ünïcødé näme" ☃', ["app", "Ünïcødé näme", "☃"]),
    ('app "a;b|c&d<e>f~g*h?i(j)k#l"', ["app", "a;b|c&d<e>f~g*h?i(j)k#l"]),
    # what GLib's g_shell_parse_argv (and so GNOME) also accepts, read the way it reads it
    ("sh -c 'echo hi; exit'", ["sh", "-c", "echo hi; exit"]),
    (r"app \$HOME", ["app", "$HOME"]),  # one backslash: not a string escape, kept for Exec
    (r'sh -c "echo \$x"', ["sh", "-c", "echo $x"]),
    (r"app my\ file", ["app", "my file"]),
    ('env FOO="a b" app', ["env", "FOO=a b", "app"]),
    ('app "a"b', ["app", "ab"]),
    ("app # a comment", ["app"]),
    ("app a#b", ["app", "a#b"]),
    ("app $HOME ~/x", ["app", "$HOME", "~/x"]),  # no expansion: launchers do none
    ("flatpak run org.app.X @@u %u @@", ["flatpak", "run", "org.app.X", "@@u", "%u", "@@"]),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), TRICKY_LINES)
def test_tricky_exec_lines_split_into_the_arguments_they_mean(
    raw: str, expected: list[str]
) -> None:
    assert args_of(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), TRICKY_LINES)
def test_requoted_tricky_lines_mean_the_same_arguments(raw: str, expected: list[str]) -> None:
    requoted = value_of(args_of(raw))
    assert args_of(requoted) == expected
    assert value_of(args_of(requoted)) == requoted  # the written form is a fixed point


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (["foo", "%U"], "foo %U"),
        (["sh", "-c", "echo $HOME"], r'sh -c "echo \\$HOME"'),
        (["app", r"C:\Program Files"], r'app "C:\\\\Program Files"'),
        (["app", 'say "hi"'], r'app "say \\"hi\\""'),
        (["app", ""], 'app ""'),
        (["app", "it's"], '''app "it's"'''),
        (["app", "a\nb"], r'app "a\nb"'),
        (["/home/J Doe/.local/bin/ssc", "--name=x"], r'"/home/J Doe/.local/bin/ssc" --name=x'),
    ],
)
def test_join_quotes_only_what_must_be_quoted_in_the_specifications_form(
    args: list[str], written: str
) -> None:
    assert value_of(args) == written


def test_field_codes_are_never_quoted_on_their_own() -> None:
    for code in ("%f", "%F", "%u", "%U", "%i", "%c", "%k", "%%"):
        assert exec_line.quote(code) == code


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('app "unterminated', "unterminated double quote"),
        ("app 'unterminated", "unterminated single quote"),
        ("app \\\\", "backslash at the end"),
    ],
)
def test_unterminated_quoting_is_an_error(raw: str, problem: str) -> None:
    with pytest.raises(exec_line.ExecError, match=problem):
        args_of(raw)


def test_any_arguments_survive_join_then_split() -> None:
    alphabet = list(exec_line.RESERVED) + list("aZ09%=-_./:é☃@") + ["\r", "\\s", "\\\\"]
    rng = random.Random(5)
    for _ in range(3000):
        args = [
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
            for _ in range(rng.randrange(1, 6))
        ]
        assert args_of(value_of(args)) == args, args
