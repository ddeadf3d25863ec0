"""The `kodo-provision` command group and the single error boundary."""

from __future__ import annotations

import asyncio
import difflib
import gc
import importlib
import json
import sys

import click

from .. import environment as env
from ..errors import EXIT_STATUS_HELP, ExitStatus, KodoError, UsageError, clip, error_object, take_interruption_notes
from .interrupts import handled, interrupted_exit_code

HELP = f"""Onboard Microsoft 365 tenants to KODO cloud backup.

One sign-in as a tenant admin (device code by default; --auth browser where Conditional Access
blocks device code; or your own automation app with --auth client-secret|certificate) creates
(or adopts) the KODO app registration, its secret and service principal, attaches the
permission manifest, grants admin consent, verifies it with an app-only token, and writes
tenant ID, client ID and secret to a 0600 credentials file.

\b
Try it without a tenant:  kodo-provision demo
Real tenant:              kodo-provision onboard --tenant contoso.onmicrosoft.com
Many tenants:             kodo-provision bulk tenants.csv --out kodo-bulk

\b
{EXIT_STATUS_HELP}
"""


# Each command's module is imported only when that command runs: `onboard` should not pay for
# the simulator, bulk or lifecycle imports before the admin's sign-in prompt appears (start-up
# time is part of what the admin waits for; docs/PERFORMANCE.md, "Start-up").
COMMANDS = {
    "onboard": "onboard:onboard",
    "plan": "plan:plan",
    "verify": "verify:verify",
    "rotate-secret": "rotate_secret:rotate_secret_command",
    "offboard": "offboard:offboard",
    "login": "login:login",
    "logout": "login:logout",
    "bulk": "bulk:bulk",
    "partner-app": "partner_app:partner_app_group",
    "manifest": "manifest:manifest_group",
    "demo": "demo:demo",
    "simulate": "simulate:simulate",
}


# The simulator's server stack is an optional extra (pyproject: kodo_provision[simulator]); without it the
# CLI still runs, and `simulate` / `demo` say how to get it.
SIMULATOR_EXTRA = ("starlette", "uvicorn", "trustme")


def missing_simulator_extra(exc: BaseException) -> UsageError | None:
    """The one-line error for a command that needs the simulator extra, else None."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if not isinstance(exc, ModuleNotFoundError) or name not in SIMULATOR_EXTRA:
        return None
    return UsageError(f"the built-in tenant simulator is not installed (it needs {name})",
                      hint="pip install 'kodo_provision[simulator]' (a clone: make install)")


def _needs_simulator_extra(name: str, error: UsageError) -> click.Command:
    def refuse() -> None:
        raise error

    return click.Command(name, callback=refuse, help=f"(needs the simulator extra) {error.hint}",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class CommandInterrupted(BaseException):
    """A KeyboardInterrupt out of a command, kept away from click, which would print a blank line and
    "Aborted!" instead of our one line (click turns KeyboardInterrupt into Abort)."""


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise CommandInterrupted() from None
        except asyncio.CancelledError:
            if interrupted_exit_code() is None:
                raise  # not a signal of ours: a bug, let it show
            raise CommandInterrupted() from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                           list[str]]:
        """click's lookup, plus "did you mean" for a mistyped command (click suggests options only)."""
        name = click.utils.make_str(args[0]) if args else ""
        if args and name not in COMMANDS and not name.startswith("-"):
            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            if close:
                raise click.UsageError(f"No such command {name!r}. Did you mean {close[0]!r}?",
                                       ctx)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ModuleNotFoundError as exc:
            if (error := missing_simulator_extra(exc)) is None:
                raise
            return _needs_simulator_extra(cmd_name, error)
        finally:
            gc.enable()  # see main(): the command's imports are done
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, help=HELP,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kodo_provision")
def cli() -> None:
    """Root group."""


def main(argv: list[str] | None = None, environment: env.Environment | None = None) -> int:
    """Entry point: run the CLI and map every failure to one line and an exit status.
    --traceback (or KODO_TRACEBACK=1) re-raises for a full traceback. `environment` (clock, terminal)
    defaults to the real one."""
    args = list(sys.argv[1:] if argv is None else argv)
    environment = environment or env.Environment()
    # No cyclic garbage collection while the command's modules load (thousands of objects, almost none of
    # them garbage): ~5 % of the time to the sign-in prompt (docs/PERFORMANCE.md, "Start-up"). Back on
    # once the command is imported (LazyGroup.get_command), and in any case when main returns.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(args, environment)
    finally:
        if gc_was_enabled:
            gc.enable()


def _main(args: list[str], environment: env.Environment) -> int:
    show_traceback = "--traceback" in args or environment.getenv("KODO_TRACEBACK") == "1"
    args = [a for a in args if a != "--traceback"]
    status, failed = _run(args, show_traceback, environment, json_errors=_wants_json(args))
    if failed and status != ExitStatus.INTERRUPTED and args[:1] == ["plan"] and "--detailed-exitcode" in args:
        # terraform's convention: 0 nothing to change, 2 changes pending, 1 any error (a usage error's own
        # 2 would read as "changes pending" to a script). The line on stderr says which error.
        return ExitStatus.ERROR
    return status


def _wants_json(args: list[str]) -> bool:
    """--output json (or --output=json) anywhere on the command line."""
    return "--output=json" in args or any(a == "--output" and b == "json" for a, b in zip(args, args[1:], strict=False))


def _run(args: list[str], show_traceback: bool, environment: env.Environment | None, *,
         json_errors: bool = False) -> tuple[int, bool]:
    """(exit status, whether the command failed). With `json_errors` every error also prints one JSON
    object on stdout (unless the command already put its partial result there, with the error in it)."""
    try:
        with handled(), env.using(environment or env.Environment()):
            status = cli.main(args=args, prog_name="kodo-provision", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code, exc.exit_code != 0
    except click.ClickException as exc:
        hint = _usage_error(exc)
        _json_error(json_errors, error_object("usage_error", exc.format_message(), hint, int(ExitStatus.USAGE)))
        return ExitStatus.USAGE, True
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitStatus.INTERRUPTED, True
    except KodoError as exc:
        if show_traceback:
            raise
        for line in exc.cli_lines():
            click.echo(line, err=True)
        if not getattr(exc, "json_reported", False):
            _json_error(json_errors, exc.error_object())
        return exc.exit_status, True
    except (KeyboardInterrupt, CommandInterrupted):
        done = "; ".join(take_interruption_notes())
        click.echo(f"interrupted{' after ' + done if done else ''}; to continue, run the same command again "
                   f"(it is safe to repeat): kodo-provision {' '.join(args)}", err=True)
        code = interrupted_exit_code() or ExitStatus.INTERRUPTED
        _json_error(json_errors, error_object("interrupted", "interrupted", "run the same command again", int(code)))
        return code, True
    except Exception as exc:  # the boundary: anything else is a bug, reported in one line
        code = _unexpected(exc, show_traceback)
        _json_error(json_errors, error_object("unexpected_error", type(exc).__name__,
                                              "re-run with --traceback and report it", code))
        return code, True
    return (int(status) if isinstance(status, int) else ExitStatus.SUCCESS), False


def _usage_error(exc: click.ClickException) -> str:
    """click's usage errors as every other error: one line with the fix (click's own form is three lines:
    the usage, a "Try --help" line and the error)."""
    ctx = getattr(exc, "ctx", None)
    hint = f"see {ctx.command_path if ctx is not None else 'kodo-provision'} --help"
    click.echo(f"error: {exc.format_message()} — {hint}", err=True)
    return hint


def _json_error(wanted: bool, payload: dict[str, object]) -> None:
    if wanted:
        click.echo(json.dumps(payload, indent=2))


def _unexpected(exc: Exception, show_traceback: bool) -> int:
    if (missing := missing_simulator_extra(exc)) is not None:  # demo: the simulator is imported late
        click.echo(f"error: {missing.one_line()}", err=True)
        return missing.exit_status
    if show_traceback:
        raise exc
    from ..output.logging import redact_text

    click.echo(f"error: unexpected {type(exc).__name__}: {clip(redact_text(str(exc)))} — "
               "re-run with --traceback and report it", err=True)
    return ExitStatus.ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
