"""Desktop entry text: parsed and rendered back unchanged, edited one line at a time."""

from __future__ import annotations

import random

import pytest

from ssc.desktop import keyfile

EDITOR = """\
# A comment before the first group, and a blank line

[Desktop Entry]
Version=1.5
Type=Application
Name=Editor
Name[de_DE@euro]=Bearbeiter
GenericName[sr@latin]=Uređivač
Comment = spaced = value
  Indented=yes
# a comment inside the group
Exec=editor %F
Keywords=edit\\;write;text;
X-Vendor-Thing=kept

[Desktop Action new-window]
Name=New Window
Exec=editor --new-window
"""


@pytest.mark.parametrize(
    "text",
    [
        EDITOR,
        EDITOR.rstrip("\n"),  # no newline at the end
        EDITOR + "\n\n",  # blank lines at the end
        "[Desktop Entry]\n",
        "[Desktop Entry]\nType=Application\n\n\n[Desktop Action x]\n\n",
        "[Desktop Entry]\nExec=a \\\\\\\\ b \\s \\t\n",
    ],
)
def test_rendering_a_parsed_file_gives_back_the_same_text(text: str) -> None:
    assert keyfile.render(keyfile.parse(text)) == text


def test_keys_are_read_with_their_locale_and_without_the_space_around_the_equals_sign() -> None:
    entry = keyfile.parse(EDITOR)
    assert entry.main.get("Name[de_DE@euro]") == "Bearbeiter"
    assert entry.main.get("Comment") == "spaced = value"
    assert entry.main.get("Indented") == "yes"
    assert entry.main.get("Missing") is None
    assert [group.name for group in entry.groups] == ["Desktop Entry", "Desktop Action new-window"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no \\[Desktop Entry\\] group"),
        ("# only a comment\n", "no \\[Desktop Entry\\] group"),
        ("[Other]\nA=b\n", "line 1: the first group is \\[Other\\]"),
        ("Name=x\n[Desktop Entry]\n", "line 1: key 'Name' before the first group"),
        ("[Desktop Entry]\nnot a key line\n", "line 2: not a Key=Value line"),
        ("[Desktop Entry]\nBad Key=x\n", "line 2: not a Key=Value line"),
        ("[Desktop Entry\n", "line 1: invalid group header"),
        ("[Desktop Entry]\nName=a\nName=b\n", "line 3: key 'Name' appears twice"),
        ("[Desktop Entry]\n[Desktop Entry]\n", "line 2: group \\[Desktop Entry\\] appears twice"),
    ],
)
def test_text_that_is_not_a_desktop_entry_is_refused_with_the_line(text: str, problem: str) -> None:
    with pytest.raises(keyfile.KeyFileError, match=problem):
        keyfile.parse(text)


def test_setting_a_value_rewrites_its_line_in_place() -> None:
    entry = keyfile.parse(EDITOR)
    main = keyfile.with_value(entry.main, "Exec", "other %U")
    text = keyfile.render(keyfile.with_group(entry, main))
    assert text == EDITOR.replace("Exec=editor %F", "Exec=other %U")


def test_a_new_key_goes_after_the_groups_last_key_before_the_blank_line() -> None:
    entry = keyfile.parse(EDITOR)
    text = keyfile.render(keyfile.with_group(entry, keyfile.with_value(entry.main, "X-New", "1")))
    assert "X-Vendor-Thing=kept\nX-New=1\n\n[Desktop Action new-window]" in text


def test_removing_a_key_or_a_group_leaves_every_other_line() -> None:
    entry = keyfile.parse(EDITOR)
    without = keyfile.with_group(entry, keyfile.without_key(entry.main, "Keywords"))
    without = keyfile.without_group(without, "Desktop Action new-window")
    expected = EDITOR.replace("Keywords=edit\\;write;text;\n", "").split(
        "[Desktop Action new-window]"
    )[0]
    assert keyfile.render(without) == expected


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("plain", "plain"),
        ("a\\sb", "a b"),
        ("line\\nbreak\\ttab\\rret", "line\nbreak\ttab\rret"),
        ("back\\\\slash", "back\\slash"),
        ("\\$HOME", "\\$HOME"),  # not a string escape: kept, for Exec's own rules
    ],
)
def test_string_escapes_are_undone(raw: str, text: str) -> None:
    assert keyfile.decode_string(raw) == text


def test_any_text_survives_string_encoding() -> None:
    alphabet = [*" \t\n\r\\;$sntr=é", "\\s", "\\n"]
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10)))
        encoded = keyfile.encode_string(text)
        assert keyfile.decode_string(encoded) == text, text
        assert "\n" not in encoded
        assert encoded == encoded.strip()


def test_lists_split_on_unescaped_semicolons() -> None:
    assert keyfile.decode_list("edit\\;write;text;") == ["edit;write", "text"]
    assert keyfile.decode_list("a;b") == ["a", "b"]
    assert keyfile.encode_list(["edit;write", "text"]) == "edit\\;write;text;"
