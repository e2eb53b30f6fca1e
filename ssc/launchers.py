"""Desktop launchers that move the process they started, and how to tell that move is done.

A launcher moves the PID it spawned into a scope of its own once, and late: GNOME Shell into
``app-gnome-<app id>-<pid>.scope`` (gnome-desktop, ``gnome_start_systemd_scope``), VTE
terminals into ``vte-spawn-<uuid>.scope`` (VTE, ``src/systemd.cc``), Ptyxis into
``ptyxis-spawn-<uuid>.scope``. Where ssc can prove that this one move has already happened to
its own process, no later move can take the app out of ssc's scope, and ssc may become the
app in place (a terminal tab then keeps its shell as its direct child). Everywhere else —
KDE's scopes, whose names do not say which process they were made for, a move still to come,
any launcher unknown here — ssc keeps a supervisor outside (``ssc.supervise``).

``move_is_done`` is pure; the cgroups it compares are read with ``ssc.cgroup.cgroup_of``.
"""

from __future__ import annotations

import re

# Scopes made for one named process: the PID in the name must be ours.
_FOR_PID = re.compile(r"app-gnome-.+-(?P<pid>[0-9]+)\.scope")
# Scopes a terminal makes for the process it just spawned; the name carries no PID.
_TERMINAL_SPAWN = re.compile(r"(?:vte|ptyxis)-spawn-[0-9A-Za-z-]+\.scope")


def move_is_done(own_cgroup: str | None, parent_cgroup: str | None, pid: int) -> bool:
    """Whether a launcher's one move of this process has provably happened already.

    ``app-gnome-…-<pid>.scope`` proves it when the PID is ours. A terminal's spawn scope proves
    it only when the parent sits elsewhere: then this process was moved there, not born there
    (a process born in a tab's scope may have a launcher of its own for a parent, whose move of
    it is still to come).
    """
    if not own_cgroup:
        return False
    unit = own_cgroup.rsplit("/", 1)[-1]
    named = _FOR_PID.fullmatch(unit)
    if named is not None:
        return int(named["pid"]) == pid
    if _TERMINAL_SPAWN.fullmatch(unit):
        return parent_cgroup is not None and parent_cgroup != own_cgroup
    return False
