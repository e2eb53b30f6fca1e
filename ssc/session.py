"""Where the user's session keeps its things: the runtime directory and the session bus.

Light (the launch path reads both before its exec, without D-Bus); ``environ`` is the
environment to read, by default this process's (ssc's agent passes the launcher's).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # mypy reads it as true; typing stays off the launch path (ssc.limits)
if TYPE_CHECKING:
    from collections.abc import Mapping


def runtime_dir(environ: Mapping[str, str] | None = None) -> str:
    """The user's ``$XDG_RUNTIME_DIR``, or logind's path for it when the variable is unset."""
    env = os.environ if environ is None else environ
    return env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"


def session_bus_address(environ: Mapping[str, str] | None = None) -> str:
    """The session bus from the environment, else the user manager's standard socket."""
    env = os.environ if environ is None else environ
    return env.get("DBUS_SESSION_BUS_ADDRESS") or f"unix:path={runtime_dir(env)}/bus"
