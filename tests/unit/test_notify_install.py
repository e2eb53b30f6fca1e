"""The watcher's unit file, its Notify call and its command line, without a bus."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jeepney.low_level import HeaderFields

from ssc.ctl.apps import App
from ssc.errors import SscError
from ssc.notify import install, notifications, watcher
from ssc.notify.events import Notice


def test_the_installed_unit_is_the_shipped_one_with_the_absolute_path() -> None:
    text = install.unit_text(install.template(), "/home/u/.local/bin/ssc-notify", throttling=False)
    assert text.startswith(install.MARKER)
    lines = text.splitlines()
    assert "ExecStart=/home/u/.local/bin/ssc-notify" in lines
    assert "PartOf=graphical-session.target" in lines
    assert "WantedBy=graphical-session.target" in lines
    assert "Type=notify" in lines


def test_throttling_is_an_option_of_the_watchers_command_line() -> None:
    text = install.unit_text("[Service]\nExecStart=x\n", "/opt/ssc-notify", throttling=True)
    assert "ExecStart=/opt/ssc-notify --throttling" in text.splitlines()
    assert watcher.parse_args(["--throttling"]) == watcher.Options(throttling=True)
    assert watcher.parse_args([]) == watcher.Options(throttling=False)
    with pytest.raises(SscError, match="unknown option '--loud'"):
        watcher.parse_args(["--loud"])


@pytest.mark.parametrize(
    ("path", "word"),
    [
        ("/opt/ssc/bin/ssc-notify", "/opt/ssc/bin/ssc-notify"),
        ("/home/a b/bin/ssc-notify", '"/home/a b/bin/ssc-notify"'),
        ("/home/100%/ssc-notify", "/home/100%%/ssc-notify"),
        ('/x/"q"\\/n', '"/x/\\"q\\"\\\\/n"'),
    ],
)
def test_exec_start_quotes_what_systemd_would_split_or_expand(path: str, word: str) -> None:
    assert install.exec_word(path) == word


def test_a_template_without_exec_start_is_refused() -> None:
    with pytest.raises(ValueError, match="no ExecStart"):
        install.unit_text("[Service]\n", "/x", throttling=False)


def test_notify_carries_the_apps_desktop_entry_and_icon() -> None:
    app = App("firefox-esr", "Firefox ESR", "firefox-esr", "firefox-esr")
    message = notifications.notify_message(Notice("S", "a <b>"), app, replaces=7, markup=True)
    assert message.header.fields[HeaderFields.signature] == "susssasa{sv}i"
    app_name, replaces, icon, summary, body, actions, hints, expiry = message.body
    assert (app_name, replaces, icon, summary, body) == (
        "ssc",
        7,
        "firefox-esr",
        "S",
        "a &lt;b&gt;",
    )
    assert actions == []
    assert hints == {"urgency": ("y", 1), "desktop-entry": ("s", "firefox-esr")}
    assert expiry == -1


def test_an_app_without_an_entry_gets_no_desktop_entry_hint() -> None:
    message = notifications.notify_message(Notice("S", "B"), App("bash", "bash"))
    assert "desktop-entry" not in message.body[6]
    assert message.body[2] == ""


def test_the_oom_killers_weight_is_rss_and_swap_from_proc_status() -> None:
    status = "Name:\tpython3\nVmRSS:\t   65536 kB\nVmSwap:\t    1024 kB\nThreads:\t1\n"
    assert watcher.parse_status_size(status) == (65536 + 1024) * 1024
    assert watcher.parse_status_size("Name:\tkthread\n") == 0


def test_the_watcher_and_the_launcher_import_neither_click_nor_psutil() -> None:
    code = (
        "import sys, ssc.notify.watcher, ssc.launcher.cli\n"
        "print(sorted(m for m in ('click', 'psutil') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr
