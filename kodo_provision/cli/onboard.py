"""`kodo-provision onboard`: parse, call the onboarding flow, render."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import environment
from ..auth import GRAPH_CLI_CLIENT_ID, AuthSettings, validate_tenant
from ..credentials.store import check_writable, default_credentials_path, read_credentials
from ..errors import EXIT_STATUS_HELP, ExitStatus, KodoError, UsageError
from ..flows.options import OnboardOptions, OnboardResult, OnboardUI
from ..flows.session import ConnectionSettings, open_tenant_session
from ..manifest.load import load_manifest
from .interrupts import mark_changing
from .manifest import admin_action_notes, lint_before_run
from .options import (
    auth_options,
    ca_bundle_for,
    cloud_for,
    configured_logging,
    connection_options,
    credential_options,
    output_options,
    parse_duration,
    pfx_password,
    probe_options,
    require_probe,
)

if TYPE_CHECKING:
    from ..graph.gateway import Organization
    from ..plan.model import Plan, Step

ONBOARD_HELP = f"""Onboard one tenant: sign in, plan, apply, verify, hand off credentials.

\b
Steps, each shown before it is made:
  1. sign-in as a Global Administrator (or Privileged Role Administrator): a device code
     printed on stderr (approve it on any device), or --auth browser when Conditional
     Access blocks device code; or, with no user, your automation app already consented
     in the tenant (--auth client-secret|certificate; it needs the application
     permissions Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All,
     DelegatedPermissionGrant.ReadWrite.All and Organization.Read.All)
  2. preflight (no changes): your admin role, the resource APIs, every permission name
  3. plan: the diff between the manifest and what the tenant holds now
  4. apply (after confirmation, or --yes): app registration, service principal,
     application permissions, delegated grant, client secret
  5. verify: re-plan must be empty, and an app-only token must carry every role

Safe to repeat: a second run changes nothing; a run after a partial failure or a
removed grant repairs only what is missing; it never creates a second app.
Permissions the app holds beyond the manifest are reported; --prune revokes them.
The app is matched by its uniqueName (see README, "How the tool recognises its app").

\b
Credentials go to --credentials-out (default ./kodo-credentials-<tenant>.json), mode 0600.
The secret is printed only with --show-secret.

\b
{EXIT_STATUS_HELP}
"""


def _ui(output_format: str, yes: bool) -> OnboardUI:
    from ..output.console import render_plan, render_step

    text = output_format == "text"
    plan_stream = environment.current().out() if text else environment.current().err()

    def show_plan(plan: Plan, org: Organization) -> None:
        click.echo(render_plan(plan, f"{org.display_name} ({org.id})"), file=plan_stream, nl=False)

    def confirm(plan: Plan, org: Organization) -> bool:
        return yes or click.confirm("Apply these changes?", default=False, err=True)

    def on_step(step: Step, status: str) -> None:
        if text:
            click.echo(render_step(step, status))

    def on_phase(phase: str) -> None:
        if phase == "apply":
            mark_changing()  # Ctrl-C now unwinds the flow rather than ending the process
        if text and phase == "verify":
            click.echo("Verifying (re-plan, app-only token)...")

    return OnboardUI(show_plan=show_plan, confirm=confirm, on_step=on_step, on_phase=on_phase)


def _emit(result: OnboardResult, output_format: str, show_secret: bool, error: KodoError | None = None) -> None:
    from ..output.console import render_result

    secret = None
    if show_secret and result.credentials_path:
        secret = (read_credentials(result.credentials_path) or {}).get("client_secret")
    if output_format == "json":
        payload: dict[str, Any] = result.to_dict()
        if error is not None:  # the result so far, and what went wrong: still one JSON object
            payload.update(error.error_object())
        if secret:
            payload["client_secret"] = secret
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        click.echo(render_result(result, show_secret=secret), nl=False)


@click.command("onboard", help=ONBOARD_HELP)
@click.option("--tenant", required=True, help="Tenant ID (GUID) or a verified domain, e.g. contoso.onmicrosoft.com.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), default=None,
              help="Permission manifest (YAML). Default: the bundled manifests/kodo.yaml.")
@click.option("--app-name", default=None,
              help="Display name of the app registration (default from the manifest); also its own app, "
                   "uniqueName <manifest unique_name>-<slug>, addressed by the same --app-name in every command.")
@click.option("--credentials-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the credentials JSON (0600). Default: ./kodo-credentials-<tenant>.json "
                   "(…-<tenant>-<app-slug>.json with --app-name). An existing file that is not ours is refused.")
@click.option("--secret-lifetime", default=None, metavar="DURATION",
              help="Secret lifetime, e.g. 180d, 26w, 6mo, 1y. Default from the manifest (180 days).")
@click.option("--show-secret", is_flag=True,
              help="Also print the client secret on stdout: in the text output's summary, or with --output json "
                   "as the top-level \"client_secret\" of the result object (absent without this flag, and for a "
                   "certificate, whose private key stays only in its 0600 file).")
@credential_options("next to the credentials file")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (required without a terminal).")
@click.option("--prune", is_flag=True,
              help="Also revoke permissions the app holds in the tenant but the manifest does not list "
                   "(without it they are only reported).")
@click.option("--verify-budget", type=click.FloatRange(5, 3600), default=180, show_default=True,
              metavar="SECONDS", help="How long verification may wait for Entra to replicate.")
@probe_options
@connection_options
@auth_options
@output_options
def onboard(tenant: str, manifest_path: str | None, app_name: str | None, credentials_out: Path | None,
            secret_lifetime: str | None, show_secret: bool, credential_type: str, pfx_password_env: str | None,
            yes: bool, prune: bool, verify_budget: float, probe: bool, probe_mailbox: str | None, cloud: str,
            authority_host: str | None, graph_endpoint: str | None, ca_bundle: str | None,
            client_id: str | None, auth: AuthSettings, output_format: str, log_format: str,
            log_level: str | None, log_file: str | None) -> int:
    # Everything checkable is checked before the sign-in prompt: nothing has changed yet.
    tenant = validate_tenant(tenant)
    require_probe(probe, probe_mailbox)
    lifetime = parse_duration(secret_lifetime)
    manifest = load_manifest(manifest_path)
    lint_before_run(manifest)  # warnings on stderr; lint errors refuse before the sign-in prompt
    settings = ConnectionSettings(
        cloud=cloud_for(cloud, authority_host=authority_host, graph_endpoint=graph_endpoint),
        ca_bundle=ca_bundle_for(ca_bundle), auth=auth,
        client_id=client_id or GRAPH_CLI_CLIENT_ID)
    if not yes and not environment.current().stdin_is_tty():
        raise UsageError("refusing to change the tenant without confirmation: no terminal to ask on",
                         hint="review with a terminal, or pass --yes")
    credentials_path = credentials_out or default_credentials_path(tenant, app_name=app_name)
    check_writable(credentials_path)
    read_credentials(credentials_path)  # an existing file that is not ours is refused before sign-in
    pfx = pfx_password(pfx_password_env, certificates_wanted=credential_type == "certificate")
    options = OnboardOptions(tenant=tenant, manifest=manifest, credentials_path=credentials_path,
                             app_name=app_name, secret_lifetime=lifetime, verify_budget_s=verify_budget,
                             prune=prune, credential_type=credential_type, pfx_password=pfx, probe=probe,
                             probe_mailbox=probe_mailbox)
    return run_onboard(settings, options, output_format=output_format, yes=yes, show_secret=show_secret,
                       log_format=log_format, log_level=log_level, log_file=log_file)


def run_onboard(settings: ConnectionSettings, options: OnboardOptions, *, output_format: str, yes: bool,
                show_secret: bool, log_format: str = "console", log_level: str | None = None,
                log_file: str | None = None) -> int:
    """Shared by `onboard` and `demo`: configure logging, run the flow, render, exit status."""

    async def run() -> OnboardResult:
        async with open_tenant_session(settings, options.tenant) as session:
            # The flow and the Graph stack load after the sign-in (see open_tenant_session).
            from ..flows.onboard import onboard_tenant

            return await onboard_tenant(session, options, _ui(output_format, yes))

    with configured_logging(log_format, log_level, log_file):
        try:
            result = asyncio.run(run())
        except KodoError as exc:
            partial: OnboardResult | None = getattr(exc, "result", None)
            if partial is not None:
                _emit(partial, output_format, show_secret=False, error=exc)
                exc.json_reported = output_format == "json"  # type: ignore[attr-defined]  # one object on stdout
            raise
    # e.g. the EWS allow-list command, now with the app's client ID (manifest lint KP102/KP103).
    result.notes.extend(admin_action_notes(options.manifest, result.client_id))
    _emit(result, output_format, show_secret)
    return ExitStatus.SUCCESS
