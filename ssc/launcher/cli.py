"""``ssc [OPTIONS] [--] COMMAND [ARG]...``: the launcher's command line.

The launcher parses its handful of options itself rather than with click: launch latency is
a feature, and importing click costs more than everything else on the launch path (measured
in the test bed: +400 ms under emulation, +31 ms natively). ``sscctl``, which no one waits
for, uses click. As with ``systemd-run``, option parsing stops at the first word that is not
an option, so everything after the command belongs to the command.

This module is the one place where errors become stderr lines and exit codes.
"""

from __future__ import annotations

import sys

from ..errors import SscError, UsageError
from ..limits import LimitError, parse_cpu_quota, parse_memory
from .launch import Request, launch

# Annotations only: importing typing or collections.abc costs the launch path more than it
# does (see ssc.limits). mypy reads TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    _T = TypeVar("_T")

HELP = """\
Usage: ssc [OPTIONS] [--] COMMAND [ARG]...

  Start COMMAND in its own systemd scope, with a CPU quota and a memory ceiling, so that
  it cannot take the desktop down with it. It runs as you, with your environment, working
  directory and terminal; signals sent to ssc reach it, and ssc exits as it does. When one
  of its processes runs over the ceiling, that process is killed and the rest lives on.
  No root, no sudo: ssc asks your own systemd user manager over D-Bus.

Options:
  --isolation=PROFILE  strict (default): CPU on all cores but one, memory at 70% of RAM,
                       limits the program cannot lift, a filtered session bus, a /tmp
                       of the app's own (shared by its instances) and no new privileges
                       (bubblewrap, xdg-dbus-proxy);
                       relaxed: memory at 70% of RAM only, fit for shells and builds;
                       or a profile of yours in ~/.config/ssc/profiles/NAME.toml
  --cpu=QUOTA          CPU quota in percent of one CPU (50%, 150%) or all-but-one
  --memory=SIZE        memory ceiling: 512M, 4G, or a share of RAM like 60%
                       (replaces the profile's MemoryMax, and drops its MemoryHigh)
  --name=APP_ID        application ID for the scope's name (default: the program's name),
                       e.g. org.mozilla.firefox -> app-ssc-org.mozilla.firefox-<random>.scope
  --debug              print the scope's properties; tracebacks on internal errors
  --version            print the version and exit
  -h, --help           print this help and exit

Profiles are TOML files: built-in ones in ssc/profiles/, yours in
$XDG_CONFIG_HOME/ssc/profiles/ (a file named like a built-in one overrides its keys).
Limits use systemd's names and syntax: CPUQuota, MemoryMax, MemoryHigh, MemorySwapMax,
TasksMax, CPUWeight, OOMPolicy; a [bus] table lists the session bus names strict allows,
and [bus.apps."APP_ID"] tables what one app needs besides.

Examples:
  ssc --isolation=strict firefox
  ssc --isolation=relaxed /bin/bash -i
  ssc --cpu=150% --memory=4G -- make -j8
  ssc --name=org.mozilla.firefox firefox --private-window
"""

DEFAULT_PROFILE = "strict"
_VALUE_OPTIONS = ("--isolation", "--cpu", "--memory", "--name")


def parse_args(argv: list[str]) -> Request | str:
    """The launch request, or the text to print for ``--help``/``--version``."""
    values: dict[str, str] = {}
    debug = False
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            index += 1
            break
        if not word.startswith("-") or word == "-":
            break
        if word in ("-h", "--help"):
            return HELP
        if word == "--version":
            from .. import __version__

            return f"ssc {__version__}\n"
        if word == "--debug":
            debug = True
            index += 1
            continue
        option, has_value, value = word.partition("=")
        if option == "--debug":
            raise UsageError("option --debug takes no value")
        if option not in _VALUE_OPTIONS:
            raise UsageError(f"unknown option {option!r}", hint="see ssc --help")
        if not has_value:
            if index + 1 >= len(argv):
                raise UsageError(f"option {option} needs a value")
            index += 1
            value = argv[index]
        values[option] = value
        index += 1
    command = argv[index:]
    if not command:
        raise UsageError("no command given", hint="ssc [OPTIONS] [--] COMMAND [ARG]...")
    if not command[0]:
        raise UsageError("the command is an empty word")
    name = values.get("--name")
    if name is not None and not name.strip():
        raise UsageError("--name must not be empty")
    return Request(
        command=command,
        profile=values.get("--isolation", DEFAULT_PROFILE),
        cpu=_parse_option("--cpu", values, parse_cpu_quota),
        memory=_parse_option("--memory", values, parse_memory),
        name=name,
        debug=debug,
    )


def _parse_option(option: str, values: dict[str, str], parse: Callable[[str], _T]) -> _T | None:
    if option not in values:
        return None
    try:
        return parse(values[option])
    except LimitError as error:
        raise UsageError(f"invalid {option}: {error}") from error


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ssc``; returns only on failure (on success it is the program)."""
    args = sys.argv[1:] if argv is None else argv
    debug = False
    try:
        parsed = parse_args(args)
        if isinstance(parsed, str):
            sys.stdout.write(parsed)
            return 0
        debug = parsed.debug
        launch(parsed)
    except SscError as error:
        print(error.render("ssc"), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if debug:
            raise
        print(f"ssc: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print("Hint: run with --debug for the traceback, and report it", file=sys.stderr)
        return 1
