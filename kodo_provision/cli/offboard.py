"""`kodo-provision offboard`: remove KODO's app and everything it was granted from a tenant."""

from __future__ import annotations

import click

from .. import environment
from ..auth import AuthSettings
from ..errors import ExitStatus, UsageError
from ..flows.common import TenantView
from ..flows.offboard import OffboardResult, OffboardUI, offboard_tenant
from ..flows.session import TenantSession
from ..output.console import render_plan, render_step
from ..output.lifecycle import render_identity
from ..partner.signin_app import remembered_client_ids
from ..plan.model import Plan, Step
from .common import app_identity_options, connection_settings, echo_json, lifecycle_options, run_in_tenant
from .interrupts import mark_changing
from .options import auth_options, connection_options, output_options

OFFBOARD_HELP = """Remove KODO from a tenant: grants, app role assignments, service principal, app.

\b
The plan is shown first and applied after confirmation (or --yes):
  1. remove the delegated grants and the app role assignments (admin consent)
  2. delete the app's service principal (enterprise application)
  3. delete the app registration; Entra keeps it 30 days in deleted items (restorable)
  4. --purge: also remove it from deleted items, permanently
Only the app matched by uniqueName (and tagged kodo-provision) is touched: another app with
the same display name is never deleted. Safe to repeat: a second run reports nothing to do.
KODO's credentials file stops working; delete it afterwards.

\b
Examples:
  kodo-provision offboard --tenant contoso.onmicrosoft.com --dry-run
  kodo-provision offboard --tenant contoso.onmicrosoft.com --yes --purge

\b
Exit status:
  0  offboarded, or nothing to do
  2  usage: no confirmation possible, cancelled, or the app is not kodo-provision's
  3 sign-in, 4 privileges, 5 Graph, 7 network (see kodo-provision --help)
"""


def _ui(output_format: str, yes: bool) -> OffboardUI:
    text = output_format == "text"
    plan_stream = environment.current().out() if text else environment.current().err()

    def show_plan(plan: Plan, view: TenantView) -> None:
        click.echo(render_plan(plan, f"{view.org.display_name} ({view.org.id})").replace(
            "change(s)", "removal(s)"), file=plan_stream, nl=False)

    def confirm(plan: Plan, view: TenantView) -> bool:
        agreed = yes or click.confirm("Remove these?", default=False, err=True)
        if agreed:
            mark_changing()  # Ctrl-C now unwinds the removal rather than ending the process
        return agreed

    def on_step(step: Step, status: str) -> None:
        if text:
            click.echo(render_step(step, status))

    return OffboardUI(show_plan=show_plan, confirm=confirm, on_step=on_step)


def _render(result: OffboardResult, dry_run: bool) -> str:
    lines = render_identity(result.tenant_name, result.tenant_id, result.app)
    if result.status == "nothing_to_do":
        lines.append("Nothing to do: KODO's app is not in this tenant.")
        lines += [f"  note: {note}" for note in result.plan.notes]
    elif dry_run:
        lines.append(render_plan(result.plan, f"{result.tenant_name} ({result.tenant_id})").rstrip("\n"))
        lines.append("Dry run: nothing was changed.")
    else:
        lines.append(f"Offboarded    {len(result.applied)} removed, {len(result.already_gone)} already gone")
    return "\n".join(lines) + "\n"


@click.command("offboard", help=OFFBOARD_HELP)
@app_identity_options
@click.option("--yes", "-y", is_flag=True, help="Remove without asking (required without a terminal).")
@click.option("--purge", is_flag=True, help="Also remove the app from deleted items (cannot be undone).")
@click.option("--dry-run", is_flag=True, help="Only show the plan.")
@click.option("--partner-consent", is_flag=True,
              help="Also remove a CSP partner's sign-in app that `bulk` consented here (Partner Center).")
@connection_options
@auth_options
@output_options
def offboard(tenant: str, manifest_path: str | None, app_name: str | None, yes: bool, purge: bool, dry_run: bool,
             partner_consent: bool, cloud: str, authority_host: str | None, graph_endpoint: str | None,
             ca_bundle: str | None, client_id: str | None, auth: AuthSettings, output_format: str, log_format: str,
             log_level: str | None, log_file: str | None) -> int:
    options = lifecycle_options(tenant, manifest_path, app_name)
    if not (yes or dry_run) and not environment.current().stdin_is_tty():
        raise UsageError("refusing to offboard without confirmation: no terminal to ask on",
                         hint="review with --dry-run, then pass --yes")
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id, auth)

    async def body(session: TenantSession) -> OffboardResult:
        return await offboard_tenant(session, options, purge=purge, ui=_ui(output_format, yes),
                                     plan_only=dry_run, partner_app_ids=remembered_client_ids(settings.cloud),
                                     remove_partner_consent=partner_consent)

    result = run_in_tenant(settings, options.tenant, body, log_format=log_format, log_level=log_level,
                           log_file=log_file)
    if output_format == "json":
        echo_json(result.to_dict())
    else:
        click.echo(_render(result, dry_run), nl=False)
    return ExitStatus.SUCCESS
