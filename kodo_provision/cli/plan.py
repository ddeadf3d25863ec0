"""`kodo-provision plan`: what onboard would change, without changing anything."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import click

from .. import environment
from ..auth import GRAPH_CLI_CLIENT_ID, READ_SCOPES, AuthSettings, validate_tenant
from ..credentials.store import default_credentials_path
from ..flows.onboard import onboard_tenant
from ..flows.options import OnboardOptions, OnboardResult
from ..flows.session import ConnectionSettings, open_tenant_session
from ..manifest.identity import app_unique_name
from ..manifest.load import load_manifest
from ..output.console import render_plan
from ..output.lifecycle import render_identity
from .manifest import lint_before_run
from .options import auth_options, ca_bundle_for, cloud_for, configured_logging, connection_options, output_options

PLAN_HELP = """Show what `onboard` would change in a tenant, changing nothing.

Signs in (see --auth), reads the tenant, and diffs it against the manifest. The credentials
file (if present) tells whether the secret you hold is still valid.

\b
Exit status with --detailed-exitcode (terraform's convention):
  0  nothing to change   2  changes pending   1  any error (also a usage error; stderr says which)
"""


@click.command("plan", help=PLAN_HELP)
@click.option("--tenant", required=True, help="Tenant ID (GUID) or a verified domain.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), default=None,
              help="Permission manifest (YAML). Default: the bundled manifests/kodo.yaml.")
@click.option("--credentials", "credentials_path", type=click.Path(dir_okay=False), default=None,
              help="Credentials file to check the held secret against. Default: ./kodo-credentials-<tenant>.json.")
@click.option("--app-name", default=None,
              help="The app given to `onboard --app-name` (uniqueName <manifest unique_name>-<slug>).")
@click.option("--prune", is_flag=True, help="Plan as `onboard --prune` would (revoke permissions not in the manifest).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when changes are pending.")
@connection_options
@auth_options
@output_options
def plan(tenant: str, manifest_path: str | None, credentials_path: str | None, app_name: str | None, prune: bool,
         detailed_exitcode: bool, cloud: str,
         authority_host: str | None, graph_endpoint: str | None, ca_bundle: str | None, client_id: str | None,
         auth: AuthSettings, output_format: str, log_format: str, log_level: str | None, log_file: str | None) -> int:
    from pathlib import Path

    tenant = validate_tenant(tenant)
    manifest = load_manifest(manifest_path)
    lint_before_run(manifest)  # warnings on stderr; lint errors refuse before the sign-in prompt
    settings = ConnectionSettings(
        cloud=cloud_for(cloud, authority_host=authority_host, graph_endpoint=graph_endpoint),
        ca_bundle=ca_bundle_for(ca_bundle), auth=auth, client_id=client_id or GRAPH_CLI_CLIENT_ID,
        scopes=READ_SCOPES)  # plan changes nothing: it asks for no write scope
    options = OnboardOptions(tenant=tenant, manifest=manifest, plan_only=True, app_name=app_name, prune=prune,
                             credentials_path=Path(credentials_path) if credentials_path
                             else default_credentials_path(tenant, app_name=app_name))

    async def run() -> OnboardResult:
        async with open_tenant_session(settings, tenant) as session:
            return await onboard_tenant(session, options)

    with configured_logging(log_format, log_level, log_file):
        result = asyncio.run(run())
    # The matched app's IDs (None when the app does not exist yet): the same words, the same app.
    app = {"unique_name": app_unique_name(manifest.app.unique_name, app_name),
           "display_name": app_name or manifest.app.display_name, "client_id": result.client_id,
           "app_object_id": result.app_object_id, "service_principal_id": result.service_principal_id}
    if output_format == "json":
        click.echo(json.dumps({"tenant_id": result.tenant_id, "tenant_name": result.tenant_name, "app": app,
                               **result.plan.to_dict()}, indent=2))
    else:
        environment.current().out().write("\n".join(render_identity(result.tenant_name, result.tenant_id,
                                                   SimpleNamespace(**app))) + "\n")
        environment.current().out().write(render_plan(result.plan, f"{result.tenant_name} ({result.tenant_id})"))
    return 2 if detailed_exitcode and not result.plan.is_empty else 0
