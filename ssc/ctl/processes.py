"""The processes of an app, one by one, with psutil: the edge for ``top`` and ``ps -v``.

Per-process figures are psutil's (RSS, CPU since the previous sample); what the kernel
enforces is the cgroup's count (``ssc.ctl.usage``). Only ``sscctl`` imports this module: the
launcher stays free of psutil.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil

from .report import Process


class Sampler:
    """Keeps a psutil handle per PID, so each sample's CPU share covers the time since the
    last one (psutil's first ``cpu_percent`` of a process has nothing to compare with)."""

    def __init__(self) -> None:
        self._handles: dict[int, psutil.Process] = {}

    def sample(self, pids: Iterable[int]) -> list[Process]:
        """The processes among ``pids`` still there, with their CPU share since last time."""
        found: list[Process] = []
        for pid in pids:
            handle = self._handles.get(pid)
            first = handle is None
            try:
                if handle is None:
                    handle = psutil.Process(pid)
                with handle.oneshot():
                    cpu = handle.cpu_percent(interval=None)
                    rss = handle.memory_info().rss
                    found.append(Process(pid, handle.name(), rss, None if first else cpu))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._handles.pop(pid, None)
                continue
            self._handles[pid] = handle
        return found

    def keep_only(self, pids: Iterable[int]) -> None:
        """Forget the processes that are not among ``pids`` (they exited)."""
        alive = set(pids)
        self._handles = {pid: h for pid, h in self._handles.items() if pid in alive}
