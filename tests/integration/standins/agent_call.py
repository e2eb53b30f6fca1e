"""A caller of ssc's agent that sends what ssc never would: for the refusal tests.

    agent_call.py [--fd self|child|devnull] [--profile NAME]

It sends one launch request for ``true`` with the descriptor KIND names (self: its own pidfd,
as the launcher does; child: a pidfd of a ``sleep`` it started; devnull: a plain file), and
prints one JSON line: the answer's fields ({"error": [...]} or {"unit": [...]}, …), and
"child_cgroup", the child's cgroup after the answer, where there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from ssc.agent import protocol
from ssc.agent.client import socket_path
from ssc.launcher.launch import Request


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", choices=("self", "child", "devnull"), default="self")
    parser.add_argument("--profile", default="relaxed")
    args = parser.parse_args()
    child = subprocess.Popen(["sleep", "60"]) if args.fd == "child" else None
    if args.fd == "devnull":
        fd = os.open(os.devnull, os.O_RDONLY)
    else:
        fd = os.pidfd_open(child.pid if child else os.getpid())
    request = Request(command=["true"], profile=args.profile)
    message = protocol.encode(protocol.request_fields(request, "/usr/bin/true", dict(os.environ)))
    answer: dict[str, object] = {}
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
        connection.settimeout(60)
        connection.connect(socket_path())
        connection.sendmsg(
            [message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        )
        messages = []
        while data := connection.recv(protocol.MAX_MESSAGE):
            messages.append(data)
    if messages and messages[0] == protocol.ACCEPTED:
        answer["accepted"] = True
        messages = messages[1:]
    for key, value in protocol.decode(messages[-1]):
        answer.setdefault(key, []).append(value)  # type: ignore[union-attr]
    if child is not None:
        answer["child_cgroup"] = Path(f"/proc/{child.pid}/cgroup").read_text().strip()
        child.kill()
        child.wait()
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
