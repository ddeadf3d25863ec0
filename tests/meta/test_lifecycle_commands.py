"""Issue 4: every day-2 command teaches itself (examples, exit codes) and speaks JSON."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kodo_provision.cli.main import cli

APP_COMMANDS = ("plan", "verify", "rotate-secret", "offboard")


@pytest.mark.parametrize("name", [*APP_COMMANDS, "login", "logout"])
def test_help_teaches_and_offers_json(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Exit status" in result.output and "--output" in result.output
    if name not in ("plan", "logout"):
        assert "Examples:" in result.output


@pytest.mark.parametrize("name", APP_COMMANDS)
def test_same_app_identity_options_everywhere(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    for option in ("--tenant", "--app-name", "--manifest", "--cloud"):
        assert option in result.output, (name, option)


def test_a_mistyped_command_gets_did_you_mean(capsys):
    """Issue 16: click suggests options only; the commands get the closest one (never two, so a typo of
    onboard does not also offer offboard)."""
    from kodo_provision.cli.main import main

    assert main(["onbaord"]) == 2
    assert "Did you mean 'onboard'?" in capsys.readouterr().err
    assert main(["rotate"]) == 2
    assert "Did you mean 'rotate-secret'?" in capsys.readouterr().err
    assert main(["xyzzy"]) == 2
    assert "Did you mean" not in capsys.readouterr().err


def test_usage_errors_are_one_line_with_the_fix(capsys):
    """Issue 16: click's three-line usage errors become one line naming the --help to read; exit 2."""
    from kodo_provision.cli.main import main

    for argv, help_of in ((["onbaord"], "kodo-provision --help"),
                          (["onboard", "--bogus"], "kodo-provision onboard --help"),
                          (["plan", "--tenant", "x.onmicrosoft.com", "--output", "yaml"],
                           "kodo-provision plan --help")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and err.rstrip().endswith(f"— see {help_of}"), err


def test_bulk_help_suggests_only_sign_in_modes_bulk_accepts():
    """Issue 16: bulk has no --auth browser; its help must not send anyone there."""
    from click.testing import CliRunner

    from kodo_provision.cli.main import cli

    text = CliRunner().invoke(cli, ["bulk", "--help"]).output
    assert "browser" not in text and "--auth client-secret|certificate" in text
