"""Desktop launchers that move the process they started, and how to tell that move is done.

A launcher moves the PID it spawned into a scope of its own once, and late: GNOME Shell into
``app-gnome-<app id>-<pid>.scope`` (gnome-desktop, ``gnome_start_systemd_scope``), VTE
terminals into ``vte-spawn-<uuid>.scope`` (VTE, ``src/systemd.cc``), Ptyxis into
``ptyxis-spawn-<uuid>.scope``. Where ssc can prove that this one move has already happened to
its own process, no later move can take the app out of ssc's scope, and ssc may become the
app in place (a terminal tab then keeps its shell as its direct child). Everywhere else —
KDE's scopes, whose names do not say which process they were made for, a move still to come,
any launcher unknown here — ssc keeps a supervisor outside (``ssc.launcher.supervise``).

``move_is_done`` is pure; the cgroups it compares are read with ``ssc.cgroup.cgroup_of``.

No regular expressions here: this module is on the launch path (see ``ssc.limits``).
"""

from __future__ import annotations

_GNOME_PREFIX = "app-gnome-"  # app-gnome-<app id>-<pid>.scope: made for one named process
_SPAWN_PREFIXES = ("vte-spawn-", "ptyxis-spawn-")  # <terminal>-spawn-<uuid>.scope: no PID in it
_SCOPE = ".scope"


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
    named_pid = _pid_in_gnome_scope(unit)
    if named_pid is not None:
        return named_pid == pid
    if _is_terminal_spawn_scope(unit):
        return parent_cgroup is not None and parent_cgroup != own_cgroup
    return False


def _pid_in_gnome_scope(unit: str) -> int | None:
    """The PID that ends ``app-gnome-<app id>-<pid>.scope`` (None: not such a name)."""
    if not (unit.startswith(_GNOME_PREFIX) and unit.endswith(_SCOPE)):
        return None
    app_id, dash, pid = unit[len(_GNOME_PREFIX) : -len(_SCOPE)].rpartition("-")
    if not (app_id and dash and pid.isascii() and pid.isdigit()):
        return None
    return int(pid)


def _is_terminal_spawn_scope(unit: str) -> bool:
    """``vte-spawn-<uuid>.scope`` or ``ptyxis-spawn-<uuid>.scope``."""
    for prefix in _SPAWN_PREFIXES:
        if unit.startswith(prefix) and unit.endswith(_SCOPE):
            uuid = unit[len(prefix) : -len(_SCOPE)]
            return bool(uuid) and uuid.isascii() and uuid.replace("-", "").isalnum()
    return False
