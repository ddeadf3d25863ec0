"""`kodo-provision bulk`: onboard many tenants from one file, one sign-in where possible."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .. import environment
from ..auth import GRAPH_CLI_CLIENT_ID, validate_tenant
from ..bulk.journal import JOURNAL_NAME, Journal, JournalState, load_journal
from ..bulk.progress import LiveProgress, PlainProgress, PromptStream
from ..bulk.report import FAILED, PENDING, PLANNED, SUCCEEDED, TenantOutcome, read_report, summarize, write_reports
from ..bulk.runner import (
    APP_METHODS,
    DEVICE_CODE,
    PER_TENANT_DEVICE_CODE,
    BulkOptions,
    Reporter,
    remove_stale_temp_files,
    run_bulk,
)
from ..bulk.tenants import TenantRow, parse_tenants_file
from ..errors import BULK_EXIT_STATUS_HELP, ExitStatus, UsageError, clip
from ..flows.session import ConnectionSettings
from ..manifest.load import load_manifest
from ..manifest.model import Manifest
from ..output.console import render_plan
from ..plan.model import Plan
from .interrupts import interrupted_exit_code, mark_changing
from .manifest import admin_action_notes, lint_before_run
from .options import (
    auth_settings,
    automation_app_options,
    ca_bundle_for,
    cloud_for,
    configured_logging,
    connection_options,
    credential_options,
    output_options,
    pfx_password,
)

BULK_HELP = f"""Onboard many tenants listed in TENANTS_FILE (CSV or YAML), or every customer of
a CSP partner (--all-customers).

\b
TENANTS_FILE has a header; columns:
  tenant           required: tenant ID (GUID) or verified domain
  app_name         optional: display name of the app registration
  secret_lifetime  optional: e.g. 180d, 26w, 6mo, 1y
  manifest         optional: a manifest for this tenant (relative to the file)
  credential       optional: secret or certificate (overrides --credential)
The whole file is checked first; every bad line is listed and nothing is changed.
A UTF-8 byte-order mark is accepted.

\b
Sign-in (--auth):
  device-code             one device-code sign-in of the operator (e.g. an MSP partner
                          admin with delegated admin roles); each customer tenant's token
                          comes from it without new prompts. Tenants it cannot reach fail
                          with the reason.
  per-tenant-device-code  the same, and each unreachable tenant gets its own device-code
                          prompt (one at a time, naming the tenant).
  client-secret           no one signs in: the operator's automation app (a multi-tenant
  certificate             app consented in each customer tenant) gets a client-credentials
                          token per tenant; --auth-client-id, and the secret from env
                          KODO_AUTH_CLIENT_SECRET or --auth-certificate PEM. A tenant that
                          has not consented it fails with the reason.

\b
CSP partners (GDAP): signed in as a partner admin, each customer is reached with
the partner's own sign-in app ("KODO Provisioning (partner sign-in)"), which the
first run creates in the partner tenant (a second sign-in prompt, once) and
consents in each customer through Partner Center, where your GDAP role allows
(Global Administrator, or Privileged Role Administrator with Application
Administrator). Customers without such a role are reported, not touched.
`kodo-provision partner-app show` shows the app; --no-partner-center skips this.

\b
--out DIR receives kodo-credentials-<tenant>.json per tenant (0600), report.json,
report.csv and journal.jsonl. After a crash or Ctrl-C, the same command with
--resume skips finished tenants and continues the rest (no duplicate apps, no
stray secrets). --only-failed re-runs the tenants the last report lists as failed.
--plan shows every tenant's plan and changes nothing. Every manifest is linted
first (`kodo-provision manifest lint`): warnings are printed, errors refuse.

\b
Day 2: the same command on a folder whose run finished is a new pass over every
tenant: it reuses the credentials files (no new secrets) and repairs drift. To
move a fleet to another permission profile, plan it, then apply it:
  kodo-provision bulk tenants.csv --out DIR --manifest kodo-graph --prune --plan
  kodo-provision bulk tenants.csv --out DIR --manifest kodo-graph --prune --yes
--prune revokes what the manifest no longer lists (application permissions,
delegated grants); an interrupted pass continues with --resume.

\b
Fleet status (read-only): --status checks every tenant with its credentials file
in --out: credential expiry, drift against the manifest, and one read per granted
API as the KODO app (as `verify --probe`). It writes DIR/status.json and
DIR/status.html (one self-contained page: a table and an expiry timeline).
  kodo-provision bulk tenants.csv --out DIR --status

\b
{BULK_EXIT_STATUS_HELP}
"""


def _summary_table(outcomes: list[TenantOutcome], plan_only: bool) -> Table:
    """One row per tenant; a header on every column (a plan has no client ID or verification yet)."""
    table = Table(title="kodo-provision bulk", show_lines=False)
    names = (("tenant", "status", "changes planned", "error / hint") if plan_only else
             ("tenant", "status", "client id", "changes", "verification", "error / hint"))
    for name in names:
        table.add_column(name)
    for o in outcomes:
        error = clip(o.error or "", 120) if o.error else ""  # the full text is in report.json
        if plan_only:
            table.add_row(o.tenant, o.status, str(len(o.plan or [])), error)
        else:
            table.add_row(o.tenant, o.status, o.client_id or "", str(len(o.changes)), o.verification or "", error)
    return table


@click.command("bulk", help=BULK_HELP)
@click.argument("tenants_file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--all-customers", is_flag=True,
              help="Every customer the partner has in Partner Center, instead of TENANTS_FILE.")
@click.option("--partner-center/--no-partner-center", "partner_center", default=True, show_default=True,
              help="Reach a CSP partner's customers through Partner Center consent and GDAP.")
@click.option("--partner-center-endpoint", envvar="KODO_PARTNER_CENTER_ENDPOINT", metavar="URL",
              help="Custom Partner Center endpoint (e.g. the simulator).")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), default=None,
              help="Permission manifest for tenants without a manifest column. Default: the bundled one.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Tenants onboarded at the same time.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("kodo-bulk"),
              show_default=True, help="Folder for credentials files, report.json/csv and the journal.")
@click.option("--auth", type=click.Choice([DEVICE_CODE, PER_TENANT_DEVICE_CODE, *APP_METHODS]), default=DEVICE_CODE,
              show_default=True, envvar="KODO_AUTH", help="How tenants are signed in to (see above).")
@automation_app_options
@click.option("--home-tenant", default="organizations", show_default=True,
              help="Where the operator signs in: 'organizations' or the partner's own tenant ID/domain.")
@click.option("--resume", is_flag=True, help="Continue the run in --out: skip tenants it finished.")
@click.option("--only-failed", is_flag=True, help="Re-run only the tenants the report in --out lists as failed.")
@click.option("--plan", "plan_only", is_flag=True, help="Show every tenant's plan; change nothing.")
@click.option("--prune", is_flag=True,
              help="Also revoke permissions the manifest does not list (moving a fleet to another profile).")
@click.option("--status", "status_only", is_flag=True,
              help="Check every tenant read-only (expiry, drift, data-access probes): status.json/.html in --out.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (required without a terminal).")
@click.option("--verify-budget", type=click.FloatRange(5, 3600), default=180, show_default=True,
              metavar="SECONDS", help="How long each tenant's verification may wait for Entra to replicate.")
@credential_options("in --out (a `credential` column overrides it per tenant)")
@connection_options
@output_options
def bulk(tenants_file: Path | None, all_customers: bool, partner_center: bool, partner_center_endpoint: str | None,
         manifest_path: str | None, concurrency: int, out_dir: Path, auth: str,
         auth_client_id: str | None, auth_certificate: str | None, home_tenant: str, resume: bool,
         only_failed: bool, plan_only: bool, prune: bool, status_only: bool, yes: bool, verify_budget: float,
         credential_type: str, pfx_password_env: str | None,
         cloud: str, authority_host: str | None, graph_endpoint: str | None, ca_bundle: str | None,
         client_id: str | None, output_format: str, log_format: str, log_level: str | None,
         log_file: str | None) -> int:
    # Everything checkable is checked before the sign-in prompt: nothing has changed yet.
    _check_modes(tenants_file, all_customers, partner_center, auth, resume, only_failed, plan_only)
    _check_status_mode(status_only, plan_only or resume or only_failed or prune, out_dir)
    rows = parse_tenants_file(tenants_file) if tenants_file is not None else []
    if home_tenant.lower() not in ("organizations", "common"):
        home_tenant = validate_tenant(home_tenant)
    manifest = load_manifest(manifest_path)
    _lint_manifests(manifest, rows)
    pfx = pfx_password(pfx_password_env, certificates_wanted=credential_type == "certificate" or any(
        r.credential_type == "certificate" for r in rows))
    # The automation app's options are checked like every single-tenant command checks them.
    sign_in = auth_settings(auth if auth in APP_METHODS else "device-code", auth_client_id, auth_certificate)
    settings = ConnectionSettings(
        cloud=cloud_for(cloud, authority_host=authority_host, graph_endpoint=graph_endpoint,
                            partner_center_endpoint=partner_center_endpoint),
        ca_bundle=ca_bundle_for(ca_bundle), auth=sign_in,
        client_id=client_id or GRAPH_CLI_CLIENT_ID)
    out_dir = out_dir.resolve()
    previous = load_journal(out_dir / JOURNAL_NAME)
    source = str(tenants_file) if tenants_file else "Partner Center (all customers)"
    read_only = plan_only or status_only
    prior, select = ({}, None) if read_only else _previous_run(out_dir, previous, resume, only_failed, manifest,
                                                              prune)
    new_pass = not read_only and previous.exists and not (resume or only_failed)
    if not read_only:
        _confirm(yes, "every customer" if all_customers else f"{len(select(rows) if select else rows)} tenant(s)",
                 source + (f", revoking what manifest {manifest.manifest_version} does not list (--prune)" if prune
                           else ""))
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(out_dir)
    options = BulkOptions(out_dir=out_dir, manifest=manifest, concurrency=concurrency, auth=auth,
                          home_tenant=home_tenant, plan_only=plan_only, verify_budget_s=verify_budget,
                          credential_type=credential_type, pfx_password=pfx, all_customers=all_customers,
                          partner_center=partner_center and auth not in APP_METHODS, select_rows=select,
                          prune=prune, new_pass=new_pass, status_only=status_only)
    with configured_logging(log_format, log_level, log_file):
        return _run(settings, options, rows, previous, prior, source, output_format)


def _check_modes(tenants_file: Path | None, all_customers: bool, partner_center: bool, auth: str, resume: bool,
                 only_failed: bool, plan_only: bool) -> None:
    """Flags that do not go together, refused before anything else."""
    if resume and only_failed:
        raise UsageError("--resume and --only-failed do not combine",
                         hint="--resume finishes an interrupted run; --only-failed retries its failures")
    if plan_only and (resume or only_failed):
        raise UsageError("--plan changes nothing, so it does not take --resume or --only-failed")
    if (tenants_file is None) == (not all_customers):
        raise UsageError("name the tenants: a TENANTS_FILE or --all-customers (not both)",
                         hint="kodo-provision bulk tenants.csv --out DIR, or kodo-provision bulk --all-customers "
                              "--out DIR (a CSP partner's admin)")
    if all_customers and (not partner_center or auth not in (DEVICE_CODE, PER_TENANT_DEVICE_CODE)):
        raise UsageError("--all-customers reads the customers from Partner Center as the signed-in partner admin",
                         hint="drop --no-partner-center / --auth client-secret|certificate, or list the tenants "
                              "in a file")


def _check_status_mode(status_only: bool, changing_flags: bool, out_dir: Path) -> None:
    """--status reads what an earlier run in --out left: its credentials files."""
    if not status_only:
        return
    if changing_flags:
        raise UsageError("--status changes nothing, so it does not take --plan, --resume, --only-failed or --prune",
                         hint="run --status on its own; --plan shows what a run would change")
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} does not exist: --status reads the credentials files a bulk run wrote there",
                         hint="pass the --out of the run that onboarded the tenants")


def _previous_run(out_dir: Path, previous: JournalState, resume: bool, only_failed: bool, manifest: Manifest,
                  prune: bool) -> tuple[dict[str, TenantOutcome], Any]:
    """What an earlier run in `out_dir` finished, and which rows this run takes (None: all)."""
    if previous.exists and not (resume or only_failed) and not previous.complete:
        raise UsageError(f"{out_dir} holds a bulk run that did not finish",
                         hint="continue it with --resume (the same --manifest and --prune), or pass another --out")
    if resume or only_failed:
        _check_same_pass(previous, manifest, prune)
    if resume:
        if previous.complete:
            click.echo(f"note: nothing to resume: the last pass in {out_dir} finished (without --resume the same "
                       "command starts a new pass over every tenant)", err=True)
        # Finished in this pass, and no later attempt interrupted: skip. Anything else runs (again).
        prior = {t: TenantOutcome.from_dict(r["outcome"]) for t, r in previous.finished.items()
                 if r.get("outcome") and t not in previous.interrupted}
        return prior, _skipping(prior)
    if only_failed:
        report = read_report(out_dir)
        if not report:
            raise UsageError(f"no report.json in {out_dir} to take the failures from",
                             hint="run without --only-failed first, or pass the --out of that run")
        if previous.exists and not previous.complete:
            raise UsageError(f"the last bulk run in {out_dir} did not finish: its report is not the whole pass",
                             hint="finish it with --resume first; then --only-failed retries its failures")
        return ({t: o for t, o in report.items() if o.status != FAILED},
                _only({t for t, o in report.items() if o.status == FAILED}))
    return {}, None


def _check_same_pass(previous: JournalState, manifest: Manifest, prune: bool) -> None:
    """--resume / --only-failed continue the pass in the folder: with its manifest and --prune, or a fleet
    ends up half on one profile and half on another."""
    settings = previous.pass_settings
    if not settings:
        return  # a journal of an older version of the tool: nothing recorded to compare
    if settings.get("manifest_version") != manifest.manifest_version or bool(settings.get("prune")) != prune:
        flags = f"--manifest <version {settings.get('manifest_version')}>" + (" --prune" if settings.get("prune")
                                                                                 else "")
        raise UsageError(f"the run in this folder applies manifest {settings.get('manifest_version')}"
                         f"{' with --prune' if settings.get('prune') else ''}; this command asks for "
                         f"{manifest.manifest_version}{' with --prune' if prune else ''}",
                         hint=f"continue it with the same options ({flags}), or pass another --out")


def _confirm(yes: bool, count: str, source: str) -> None:
    if not yes and not environment.current().stdin_is_tty():
        raise UsageError("refusing to change tenants without confirmation: no terminal to ask on",
                         hint="review with --plan, then pass --yes")
    if not yes and not click.confirm(f"Onboard {count} from {source}?", default=False, err=True):
        raise UsageError("cancelled; nothing was changed", hint="answer 'y' or pass --yes")


def _run(settings: ConnectionSettings, options: BulkOptions, rows: list[TenantRow], previous: JournalState,
         prior: dict[str, TenantOutcome], source: str, output_format: str) -> int:
    """Sign in, onboard every row with progress, write the report (also when interrupted), render."""
    out_dir, plan_only, select = options.out_dir, options.plan_only, options.select_rows
    journal_path = out_dir / JOURNAL_NAME
    all_rows = list(rows)  # run_bulk puts the partner's customers here for --all-customers
    progress = LiveProgress() if environment.current().stderr_is_tty() else PlainProgress()
    # Once the operator signed in, changes may follow: Ctrl-C then writes the report and the journal.
    reporter = Reporter(progress.tenant_started, progress.tenant_finished,
                        lambda tenant: PromptStream(progress, f"[{tenant}] " if tenant else ""), progress.set_total,
                        signed_in=mark_changing)
    outcomes: list[TenantOutcome] = []

    def assemble(done: list[TenantOutcome]) -> list[TenantOutcome]:
        by_tenant = {**prior, **{o.tenant: o for o in done}}
        return [by_tenant.get(r.tenant) or TenantOutcome(r.tenant, r.line, PENDING) for r in all_rows]

    journal = None if plan_only or options.status_only else Journal(journal_path)
    if journal is not None and select is None:  # a pass over every tenant: on disk before the sign-in
        journal.append("pass_started", manifest_version=options.manifest.manifest_version, prune=options.prune)
    progress.start(len(select(rows) if select else rows))
    try:
        if rows or options.all_customers:
            outcomes = run_bulk(settings, options, all_rows, reporter, journal, previous)
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C / SIGTERM (cli/interrupts.py)
        progress.stop()
        if journal:
            write_reports(out_dir, assemble(_outcomes_from_journal(journal_path, all_rows)), tenants_file=source)
        click.echo("interrupted; continue with the same command and --resume", err=True)
        return interrupted_exit_code() or ExitStatus.INTERRUPTED
    finally:
        progress.stop()
        if journal:
            journal.close()
    _add_admin_actions(outcomes, options.manifest, all_rows)
    final = assemble(outcomes)
    if options.status_only:
        return _render_status(final, options, source, output_format)
    if not plan_only:
        write_reports(out_dir, final, tenants_file=source)
    _render(final, output_format, plan_only, out_dir)
    return ExitStatus.PARTIAL_FAILURE if [o for o in final if o.status not in (SUCCEEDED, PLANNED)] else \
        ExitStatus.SUCCESS


def _render_status(outcomes: list[TenantOutcome], options: BulkOptions, source: str, output_format: str) -> int:
    """status.json/.html in --out; stdout: the JSON, or one line per tenant and where the page is."""
    from ..output.fleet_status import status_payload, write_status

    payload = status_payload(outcomes, now=environment.clock().now(), source=source,
                             manifest_version=options.manifest.manifest_version)
    json_path, html_path = write_status(options.out_dir, payload)
    if output_format == "json":
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        for t in payload["tenants"]:
            days = t["credential"]["days_left"]
            problems = t["failed_checks"] or ([t["error"]] if t["error"] else [])
            click.echo(f"{t['state']:<11} {t['tenant']}  expires in {days if days is not None else '?'} days"
                       + (f"  ({', '.join(problems)})" if problems else ""))
        summary = payload["summary"]
        click.echo(f"{summary['healthy']} healthy, {summary['attention']} need attention, {summary['unreachable']} "
                   f"unreachable; {html_path} ({json_path.name} for scripts)")
    healthy = all(t["state"] == "healthy" for t in payload["tenants"])
    return ExitStatus.SUCCESS if healthy else ExitStatus.PARTIAL_FAILURE


def _skipping(done: dict[str, TenantOutcome]):
    """--resume: the rows not finished yet."""
    return lambda rows: [r for r in rows if r.tenant not in done]


def _only(tenants: set[str]):
    """--only-failed: the rows the last report lists as failed."""
    return lambda rows: [r for r in rows if r.tenant in tenants]


def _lint_manifests(default: Manifest, rows: list[TenantRow]) -> None:
    """Lint the run's manifest and every per-tenant one, once each, before the sign-in prompt."""
    linted: set[int] = set()
    for manifest in [default, *(r.manifest for r in rows if r.manifest is not None)]:
        if id(manifest) not in linted:
            linted.add(id(manifest))
            lint_before_run(manifest)


def _add_admin_actions(outcomes: list[TenantOutcome], default: Manifest, rows: list[TenantRow]) -> None:
    """Per tenant: the tenant-admin commands lint asks for (e.g. the EWS allow list), with its client ID."""
    manifests = {r.tenant: r.manifest or default for r in rows}
    for outcome in outcomes:
        if outcome.status == SUCCEEDED and outcome.tenant in manifests:
            outcome.notes.extend(admin_action_notes(manifests[outcome.tenant], outcome.client_id))


def _outcomes_from_journal(path: Path, rows: list) -> list[TenantOutcome]:
    state = load_journal(path)
    return [TenantOutcome.from_dict(r["outcome"]) for r in state.finished.values() if r.get("outcome")]


def _render(outcomes: list[TenantOutcome], output_format: str, plan_only: bool, out_dir: Path) -> None:
    counts = summarize(outcomes)
    if output_format == "json":
        click.echo(json.dumps({"summary": counts, "tenants": [o.to_dict() for o in outcomes]}, indent=2,
                              default=str))
        return
    if plan_only:
        for o in outcomes:
            if o.status == PLANNED:
                click.echo(_plan_text(o), nl=False)
    run = environment.current()
    console = Console(file=run.out(), width=200 if not run.stdout_is_tty() else None)
    console.print(_summary_table(outcomes, plan_only))
    parts = [f"{counts.get(k, 0)} {k}" for k in (SUCCEEDED, PLANNED, FAILED, PENDING) if counts.get(k)]
    click.echo(f"{counts['total']} tenant(s): " + ", ".join(parts) +
               ("" if plan_only else f". Report: {out_dir / 'report.json'}"))
    _render_consent(outcomes)
    needing_action = [o for o in outcomes if any(n.startswith("tenant admin action needed") for n in o.notes)]
    if needing_action:
        click.echo(f"{len(needing_action)} tenant(s) need a tenant-admin action (e.g. the Exchange EWS allow "
                   "list); each command, with that tenant's client ID, is in the `notes` of report.json")


def _render_consent(outcomes: list[TenantOutcome]) -> None:
    """What the run left in customers (the partner app's consent), and who needs an admin's consent."""
    consented = sorted({o.partner_consent for o in outcomes if o.partner_consent})
    count = len([o for o in outcomes if o.partner_consent])
    for client in consented:
        click.echo(f"The partner sign-in app ({client}) is consented in {count} customer(s) through Partner Center; "
                   "`kodo-provision partner-app remove-consent --tenant T` removes it from one.")
    needing = [o for o in outcomes if o.admin_consent_url]
    if needing:
        click.echo(f"{len(needing)} tenant(s) need a Global Administrator of theirs to consent the sign-in app once "
                   "(then run again with --only-failed):")
        for o in needing:
            click.echo(f"  {o.tenant}: {o.admin_consent_url}")


def _plan_text(outcome: TenantOutcome) -> str:
    name = outcome.tenant_name or outcome.tenant
    label = f"{name} ({outcome.tenant_id})" if outcome.tenant_id else name
    if not outcome.plan:
        return render_plan(Plan(()), label)
    lines = [f"Plan for {label}: {len(outcome.plan)} change(s)"]
    lines += [f"  {i:>2}. {step}" for i, step in enumerate(outcome.plan, 1)]
    return "\n".join(lines) + "\n"
