"""`kodo-provision verify`: read-only health check of an onboarded tenant."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from ..auth import READ_SCOPES, AuthSettings
from ..errors import ExitStatus, UsageError, VerificationError
from ..flows.session import TenantSession
from ..flows.verify import HealthReport, verify_tenant
from ..output.lifecycle import render_health
from .common import (
    app_identity_options,
    connection_settings,
    credentials_option,
    echo_json,
    lifecycle_options,
    require_credentials_file,
    run_in_tenant,
)
from .options import auth_options, connection_options, output_options, probe_options, require_probe

VERIFY_HELP = """Check that an onboarded tenant works as the manifest requires, changing nothing.

\b
One line per check (ok / WARN / FAIL), each with a stable name:
  app                       exactly one app with KODO's uniqueName (look-alikes are named, ignored)
  required_resource_access  the app requests exactly the manifest's permissions
  service_principal         the app's enterprise application exists
  application_permission    each application permission is granted (an app role assignment)
  delegated_scope           each delegated scope is in the AllPrincipals grant
  secret_held, secret_expiry  the secret exists; WARN inside 30 days, FAIL when expired
  certificate_held, certificate_key  with a certificate file: the certificate is on the app and the
                            key file holds its private key (expiry: secret_expiry, as for a secret)
  app_token                 with a credentials file: an app-only token (secret or certificate)
                            whose roles prove the consent
  extra_permission          WARN: held in the tenant but not in the manifest (onboard --prune)
  probe_<api>               with --probe: one harmless read as the KODO app per API granted
                            (directory, mail, mailbox_export, onedrive, sharepoint, ews):
                            ok / blocked by a tenant setting (with the admin's fix) / missing
                            (no consent) / not probed (WARN: e.g. no mailbox to read)

\b
Examples:
  kodo-provision verify --tenant contoso.onmicrosoft.com
  kodo-provision verify --tenant contoso.onmicrosoft.com --credentials kodo.json --output json
  kodo-provision verify --tenant contoso.onmicrosoft.com --credentials kodo.json --probe

\b
Exit status:
  0  every check passed (warnings allowed)
  6  at least one check failed (named on stderr)
  2 usage, 3 sign-in, 7 network, 1 bug (see kodo-provision --help)
"""


@click.command("verify", help=VERIFY_HELP)
@app_identity_options
@credentials_option("Credentials file whose secret or certificate is checked with an app-only token. "
                    "Default: ./kodo-credentials-<tenant>.json when it exists.")
@click.option("--token-budget", type=click.FloatRange(0, 600), default=10, show_default=True, metavar="SECONDS",
              help="How long the app-only token check may wait for Entra (a secret minutes old needs more).")
@probe_options
@connection_options
@auth_options
@output_options
def verify(tenant: str, manifest_path: str | None, app_name: str | None, credentials_path: Path | None,
           token_budget: float, probe: bool, probe_mailbox: str | None, cloud: str, authority_host: str | None,
           graph_endpoint: str | None, ca_bundle: str | None, client_id: str | None, auth: AuthSettings,
           output_format: str, log_format: str, log_level: str | None, log_file: str | None) -> int:
    require_probe(probe, probe_mailbox)
    options = lifecycle_options(tenant, manifest_path, app_name, credentials_path)
    if credentials_path is not None:
        require_credentials_file(credentials_path)  # else "passed" while the secret checks were skipped
    if credentials_path is None and options.credentials_path.exists():
        credentials_path = options.credentials_path
    if probe and credentials_path is None:
        raise UsageError("--probe reads as the KODO app, with its secret or certificate: no credentials file",
                         hint=f"pass --credentials FILE (default ./{options.credentials_path.name})")
    # verify changes nothing: it asks for no write scope.
    settings = replace(connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id, auth),
                       scopes=READ_SCOPES)

    async def body(session: TenantSession) -> HealthReport:
        return await verify_tenant(session, options, credentials_path=credentials_path,
                                   token_budget_s=token_budget, now=datetime.now(UTC), probe=probe,
                                   probe_mailbox=probe_mailbox)

    report = run_in_tenant(settings, options.tenant, body, log_format=log_format, log_level=log_level,
                           log_file=log_file)
    only_probes = all(c.name.startswith("probe_") for c in report.failed)
    error = None if report.ok else VerificationError(
        f"{len(report.failed)} check(s) failed: {', '.join(sorted({c.name for c in report.failed}))}",
        hint="the tenant's admin acts as each failed probe line says (after the ->)" if only_probes else
        "kodo-provision onboard repairs grants and permissions; rotate-secret replaces an expired or broken secret")
    if output_format == "json":  # one object on stdout: the report, with the error in it when it failed
        echo_json({**report.to_dict(), **(error.error_object() if error else {})})
        if error:
            error.json_reported = True  # type: ignore[attr-defined]
    else:
        click.echo(render_health(report), nl=False)
    if error:
        raise error
    return ExitStatus.SUCCESS
