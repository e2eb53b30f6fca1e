"""The session bus under strict: through xdg-dbus-proxy, Flatpak's filtering proxy, by allow-list.

Whoever reaches ``org.freedesktop.systemd1`` on the session bus can lift the app's limits or
leave its scope (``SetUnitProperties``, ``StartTransientUnit`` with its own PID: Chromium does
the latter on every start). So a strict app talks to a proxy that lets through only the names
its profile allows (the ``[bus]`` table), and never systemd's nor Flatpak's host-command
service, whatever a profile or an app ID says.

As Flatpak does it (``common/flatpak-run-dbus.c``): the proxy gets the write end of a pipe as
``--fd`` and writes one byte there once it listens; the launcher waits for that byte, then hands
the read end to bwrap as ``--sync-fd``. When the sandbox is gone, the read end closes and the
proxy removes its socket and exits. The proxy is started from inside the app's scope, so
xdg-desktop-portal, which sees the proxy's process as the caller, reads the app's ID from the
scope's name.

``policy_arguments`` and ``check_policy`` are pure; ``find_proxy`` and ``start`` are the edge.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import NamedTuple

from .errors import SscError

PROXY = "xdg-dbus-proxy"
APP_ID = "{app_id}"
# Reaching these is leaving the scope: systemd starts units (and moves PIDs) for any caller,
# Flatpak's session helper runs commands on the host (HostCommand).
NEVER = ("org.freedesktop.systemd1", "org.freedesktop.Flatpak")
# A well-known bus name (D-Bus specification, "Bus names"), optionally ending in ".*".
_ELEMENT = r"[A-Za-z_-][A-Za-z0-9_-]*"
_BUS_NAME = re.compile(rf"{_ELEMENT}(?:\.{_ELEMENT})+(?:\.\*)?", re.ASCII)
_MAX_NAME = 255
READY_TIMEOUT = 60.0  # seconds for the proxy to listen: generous, for a loaded machine


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


class ProxiedBus(NamedTuple):
    """A running proxy: where it listens, and the descriptor that keeps it alive."""

    socket: str
    sync_fd: int


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

    ``{app_id}`` stands for the app's ID, and for each ID its desktop entries say it registers
    (``registered``, see ``ssc.appnames``). An entry that an ID turns into something that is not
    a bus name is left out: an ID like ``firefox`` names no bus name, ``org.mozilla.firefox``
    does. An app ID that would make an entry reach what strict never allows is an error, not a
    silent omission; a registered ID that would is left out. The per-app lists of these IDs
    are added. Each installed D-Bus-activatable app (``activatable``) may be asked to open a
    file or link (``APPLICATION_METHODS``), so that "Open with" reaches it.
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


def proxy_argv(
    proxy: str, bus_address: str, socket: str, ready_fd: int, filters: Iterable[str]
) -> list[str]:
    """The proxy's command line: one proxied bus, which stops when ``ready_fd`` closes."""
    return [proxy, f"--fd={ready_fd}", bus_address, socket, *filters]


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


def find_proxy(search_path: str) -> str:
    """The path of xdg-dbus-proxy, or an error saying that strict cannot run without it."""
    from .programs import resolve_command

    try:
        return resolve_command(PROXY, search_path)
    except SscError:
        raise SscError(
            "strict isolation needs xdg-dbus-proxy, which is not installed",
            hint="install it (Debian/Ubuntu/Fedora: package xdg-dbus-proxy, present wherever "
            "Flatpak is), or use --isolation=relaxed to run with limits only",
        ) from None


def start(proxy: str, bus_address: str, socket: str, filters: list[str]) -> ProxiedBus:
    """Start the proxy, wait until it listens, and return the read end that keeps it alive.

    The proxy is double-forked, so that it is nobody's child here: the process that starts it
    becomes bwrap, whose only child must be the app. It stays in this process's scope.
    """
    read_end, write_end = os.pipe()
    try:
        _spawn_detached(proxy_argv(proxy, bus_address, socket, write_end, filters), write_end)
    finally:
        os.close(write_end)  # the proxy holds it now: a proxy that dies gives end-of-file
    ready = _read_one_byte(read_end, READY_TIMEOUT)
    if ready != b"x":
        os.close(read_end)
        reason = "it did not answer" if ready is None else "it exited"
        raise SscError(
            f"Failed to start xdg-dbus-proxy for the session bus: {reason}",
            hint="its own message, if any, is above",
        )
    os.set_inheritable(read_end, True)
    return ProxiedBus(socket, read_end)


def _read_one_byte(fd: int, timeout: float) -> bytes | None:
    """One byte, or b"" at end-of-file, or None if nothing came in time."""
    import select

    readable, _, _ = select.select([fd], [], [], timeout)
    if not readable:
        return None
    try:
        return os.read(fd, 1)
    except OSError:
        return b""


def _spawn_detached(argv: list[str], keep: int) -> None:
    """Run ``argv`` as a grandchild, which the user manager (a subreaper) adopts."""
    intermediate = os.fork()
    if intermediate == 0:
        try:
            if os.fork() == 0:
                _exec_keeping(argv, keep)
        finally:
            os._exit(0)
    os.waitpid(intermediate, 0)


def _exec_keeping(argv: list[str], keep: int) -> None:
    try:
        os.set_inheritable(keep, True)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # stderr stays: the proxy's own message is worth seeing
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
