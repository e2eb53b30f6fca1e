"""A stand-in D-Bus-activatable app: what GNOME Text Editor or Loupe are to "Open with".

    python tests/integration/standins/opener.py --name org.ssc.test.Opener --record FILE

The session bus starts it (D-Bus activation, from a ``.service`` file) when a caller asks its
name for something. It owns the name, serves ``org.freedesktop.Application`` at the object
path GIO uses (the name with ``.`` as ``/``), and appends each ``Open`` or ``Activate`` call to
FILE as one JSON line: the ``method``, the ``uris`` (for Open), the ``cgroup`` this process
runs in, and whether each file the URIs name is ``readable`` here. Then it exits: one call,
one record, as an app that opened a window would be done with the call. Only jeepney is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from urllib.parse import unquote, urlparse

from jeepney import MatchRule, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import HeaderFields, Message

INTERFACE = "org.freedesktop.Application"
DO_NOT_QUEUE = 4


def readable(uri: str) -> bool:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return False
    try:
        with open(unquote(parsed.path), "rb") as f:
            f.read(1)
    except OSError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    path = "/" + args.name.replace(".", "/").replace("-", "_")
    with open("/proc/self/cgroup") as f:
        cgroup = f.read().split("::", 1)[1].strip()
    connection = open_dbus_connection(bus="SESSION")
    calls: deque[Message] = deque()
    # The call that activated us arrives as soon as the name is ours, before RequestName's
    # reply: it must be kept, not dropped while the reply is awaited.
    with connection.filter(MatchRule(type="method_call"), queue=calls):
        reply = connection.send_and_get_reply(message_bus.RequestName(args.name, DO_NOT_QUEUE))
        if reply.header.message_type == MessageType.error or reply.body[0] != 1:
            return 1
        return serve(connection, calls, path, cgroup, args.record)


def serve(
    connection: DBusConnection, calls: deque[Message], path: str, cgroup: str, record_to: str
) -> int:
    """Answer calls until the first Open or Activate, which is recorded."""
    while True:
        message = connection.recv_until_filtered(calls)
        fields = message.header.fields
        member = fields.get(HeaderFields.member)
        if fields.get(HeaderFields.interface) != INTERFACE or fields.get(HeaderFields.path) != path:
            connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))
            continue
        uris = list(message.body[0]) if member == "Open" else []
        record = {
            "method": member,
            "uris": uris,
            "readable": [readable(uri) for uri in uris],
            "cgroup": cgroup,
        }
        with open(record_to, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        connection.send(new_method_return(message))
        return 0


if __name__ == "__main__":
    sys.exit(main())
