"""Terminal profiles whose tabs are contained shells: what to write to the settings (pure).

GNOME Terminal and Ptyxis keep their profiles in GSettings, each as a list of profile UUIDs, a
default UUID, and one relocatable schema per profile. The keys, from their schemas
(``src/org.gnome.Terminal.gschema.xml``, ``src/org.gnome.Ptyxis.gschema.xml.in``):

==================  =====================================  ===================================
                    GNOME Terminal                         Ptyxis
==================  =====================================  ===================================
list, default       ``org.gnome.Terminal.ProfilesList``    ``org.gnome.Ptyxis``
                    ``list`` (as), ``default`` (s)         ``profile-uuids`` (as),
                                                           ``default-profile-uuid`` (s)
profile schema      ``org.gnome.Terminal.Legacy.Profile``  ``org.gnome.Ptyxis.Profile``
profile path        ``/org/gnome/terminal/legacy/``        ``/org/gnome/Ptyxis/Profiles/UUID/``
                    ``profiles:/:UUID/``
name                ``visible-name`` (s)                   ``label`` (s)
command             ``use-custom-command`` (b), ``custom-command`` (s), in both
==================  =====================================  ===================================

Both terminals split ``custom-command`` with ``g_shell_parse_argv``, so it is written with
POSIX shell quoting (:func:`shlex.join`).

ssc's profile has a fixed UUID per terminal, so ``remove`` finds it without any state of ours,
and installing again updates it in place. Each plan writes the profile's keys before adding
its UUID to the list, so a running terminal never sees a half-written profile.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TerminalApp:
    name: str
    list_schema: str
    list_key: str
    default_key: str
    profile_schema: str
    path_template: str  # with {uuid}
    label_key: str
    uuid: str  # ssc's profile
    new_uuid: Callable[[], str]  # a fresh UUID in this terminal's format

    def profile_path(self, uuid: str) -> str:
        return self.path_template.format(uuid=uuid)


@dataclass(frozen=True)
class Write:
    """``gsettings set SCHEMA[:PATH] KEY VALUE``, VALUE in GVariant text format."""

    schema: str
    key: str
    value: str
    path: str | None = None


@dataclass(frozen=True)
class Reset:
    """``gsettings reset SCHEMA KEY``, or with no key ``reset-recursively SCHEMA:PATH``."""

    schema: str
    key: str | None = None
    path: str | None = None


Change = Write | Reset


def _random_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _random_hex_uuid() -> str:
    import uuid

    return uuid.uuid4().hex


# UUIDs of ssc's profile, fixed (uuid5 of "ssc:terminal-profile" in the URL namespace). GNOME
# Terminal wants the dashed form; Ptyxis makes its own as 32 hex digits (g_dbus_generate_guid).
_SSC_UUID = "d3c17c51-07b3-5b00-8dd4-ee6cb75859fc"

GNOME_TERMINAL = TerminalApp(
    name="GNOME Terminal",
    list_schema="org.gnome.Terminal.ProfilesList",
    list_key="list",
    default_key="default",
    profile_schema="org.gnome.Terminal.Legacy.Profile",
    path_template="/org/gnome/terminal/legacy/profiles:/:{uuid}/",
    label_key="visible-name",
    uuid=_SSC_UUID,
    new_uuid=_random_uuid,
)

PTYXIS = TerminalApp(
    name="Ptyxis",
    list_schema="org.gnome.Ptyxis",
    list_key="profile-uuids",
    default_key="default-profile-uuid",
    profile_schema="org.gnome.Ptyxis.Profile",
    path_template="/org/gnome/Ptyxis/Profiles/{uuid}/",
    label_key="label",
    uuid=_SSC_UUID.replace("-", ""),
    new_uuid=_random_hex_uuid,
)

TERMINALS = (GNOME_TERMINAL, PTYXIS)


def shell_command(ssc: str, profile: str, shell: str) -> list[str]:
    """A contained interactive shell: ``ssc --isolation=PROFILE SHELL -i``."""
    return [ssc, f"--isolation={profile}", shell, "-i"]


def profile_label(profile: str) -> str:
    return f"Contained ({profile})"


def install_plan(
    app: TerminalApp,
    profiles: Sequence[str],
    default: str,
    command: Sequence[str],
    label: str,
    make_default: bool,
) -> list[Change]:
    """The writes that add (or update) ssc's profile running ``command``.

    A terminal that has no profile yet makes one and makes it the default the first time it
    starts; with ssc's profile in the list, it would take that one as its default instead. So
    when the list is empty, the plan first adds an ordinary profile as the terminal would, and
    makes it the default unless ``make_default``.
    """
    path = app.profile_path(app.uuid)
    changes: list[Change] = [
        Write(app.profile_schema, app.label_key, gvariant_string(label), path),
        Write(app.profile_schema, "use-custom-command", "true", path),
        Write(app.profile_schema, "custom-command", gvariant_string(shlex.join(command)), path),
    ]
    new_list = list(profiles)
    new_default = app.uuid if make_default else default
    if not new_list:
        plain = app.new_uuid()
        new_list.append(plain)
        if not make_default:
            new_default = plain
    if app.uuid not in new_list:
        new_list.append(app.uuid)
    if new_list != list(profiles):
        changes.append(Write(app.list_schema, app.list_key, gvariant_strv(new_list)))
    if new_default != default:
        changes.append(Write(app.list_schema, app.default_key, gvariant_string(new_default)))
    return changes


def remove_plan(app: TerminalApp, profiles: Sequence[str], default: str) -> list[Change]:
    """The writes that take ssc's profile out: from the list, as the default, and its keys."""
    changes: list[Change] = []
    remaining = [uuid for uuid in profiles if uuid != app.uuid]
    if remaining != list(profiles):
        if remaining:
            changes.append(Write(app.list_schema, app.list_key, gvariant_strv(remaining)))
        else:
            changes.append(Reset(app.list_schema, app.list_key))
    if default == app.uuid:
        if remaining:
            changes.append(Write(app.list_schema, app.default_key, gvariant_string(remaining[0])))
        else:
            changes.append(Reset(app.list_schema, app.default_key))
    changes.append(Reset(app.profile_schema, path=app.profile_path(app.uuid)))
    return changes


# --- GVariant text format (what gsettings prints and parses) ----------------------------------


def gvariant_string(text: str) -> str:
    escaped = "".join(_GVARIANT_ESCAPES.get(char, char) for char in text)
    return f"'{escaped}'"


_GVARIANT_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def gvariant_strv(items: Sequence[str]) -> str:
    if not items:
        return "@as []"
    return "[" + ", ".join(gvariant_string(item) for item in items) + "]"


def parse_gvariant_string(text: str) -> str:
    """A string as ``gsettings get`` prints it: ``'it'`` or ``"it's"``, with C escapes."""
    value = _literal(text)
    if not isinstance(value, str):
        raise ValueError(f"not a GVariant string: {text!r}")
    return value


def parse_gvariant_strv(text: str) -> list[str]:
    """A string array as ``gsettings get`` prints it: ``['a', 'b']`` or ``@as []``."""
    value = _literal(text.strip().removeprefix("@as").strip())
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"not a GVariant string array: {text!r}")
    return value


def _literal(text: str) -> object:
    # The GVariant text of strings and string arrays is, escapes included, a Python literal.
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"cannot read GVariant text {text!r}") from error
