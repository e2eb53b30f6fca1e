"""A caller of ssc's system helper that sends what ssc never would: for the refusal tests.

    helper_call.py start [--fd KIND] [--app ID] [--prop NAME SIG JSON]... [--bare]
    helper_call.py set UNIT [--prop NAME SIG JSON]...
    helper_call.py burst N              N calls at once, each with a forbidden property
    helper_call.py leave --app ID       call, and close the connection before the answer

It prints one JSON line: {"unit": …} or {"error": NAME, "message": …} (burst: the list of
error names), and for start and leave also {"cgroup": …}, this process's cgroup afterwards.
KIND names whose pidfd is passed: self (the default), pid1 (another uid's), child, parent,
dead (a child that has exited and been reaped), reused (as dead, passed by a process that now
has the dead one's PID, so the bus names that PID as the caller's), devnull (a plain file).
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
AS_ROOT = ["sudo", "-n", "/usr/local/lib/ssc-vm/as-root"]
REUSE_ATTEMPTS = 20
NOT_REUSED = 75  # the call's process did not get the PID it was meant to have: try again


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
    if kind.startswith("inherited:"):
        return int(kind.removeprefix("inherited:"))
    raise SystemExit(f"unknown kind {kind}")


def call_from_reused_pid(argv: list[str]) -> None:
    """Make this call from a process whose PID is that of an exited process, passing the exited
    one's pidfd: a check by PID alone would find the caller's own process behind it.

    The bed's root sets the PID the kernel hands out next (``/proc/sys/kernel/ns_last_pid``);
    another process of the guest may fork in between, so it is tried again."""
    rest = list(argv)
    at = rest.index("--fd") if "--fd" in rest else rest.index("--fd=reused")
    del rest[at : at + (2 if rest[at] == "--fd" else 1)]
    for _ in range(REUSE_ATTEMPTS):
        gone = subprocess.Popen(["true"])
        pidfd = os.pidfd_open(gone.pid)
        gone.wait()
        subprocess.run([*AS_ROOT, "next-pid", str(gone.pid)], check=True)
        again = [f"--fd=inherited:{pidfd}", f"--expect-pid={gone.pid}"]
        caller = subprocess.run(
            [sys.executable, __file__, *rest, *again], pass_fds=(pidfd,), stdout=subprocess.PIPE
        )
        os.close(pidfd)
        if caller.returncode != NOT_REUSED:
            sys.stdout.buffer.write(caller.stdout)
            sys.exit(caller.returncode)
    raise SystemExit(f"no caller got an exited process's PID in {REUSE_ATTEMPTS} attempts")


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
    parser.add_argument("--expect-pid", type=int, help="(reused) the PID this process must have")
    args = parser.parse_args()
    if args.fd == "reused":
        call_from_reused_pid(sys.argv[1:])
    if args.expect_pid is not None and os.getpid() != args.expect_pid:
        sys.exit(NOT_REUSED)
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
