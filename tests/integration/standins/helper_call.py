"""A caller of ssc's system helper that sends what ssc never would: for the refusal tests.

    helper_call.py start [--fd KIND] [--app ID] [--prop NAME SIG JSON]... [--bare]
    helper_call.py set UNIT [--prop NAME SIG JSON]...
    helper_call.py burst N              N calls at once, each with a forbidden property
    helper_call.py leave --app ID       call, and close the connection before the answer

It prints one JSON line: {"unit": …} or {"error": NAME, "message": …} (burst: the list of
error names), and for start and leave also {"cgroup": …}, this process's cgroup afterwards.
KIND names whose pidfd is passed: self (the default), pid1 (another uid's), child, parent,
dead (a child that has exited and been reaped), devnull (a plain file).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import subprocess
import sys
import time
from typing import Any

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

HELPER = DBusAddress("/org/ssc/Helper1", bus_name="org.ssc.Helper1", interface="org.ssc.Helper1")
DEFAULT_PROPERTIES = [("MemoryMax", ("t", 512 * 1024**2))]


def descriptor(kind: str) -> int:
    if kind == "self":
        return os.pidfd_open(os.getpid())
    if kind == "pid1":
        return os.pidfd_open(1)
    if kind == "parent":
        return os.pidfd_open(os.getppid())
    if kind == "child":
        child = subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL)
        atexit.register(child.kill)
        return os.pidfd_open(child.pid)
    if kind == "dead":
        child = subprocess.Popen(["true"])
        fd = os.pidfd_open(child.pid)
        child.wait()
        return fd
    if kind == "devnull":
        return os.open("/dev/null", os.O_RDONLY)
    raise SystemExit(f"unknown kind {kind}")


def properties(given: list[list[str]] | None, bare: bool) -> list[Any]:
    found = [] if bare else list(DEFAULT_PROPERTIES)
    for name, signature, text in given or []:
        value = json.loads(text)
        if signature.startswith("a("):  # an array of structs: JSON has lists, D-Bus tuples
            value = [tuple(item) for item in value]
        found.append((name, (signature, value)))
    return found


def answer(reply: Any) -> dict[str, Any]:
    if reply.header.message_type == MessageType.error:
        name = reply.header.fields.get(HeaderFields.error_name)
        return {"error": name, "message": reply.body[0] if reply.body else ""}
    return {"unit": reply.body[0] if reply.body else None}


def own_cgroup() -> str:
    with open("/proc/self/cgroup") as f:
        return f.read().strip().removeprefix("0::")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["start", "set", "burst", "leave"])
    parser.add_argument("target", nargs="?")
    parser.add_argument("--fd", default="self")
    parser.add_argument("--app", default="org.ssc.test.Raw")
    parser.add_argument("--prop", nargs=3, action="append")
    parser.add_argument("--bare", action="store_true", help="no default MemoryMax")
    args = parser.parse_args()
    connection = open_dbus_connection(bus="SYSTEM", enable_fds=True)
    props = properties(args.prop, args.bare)
    if args.mode == "start":
        body = (descriptor(args.fd), args.app, "raw call (ssc test)", props)
        message = new_method_call(HELPER, "StartScope", "hssa(sv)", body)
        result = answer(connection.send_and_get_reply(message, timeout=60))
        result["cgroup"] = own_cgroup()
    elif args.mode == "set":
        message = new_method_call(HELPER, "SetLimits", "sa(sv)", (args.target, props))
        result = answer(connection.send_and_get_reply(message, timeout=60))
    elif args.mode == "burst":
        forbidden = [("ExecStart", ("s", "/bin/true"))]
        serials = []
        for _ in range(int(args.target)):
            body = (os.pidfd_open(os.getpid()), args.app, "burst (ssc test)", forbidden)
            message = new_method_call(HELPER, "StartScope", "hssa(sv)", body)
            serials.append(connection.send(message))
        names = []
        while len(names) < len(serials):
            reply = connection.receive(timeout=60)
            if reply.header.message_type in (MessageType.error, MessageType.method_return):
                names.append(answer(reply).get("error"))
        result = {"errors": names}
    else:
        body = (os.pidfd_open(os.getpid()), args.app, "leaves early (ssc test)", props)
        connection.send(new_method_call(HELPER, "StartScope", "hssa(sv)", body))
        time.sleep(1.5)  # the helper has asked polkit, which takes 3 s (helper/50-ssc-test.rules)
        connection.close()  # before polkit answers: the helper must fail closed
        time.sleep(5)  # past polkit's answer
        result = {"cgroup": own_cgroup()}
    print(json.dumps(result), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
