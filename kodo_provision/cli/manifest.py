"""`kodo-provision manifest lint` (check a manifest without a tenant; also run by plan/onboard) and
`manifest diff` (what changes from one manifest to another)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import click

from .. import environment
from ..errors import ManifestError
from ..manifest.compare import ManifestDiff, compare
from ..manifest.lint import ERROR, WARNING, LintReport, lint_manifest
from ..manifest.load import load_manifest
from ..manifest.model import Manifest

# Pins the date lint judges against (tests, reproducing a report); default: today (UTC).
LINT_DATE_ENV = "KODO_LINT_DATE"

LINT_HELP = """Check a permission manifest without signing in anywhere.

Flags permissions on retired or retiring APIs (with dates, sources and the replacement),
permissions listed under the wrong type, case variants of known names, and permissions
broader than the manifest's `purpose` needs. Each finding has a stable code (KP101...),
listed in the README. PATH defaults to the bundled manifest. `plan` and `onboard` run the
same checks first: warnings go to stderr, errors refuse.

\b
Examples:
  kodo-provision manifest lint
  kodo-provision manifest lint my-manifest.yaml --output json
  kodo-provision manifest lint --as-of 2027-04-01 --app-client-id 1b2c...   # EWS command filled in

\b
Exit status:
  0  no errors (warnings may be printed)
  2  at least one error-level finding, or the manifest is invalid
"""


def lint_date(value: str | None = None) -> date:
    """--as-of, else $KODO_LINT_DATE, else today (UTC)."""
    text = value or environment.getenv(LINT_DATE_ENV)
    if not text:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD") from None


def render_report(report: LintReport, source: str, acknowledged: tuple[str, ...] = ()) -> str:
    """Text form: one block per finding (the manifest's acknowledged warnings marked), then a summary line."""
    lines = []
    for f in report.findings:
        seen = " (acknowledged)" if f.code in acknowledged and f.severity == WARNING else ""
        lines.append(f"{f.code} {f.severity:<7} {f.path}{seen}")
        lines.append(f"    {f.message}")
        if f.hint:
            lines.append(f"    hint: {f.hint}")
    lines.append(f"{source}: {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
                 f"as of {report.as_of.isoformat()}")
    return "\n".join(lines) + "\n"


def lint_before_run(manifest: Manifest, *, client_id: str | None = None) -> LintReport:
    """For plan/onboard: warnings on stderr, errors refuse (before any sign-in)."""
    report = lint_manifest(manifest, today=lint_date(), client_id=client_id)
    acknowledged = [f for f in report.warnings if f.code in manifest.acknowledge]
    for finding in report.warnings:
        if finding not in acknowledged:
            click.echo(f"warning: {finding.short_line()} (details: kodo-provision manifest lint)", err=True)
    if acknowledged:
        codes = ", ".join(sorted({f.code for f in acknowledged}))
        click.echo(f"note: {len(acknowledged)} acknowledged lint finding(s) ({codes}; the manifest's `acknowledge`): "
                   "kodo-provision manifest lint lists them", err=True)
    if report.errors:
        raise ManifestError(
            f"manifest lint found {len(report.errors)} error(s): "
            + "; ".join(f.one_line() for f in report.errors),
            hint="fix them (see `kodo-provision manifest lint`); nothing was changed")
    return report


def admin_action_notes(manifest: Manifest, client_id: str | None) -> list[str]:
    """After onboarding: the tenant-admin commands lint asks for, with the app's client ID filled in."""
    if not client_id:
        return []
    report = lint_manifest(manifest, today=lint_date(), client_id=client_id)
    return [f"tenant admin action needed (Exchange Online PowerShell): {command}"
            for command in report.admin_commands()]


@click.group("manifest", help="Work with permission manifests (offline).")
def manifest_group() -> None:
    """The `manifest` command group."""


@manifest_group.command("lint", help=LINT_HELP)
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", default=None,
              help=f"Judge retirement dates as of this day (default: today; env {LINT_DATE_ENV}).")
@click.option("--app-client-id", metavar="GUID", default=None,
              help="The onboarded app's client ID, filled into admin commands (default: <client-id>).")
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json prints one object on stdout.")
def lint(path: str | None, as_of: str | None, app_client_id: str | None, output_format: str) -> int:
    manifest = load_manifest(path)
    report = lint_manifest(manifest, today=lint_date(as_of), client_id=app_client_id)
    source = path or "bundled manifest"
    if output_format == "json":
        payload = {"manifest": source, **report.to_dict(), "ok": not report.errors,
                   "acknowledged": list(manifest.acknowledge)}
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(render_report(report, source, manifest.acknowledge), nl=False)
    return 2 if any(f.severity == ERROR for f in report.findings) else 0


DIFF_HELP = """What changes from one permission manifest to another, offline: per resource API the application
permissions and delegated scopes added (+) and removed (-), and the app and secret settings. Review it
before moving tenants to NEW (`onboard --manifest NEW --prune` applies the removals too).

\b
Examples:
  kodo-provision manifest diff manifests/kodo.yaml manifests/custom.yaml
  kodo-provision manifest diff OLD NEW --output json       # one object: resources, settings, counts
  kodo-provision manifest diff OLD NEW --detailed-exitcode # exit 0: the same, 2: they differ
"""


@manifest_group.command("diff", help=DIFF_HELP)
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json prints one object on stdout.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the manifests differ (0 when they do not).")
def diff(old: str, new: str, output_format: str, detailed_exitcode: bool) -> int:
    result = compare(load_manifest(old), load_manifest(new))
    if output_format == "json":
        click.echo(json.dumps({"old": old, "new": new, **result.to_dict()}, indent=2))
    else:
        click.echo(render_diff(result, old, new), nl=False)
    return 2 if detailed_exitcode and not result.is_empty else 0


def render_diff(result: ManifestDiff, old: str, new: str) -> str:
    """Text form of a ManifestDiff: a header, one block per resource API, the settings, a count."""
    lines = [f"{old} ({result.old_version}) -> {new} ({result.new_version})"]
    if result.is_empty:
        return lines[0] + ": no difference\n"
    for r in result.resources:
        lines.append(f"  {r.change} {r.name} ({r.app_id})")
        lines += [f"      + {kind} {name}" for kind, names in r.added.items() for name in names]
        lines += [f"      - {kind} {name}" for kind, names in r.removed.items() for name in names]
    lines += [f"  ~ {setting}: {before!r} -> {after!r}" for setting, before, after in result.settings]
    lines.append(f"{result.count('added')} permission(s) added, {result.count('removed')} removed")
    return "\n".join(lines) + "\n"
