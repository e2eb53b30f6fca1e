"""Finding the program a word names, as the shell does (and with its exit codes)."""

from __future__ import annotations

import os

from ..errors import CommandNotExecutable, CommandNotFound


def resolve_command(word: str, search_path: str) -> str:
    """The program ``word`` names, as the shell finds it: 127 if missing, 126 if not runnable."""
    if "/" in word:
        candidates = [word]
    else:
        candidates = [os.path.join(d or ".", word) for d in search_path.split(os.pathsep)]
    not_executable = None
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            not_executable = not_executable or candidate
        elif "/" in word and os.path.isdir(candidate):
            raise CommandNotExecutable(f"{word}: is a directory")
    if not_executable:
        raise CommandNotExecutable(f"{not_executable}: permission denied (not executable)")
    raise CommandNotFound(f"{word}: command not found")
