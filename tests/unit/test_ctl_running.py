"""sscctl ps/top/set/stop/notify: bad input is refused before anything is asked of the manager."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from ssc.ctl import running
from ssc.ctl.cli import cli


def sscctl(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(autouse=True)
def no_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any of these tests that reached the manager would fail here, loudly."""

    def refuse() -> None:
        raise AssertionError("the manager was asked")

    monkeypatch.setattr(running, "connect", refuse)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["set", "firefox-esr"],
            "sscctl: nothing to set\nHint: give --memory=SIZE, --cpu=QUOTA or both\n",
        ),
        (
            ["set", "firefox-esr", "--memory=lots"],
            "sscctl: invalid --memory: 'lots' is not a size (like 512M, 4G)"
            " or a percentage (like 70%)\n",
        ),
        (
            ["set", "firefox-esr", "--memory=8G", "--cpu=fast"],
            "sscctl: invalid --cpu: 'fast' is not a CPU quota (like 50%, 150% or all-but-one)\n",
        ),
        (
            ["set", "firefox-esr", "--memory=1M"],
            "sscctl: invalid --memory: '1M' is below the smallest allowed value, 16M\n",
        ),
    ],
)
def test_bad_values_are_one_line_errors_before_anything_is_changed(
    args: list[str], message: str
) -> None:
    result = sscctl(*args)
    assert (result.exit_code, result.stderr) == (2, message)
    assert result.stdout == ""


def test_stop_and_set_need_a_target() -> None:
    result = sscctl("stop")
    assert result.exit_code == 2
    assert result.stderr.startswith("sscctl: Missing argument 'TARGET'")


def test_the_help_lists_the_new_commands() -> None:
    text = sscctl("--help").stdout
    for command in ("ps", "top", "set", "stop", "notify"):
        assert f"\n  {command} " in text
    assert "TARGET is an app ID" in sscctl("set", "--help").stdout
