"""The edge to the desktop's notification server (``org.freedesktop.Notifications``, the
Desktop Notifications Specification 1.2): ``Notify`` with the ``desktop-entry`` hint, so the
shell shows the app's own icon and name, and ``replaces_id`` to update a notification.

:func:`notify_message` is pure; :class:`Notifier` sends, and never fails the watcher: a missing
server (no desktop session yet) is logged and the notice dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jeepney import DBusAddress, MessageType, new_method_call
from jeepney.io.blocking import DBusConnection
from jeepney.low_level import Message

from ..ctl.apps import App
from .events import Notice, escape_markup

NOTIFICATIONS = DBusAddress(
    "/org/freedesktop/Notifications",
    bus_name="org.freedesktop.Notifications",
    interface="org.freedesktop.Notifications",
)
APP_NAME = "ssc"
URGENCY_NORMAL = 1
DEFAULT_EXPIRY = -1  # the server's own
CALL_TIMEOUT = 10.0


def notify_message(notice: Notice, app: App, *, replaces: int = 0, markup: bool = False) -> Message:
    """``Notify(susssasa{sv}i)``: the app's icon and entry, no actions, the server's timeout."""
    hints: dict[str, tuple[str, Any]] = {"urgency": ("y", URGENCY_NORMAL)}
    if app.desktop_id is not None:
        hints["desktop-entry"] = ("s", app.desktop_id)
    body = escape_markup(notice.body) if markup else notice.body
    return new_method_call(
        NOTIFICATIONS,
        "Notify",
        "susssasa{sv}i",
        (APP_NAME, replaces, app.icon or "", notice.summary, body, [], hints, DEFAULT_EXPIRY),
    )


class Notifier:
    """Sends notices over ``connection``; ``log`` gets one line per failure."""

    def __init__(self, connection: DBusConnection, log: Callable[[str], None]) -> None:
        self._connection = connection
        self._log = log
        self._markup: bool | None = None  # asked once, when first needed

    def send(self, notice: Notice, app: App, replaces: int = 0) -> int | None:
        """The notification's ID, or None when no server took it."""
        if self._markup is None:
            capabilities = self._call(new_method_call(NOTIFICATIONS, "GetCapabilities"))
            if capabilities is None:
                return None
            self._markup = "body-markup" in capabilities[0]
        reply = self._call(notify_message(notice, app, replaces=replaces, markup=self._markup))
        return None if reply is None else int(reply[0])

    def _call(self, message: Message) -> tuple[Any, ...] | None:
        try:
            reply = self._connection.send_and_get_reply(message, timeout=CALL_TIMEOUT)
        except TimeoutError:
            self._log("the notification server did not answer")
            return None
        if reply.header.message_type == MessageType.error:
            detail = reply.body[0] if reply.body else reply.header.fields
            self._log(f"the notification server refused: {detail}")
            return None
        body: tuple[Any, ...] = reply.body
        return body
