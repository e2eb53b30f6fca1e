"""What a strict app may reach on the session bus: the ``[bus]`` allow-list, as the filter
arguments of xdg-dbus-proxy (``ssc.strict.bus_proxy`` runs the proxy).

Whoever reaches ``org.freedesktop.systemd1`` on the session bus can lift the app's limits or
leave its scope (``SetUnitProperties``, ``StartTransientUnit`` with its own PID: Chromium does
the latter on every start). So a strict app talks to a proxy that lets through only the names
its profile allows (the ``[bus]`` table), and never systemd's nor Flatpak's host-command
service, whatever a profile or an app ID says.

Pure: profiles and the launch plan use it; the launcher's own path, which only starts the
proxy with the filters it is given, does not import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from ..errors import SscError

APP_ID = "{app_id}"
# Reaching these is leaving the scope: systemd starts units (and moves PIDs) for any caller,
# Flatpak's session helper runs commands on the host (HostCommand).
NEVER = ("org.freedesktop.systemd1", "org.freedesktop.Flatpak")
# A well-known bus name (D-Bus specification, "Bus names"), optionally ending in ".*".
_ELEMENT = r"[A-Za-z_-][A-Za-z0-9_-]*"
_BUS_NAME = re.compile(rf"{_ELEMENT}(?:\.{_ELEMENT})+(?:\.\*)?", re.ASCII)
_MAX_NAME = 255


class BusPolicy(NamedTuple):
    """What the app may do on the session bus, by name, in xdg-dbus-proxy's terms.

    ``own``/``talk``/``see`` hold bus names, a trailing ``.*`` covering the name and every name
    below it; ``call``/``broadcast`` hold ``NAME=RULE`` (xdg-dbus-proxy(1)). ``{app_id}`` stands
    for the app's ID. Owning a name implies talking to it, and talking implies seeing it.
    ``apps`` holds, by app ID, what one app needs besides (KeePassXC owns the keyring's name):
    the lists of an app whose ID is the app's, or one it registers, are added to these.
    """

    own: tuple[str, ...] = ()
    talk: tuple[str, ...] = ()
    see: tuple[str, ...] = ()
    call: tuple[str, ...] = ()
    broadcast: tuple[str, ...] = ()
    apps: tuple[tuple[str, BusPolicy], ...] = ()


# The lists of a policy, in the order they become arguments.
FIELDS = ("own", "talk", "see", "call", "broadcast")
# What GIO calls to open files and links in a D-Bus-activatable app (the Desktop Entry
# Specification's "D-Bus Activation", org.freedesktop.Application; glib gio/gdesktopappinfo.c,
# g_desktop_app_info_launch_uris_with_dbus), and nothing else of that app.
APPLICATION_METHODS = ("org.freedesktop.Application.Open", "org.freedesktop.Application.Activate")


class BusPolicyError(SscError):
    """A policy entry that is not a bus name, or that would reach what strict never allows."""


def check_entry(field: str, entry: str) -> str | None:
    """Why ``entry`` cannot be in ``field`` of a policy (None if it can), before ``{app_id}``."""
    name = _name_of(field, entry)
    if name is None:
        return f"{entry!r} is not NAME=RULE"
    if not _BUS_NAME.fullmatch(name.replace(APP_ID, "app.id")) or len(name) > _MAX_NAME:
        return f"{name!r} is not a bus name (like org.example.App, or org.example.*)"
    return _forbidden(name)


def policy_arguments(
    policy: BusPolicy,
    app_id: str,
    registered: Iterable[str] = (),
    activatable: Iterable[str] = (),
) -> list[str]:
    """xdg-dbus-proxy's filter arguments for ``policy``, with ``{app_id}`` put in.

    ``{app_id}`` stands for the app's ID, and for each ID its desktop entries say it
    registers (``registered``, see ``ssc.strict.bus_names``). An entry that an ID turns into
    something that is not a bus name is left out: an ID like ``firefox`` names no bus name,
    ``org.mozilla.firefox`` does. An app ID that would make an entry reach what strict never
    allows is an error, not a silent omission; a registered ID that would is left out. The
    per-app lists of these IDs are added. Each installed D-Bus-activatable app
    (``activatable``) may be asked to open a file or link (``APPLICATION_METHODS``), so that
    "Open with" reaches it.
    """
    arguments = ["--filter"]
    ids = [app_id, *(i for i in registered if i != app_id)]
    lists = {field: list(getattr(policy, field)) for field in FIELDS}
    for key, extra in policy.apps:
        if key in ids:
            for field in FIELDS:
                lists[field] += getattr(extra, field)
    lists["call"] += application_calls(activatable, exclude=ids)
    for field in FIELDS:
        for entry in lists[field]:
            for one_id in ids if APP_ID in entry else ids[:1]:
                expanded = entry.replace(APP_ID, one_id)
                name = _name_of(field, expanded)
                if name is None or not _BUS_NAME.fullmatch(name) or len(name) > _MAX_NAME:
                    continue
                refusal = _forbidden(name)
                if refusal is not None and one_id == app_id:
                    raise BusPolicyError(
                        f"the app ID {app_id!r} would let the app reach its way out: {refusal}",
                        hint="choose another --name",
                    )
                argument = f"--{field}={expanded}"
                if refusal is None and argument not in arguments:
                    arguments.append(argument)
    return arguments


def application_calls(activatable: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """``call`` entries that let the app open files and links in each of ``activatable``.

    The object path is the ID with ``.`` as ``/`` and ``-`` as ``_``, as GIO computes it
    (``object_path_from_appid``). An ID that is not a bus name is left out.
    """
    excluded = set(exclude)
    calls = []
    for app in activatable:
        if app in excluded or not _BUS_NAME.fullmatch(app) or app.endswith(".*"):
            continue
        if _forbidden(app) is not None:
            continue  # an entry named so is no app to open files in
        path = "/" + app.replace(".", "/").replace("-", "_")
        calls += [f"{app}={method}@{path}" for method in APPLICATION_METHODS]
    return calls


def _name_of(field: str, entry: str) -> str | None:
    if field not in ("call", "broadcast"):
        return entry
    name, has_rule, rule = entry.partition("=")
    return name if has_rule and rule else None


def _forbidden(name: str) -> str | None:
    """Why a name (or a ``.*`` pattern) may not be granted: it covers one of ``NEVER``."""
    subtree = name.endswith(".*")
    stem = name.removesuffix(".*")
    for never in NEVER:
        if never == stem or (subtree and never.startswith(stem + ".")):
            return f"{name} covers {never}, which strict never allows"
    return None
