"""A stand-in notification server: ``org.freedesktop.Notifications`` on the session bus.

    python -m tests.integration.standins.notifications --record FILE

It owns the name (or exits 1 if another server has it), prints ``ready`` on stdout once it
answers, and answers as the Desktop Notifications Specification (1.2) asks: ``Notify`` with
increasing IDs (a ``replaces_id`` that it gave out is given back), ``GetCapabilities``
(``body`` only: bodies are plain text), ``GetServerInformation`` and ``CloseNotification``
(with its ``NotificationClosed`` signal). Each ``Notify`` call is appended to FILE as one JSON
line: the call's arguments by the specification's names (variants in ``hints`` unwrapped,
bytes as base64), the ``id`` given, the ``sender``'s unique name and the ``time`` (epoch).

Only jeepney is needed (no dbus-python). SIGTERM or SIGINT ends it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import time
from typing import Any

from jeepney import DBusAddress, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import HeaderFields, Message

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
DO_NOT_QUEUE = 4
PRIMARY_OWNER = 1
CLOSED_BY_CALL = 3
CAPABILITIES = ["body"]
SERVER_INFORMATION = ("ssc-standin", "ssc", "1.0", "1.2")
NOTIFY_ARGUMENTS = (
    "app_name",
    "replaces_id",
    "app_icon",
    "summary",
    "body",
    "actions",
    "hints",
    "expire_timeout",
)
INTROSPECTION = f"""<node>
 <interface name="{INTERFACE}">
  <method name="Notify">
   <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
   <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
   <arg type="a{{sv}}" direction="in"/><arg type="i" direction="in"/>
   <arg type="u" direction="out"/>
  </method>
  <method name="CloseNotification"><arg type="u" direction="in"/></method>
  <method name="GetCapabilities"><arg type="as" direction="out"/></method>
  <method name="GetServerInformation">
   <arg type="s" direction="out"/><arg type="s" direction="out"/>
   <arg type="s" direction="out"/><arg type="s" direction="out"/>
  </method>
  <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
 </interface>
</node>
"""


def jsonable(value: Any) -> Any:
    """A D-Bus value as JSON: variants ``(signature, value)`` unwrapped, bytes as base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def unwrap_hints(hints: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {key: jsonable(variant[1]) for key, variant in hints.items()}


class Server:
    def __init__(self, connection: DBusConnection, record: str) -> None:
        self.connection = connection
        self.record = record
        self.last_id = 0
        self.given: set[int] = set()

    def handle(self, message: Message) -> None:
        fields = message.header.fields
        if message.header.message_type != MessageType.method_call:
            return
        interface = fields.get(HeaderFields.interface)
        member = fields.get(HeaderFields.member)
        if (interface, member) == (INTERFACE, "Notify"):
            self.reply(new_method_return(message, "u", (self.notify(message),)))
        elif (interface, member) == (INTERFACE, "GetCapabilities"):
            self.reply(new_method_return(message, "as", (CAPABILITIES,)))
        elif (interface, member) == (INTERFACE, "GetServerInformation"):
            self.reply(new_method_return(message, "ssss", SERVER_INFORMATION))
        elif (interface, member) == (INTERFACE, "CloseNotification"):
            (notification_id,) = message.body
            self.reply(new_method_return(message))
            emitter = DBusAddress(PATH, interface=INTERFACE)
            closed = new_signal(
                emitter, "NotificationClosed", "uu", (notification_id, CLOSED_BY_CALL)
            )
            self.connection.send(closed)
        elif member == "Ping" and interface in (None, "org.freedesktop.DBus.Peer"):
            self.reply(new_method_return(message))
        elif member == "Introspect":
            self.reply(new_method_return(message, "s", (INTROSPECTION,)))
        else:
            self.reply(
                new_error(
                    message,
                    "org.freedesktop.DBus.Error.UnknownMethod",
                    "s",
                    (f"no method {interface}.{member} here",),
                )
            )

    def notify(self, message: Message) -> int:
        arguments = dict(zip(NOTIFY_ARGUMENTS, message.body, strict=True))
        replaces = arguments["replaces_id"]
        if replaces in self.given:
            notification_id = replaces
        else:
            self.last_id += 1
            notification_id = self.last_id
            self.given.add(notification_id)
        arguments["hints"] = unwrap_hints(arguments["hints"])
        line = {
            **jsonable(arguments),
            "id": notification_id,
            "sender": message.header.fields.get(HeaderFields.sender),
            "time": time.time(),
        }
        with open(self.record, "a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")
            file.flush()
            os.fsync(file.fileno())
        return notification_id

    def reply(self, message: Message) -> None:
        self.connection.send(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.standins.notifications")
    parser.add_argument("--record", required=True, metavar="FILE", help="append Notify calls here")
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or (
        f"unix:path={os.environ.get('XDG_RUNTIME_DIR') or f'/run/user/{os.getuid()}'}/bus"
    )
    connection = open_dbus_connection(bus=address)
    reply = connection.send_and_get_reply(message_bus.RequestName(NAME, DO_NOT_QUEUE))
    if reply.header.message_type == MessageType.error or reply.body[0] != PRIMARY_OWNER:
        print(f"cannot own {NAME}: {reply.body}", file=sys.stderr)
        return 1
    server = Server(connection, args.record)
    print("ready", flush=True)
    while True:
        server.handle(connection.receive())


if __name__ == "__main__":
    sys.exit(main())
