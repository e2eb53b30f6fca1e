"""``sscctl``: see and steer what runs contained (``ps``, ``top``, ``set``, ``stop``), hear about
it (``notify``), and manage what starts programs through ssc — contained desktop launchers and
terminal profiles — as ``systemctl`` sits beside ``systemd-run``.

This module is thin: click parses, ``ssc.ctl.running``, ``ssc.notify.install`` and
``ssc.desktop.manage`` do the work, and :meth:`Sscctl.main` is the one place where errors
become a stderr line and an exit code. Each command imports what it needs when it runs, so
``sscctl --help`` stays quick.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..errors import SscError, UsageError

if TYPE_CHECKING:
    from ..desktop import manage

PROG = "sscctl"
_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Sscctl(click.Group):
    """The ``sscctl`` group, whose ``main`` renders every failure as ssc does."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args,
                prog_name or PROG,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except SscError as error:
            code = _report(error, error.exit_code)
        except click.UsageError as error:
            hint = f"see '{error.ctx.command_path} --help'" if error.ctx else None
            code = _report(UsageError(error.format_message(), hint), error.exit_code)
        except click.ClickException as error:
            code = _report(SscError(error.format_message()), error.exit_code)
        except click.Abort:
            code = _report(SscError("interrupted"), 130)
        if standalone_mode:
            sys.exit(code)
        return code


def _report(error: SscError, code: int) -> int:
    click.echo(error.render(PROG), err=True)
    return code


def _help_if_no_command(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@click.group(PROG, cls=Sscctl, context_settings=_CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """See and steer contained apps; manage contained launchers and terminal profiles.

    \b
    Examples:
      sscctl ps                                       what runs contained, against its limits
      sscctl top                                      the same, live, process by process
      sscctl set firefox-esr --memory=8G --cpu=300%   new limits for a running app, now
      sscctl stop org.gnome.gedit
      sscctl notify enable                            a notification when a limit bites
      sscctl agent enable                             faster launches, through an agent
      sscctl desktop install firefox-esr org.gnome.gedit
      sscctl desktop install --isolation=relaxed org.gnome.Nautilus
      sscctl desktop list
      sscctl desktop remove org.gnome.gedit
      sscctl terminal install
    """
    _help_if_no_command(ctx)


# --- running apps -------------------------------------------------------------------------------

_TARGET_HELP = (
    "TARGET is an app ID (every running scope of the app: firefox-esr, org.gnome.gedit) or a "
    "unit name (app-ssc-….scope), as sscctl ps lists them."
)


@cli.command("ps")
@click.option(
    "--json", "as_json", is_flag=True, help="JSON for scripts: the apps, and all of them together."
)
@click.option("-v", "--verbose", is_flag=True, help="Each app's unit and its processes too.")
def ps_command(as_json: bool, verbose: bool) -> None:
    """What runs contained: memory now, at its peak and against the ceiling; swap; CPU against
    the quota (measured over half a second); tasks; processes killed at the ceiling; age."""
    from . import report, running

    found, shared = running.ps(verbose=verbose)
    statuses = sorted(found, key=lambda s: (s.scope.app.name.casefold(), s.scope.unit))
    if as_json:
        click.echo(report.json_text(statuses, shared))
    elif not statuses:
        click.echo("No contained apps are running.")
    else:
        for line in report.table(statuses, verbose=verbose, shared=shared):
            click.echo(line)


@cli.command("top")
@click.option(
    "-d",
    "--delay",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Time between refreshes.",
)
@click.option(
    "-n",
    "--iterations",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop after N refreshes.",
)
def top_command(delay: float, iterations: int | None) -> None:
    """Live: contained apps by their share of the memory ceiling, each with its processes.
    Ctrl-C quits."""
    from . import report, running

    screen = sys.stdout.isatty()
    try:
        for count, statuses in enumerate(running.top(delay), start=1):
            lines = report.top_frame(sorted(statuses, key=report.sort_key))
            text = "\n".join(lines) + "\n"
            click.echo(f"\x1b[H\x1b[2J{text}" if screen else text, nl=False)
            if iterations is not None and count >= iterations:
                return
            if not screen:
                click.echo()
    except KeyboardInterrupt:
        return


@cli.command("set", epilog=_TARGET_HELP)
@click.argument("target", required=False)
@click.option("--memory", metavar="SIZE", help="Memory ceiling: 512M, 4G, or a share of RAM (60%).")
@click.option("--cpu", metavar="QUOTA", help="CPU quota: 50%, 300% (of one CPU), all-but-one.")
@click.option(
    "--shared", is_flag=True, help="The ceiling of all contained apps together, instead of one's."
)
def set_command(target: str | None, memory: str | None, cpu: str | None, shared: bool) -> None:
    """Change a running app's limits now, until it exits; prints them before → after.

    The values are those of ssc's --memory and --cpu; a new ceiling drops the app's
    MemoryHigh, as ssc --memory does. With --shared (and no TARGET), --memory is the ceiling
    of all contained apps together: set now, and kept in ~/.config/ssc/shared.toml.
    """
    from ..limits import LimitError, parse_cpu_quota, parse_memory
    from . import running

    if shared:
        if target is not None or cpu is not None or memory is None:
            raise UsageError(
                "--shared takes --memory=SIZE alone, and no TARGET",
                hint="sscctl set --shared --memory=12G",
            )
    elif target is None:
        raise UsageError("missing TARGET", hint="name an app (sscctl ps lists them), or --shared")
    if memory is None and cpu is None:
        raise UsageError("nothing to set", hint="give --memory=SIZE, --cpu=QUOTA or both")
    try:
        memory_amount = parse_memory(memory) if memory is not None else None
    except LimitError as error:
        raise UsageError(f"invalid --memory: {error}") from error
    try:
        cpu_quota = parse_cpu_quota(cpu) if cpu is not None else None
    except LimitError as error:
        raise UsageError(f"invalid --cpu: {error}") from error
    if shared and memory is not None:
        lines = running.set_shared(memory)
    else:
        assert target is not None
        lines = running.set_limits(target, memory_amount, cpu_quota)
    for line in lines:
        click.echo(line)


@cli.command("stop", epilog=_TARGET_HELP)
@click.argument("target")
@click.option("--kill", is_flag=True, help="SIGKILL at once, instead of asking it to exit.")
def stop_command(target: str, kill: bool) -> None:
    """Stop a contained app: SIGTERM to its processes, SIGKILL to what is left after the
    manager's stop timeout."""
    from . import running

    for line in running.stop(target, kill=kill):
        click.echo(line)


@cli.group(context_settings=_CONTEXT, invoke_without_command=True)
@click.pass_context
def notify(ctx: click.Context) -> None:
    """A desktop notification when the kernel stops a process of a contained app at its
    memory limit: the user service ssc-notify.service, part of the graphical session."""
    _help_if_no_command(ctx)


@notify.command("enable")
@click.option(
    "--throttling",
    is_flag=True,
    help="Also tell when an app starts being slowed down at its MemoryHigh, near its ceiling.",
)
def notify_enable(throttling: bool) -> None:
    """Install ssc-notify.service, enable it for the graphical session and start it now."""
    from ..notify import install

    for line in install.enable(throttling=throttling):
        click.echo(line)


@notify.command("disable")
def notify_disable() -> None:
    """Stop ssc-notify.service, disable it and remove it."""
    from ..notify import install

    for line in install.disable():
        click.echo(line)


@cli.group(context_settings=_CONTEXT, invoke_without_command=True)
@click.pass_context
def agent(ctx: click.Context) -> None:
    """ssc's launch agent: a user service that starts contained apps' scopes for ssc, with a
    warm connection to your user manager, so that each launch costs less."""
    _help_if_no_command(ctx)


@agent.command("enable")
def agent_enable() -> None:
    """Install ssc-agent.socket and ssc-agent.service, enable the socket and start it."""
    from ..agent import install

    for line in install.enable():
        click.echo(line)


@agent.command("disable")
def agent_disable() -> None:
    """Stop ssc's agent, disable its socket and remove both units."""
    from ..agent import install

    for line in install.disable():
        click.echo(line)


# --- launchers and terminals ------------------------------------------------------------------


@cli.group(context_settings=_CONTEXT, invoke_without_command=True)
@click.pass_context
def desktop(ctx: click.Context) -> None:
    """Contained launchers: desktop entries that start their program through ssc.

    A contained entry goes to ~/.local/share/applications/ under the same desktop file ID as
    the system's, which it hides: the app grid, file associations, the dock and `gio launch`
    all start the program in its own limited scope. Remove it to get the system's entry back.
    """
    _help_if_no_command(ctx)


@desktop.command("install")
@click.option(
    "--isolation",
    "profile",
    default="strict",
    show_default=True,
    metavar="PROFILE",
    help="The ssc profile to start the program with (strict, relaxed, or one of yours).",
)
@click.option("--force", is_flag=True, help="Replace an entry of yours that ssc did not write.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
def desktop_install(profile: str, force: bool, ids: tuple[str, ...]) -> None:
    """Install contained entries for the desktop file IDs given (with or without .desktop)."""
    from ..desktop import manage

    _print(manage.install_entries(ids, profile, force))


@desktop.command("list")
def desktop_list() -> None:
    """List the contained entries: ID, profile, and the entry each was made from."""
    from ..desktop import manage

    listed = manage.list_entries()
    if not listed:
        click.echo("No contained desktop entries.")
        return
    rows = [("ID", "PROFILE", "SOURCE")] + [(e.desktop_id, e.profile, e.source) for e in listed]
    notes = [""] + [f"  ({e.note}: reinstall it)" if e.note else "" for e in listed]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for row, note in zip(rows, notes, strict=True):
        click.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}{note}")


@desktop.command("remove")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
def desktop_remove(ids: tuple[str, ...]) -> None:
    """Remove contained entries, which brings back the system's own. Only ssc's are removed."""
    from ..desktop import manage

    _print(manage.remove_entries(ids))


@cli.group(context_settings=_CONTEXT, invoke_without_command=True)
@click.pass_context
def terminal(ctx: click.Context) -> None:
    """A terminal profile whose tabs and windows are contained shells, each its own scope."""
    _help_if_no_command(ctx)


@terminal.command("install")
@click.option(
    "--isolation",
    "profile",
    default="relaxed",
    show_default=True,
    metavar="PROFILE",
    help="The ssc profile for the shells.",
)
@click.option(
    "--default", "make_default", is_flag=True, help="Make it the terminal's default profile."
)
def terminal_install(profile: str, make_default: bool) -> None:
    """Add the profile to GNOME Terminal and Ptyxis, and a "Contained Shell" entry to the app
    grid; print the command line for any other terminal."""
    from ..desktop import gsettings, manage

    _print(manage.install_terminal(gsettings.GSettingsTool(), profile, make_default))


@terminal.command("remove")
def terminal_remove() -> None:
    """Remove the profile and the "Contained Shell" entry."""
    from ..desktop import gsettings, manage

    _print(manage.remove_terminal(gsettings.GSettingsTool()))


def _print(report: manage.Report) -> None:
    for line in report.lines:
        click.echo(line)
    for warning in report.warnings:
        click.echo(f"{PROG}: warning: {warning}", err=True)


def main() -> None:
    """Entry point of ``sscctl``."""
    cli.main(prog_name=PROG)
