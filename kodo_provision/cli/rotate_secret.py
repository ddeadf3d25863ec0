"""`kodo-provision rotate-secret`: replace the client secret without a moment of breakage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ..auth import AuthSettings
from ..errors import ExitStatus
from ..flows.rotate import RotateResult, refuse_removing_held_key, remove_secret_key, rotate_secret
from ..flows.session import TenantSession
from ..output.lifecycle import render_identity
from .common import (
    app_identity_options,
    connection_settings,
    credentials_option,
    echo_json,
    lifecycle_options,
    require_credentials_file,
    run_in_tenant,
)
from .interrupts import mark_changing
from .options import auth_options, connection_options, output_options

ROTATE_HELP = """Add a new client secret (or certificate), prove it, and hand it over; the old one keeps working.

\b
In this order, each step only after the previous one succeeded:
  1. add a new secret to the app (exactly once, even if a response is lost)
  2. get an app-only token with it (Entra needs a few seconds for a new secret);
     if it never works the new secret is removed again and nothing has changed
  3. back up the credentials file (<file>.<UTC time>.bak, mode 0600) and replace it atomically
  4. --remove-old: remove the previous secret, only if kodo-provision created it
Without --remove-old the previous secret stays valid (KODO can switch at its own pace) and
the command that removes it later is printed. --remove-key KEYID removes one secret (or
certificate) by key ID (any, but never the one the credentials file holds) and adds none.

\b
Certificates: when the credentials file says credential_type certificate (onboard
--credential certificate), the same steps rotate the certificate instead: a new key pair
made locally (private key in a 0600 PEM next to the file), the public certificate added to
keyCredentials with the others kept, proven with a client-assertion token; --remove-old then
removes the previous certificate (only one kodo-provision created).

\b
Examples:
  kodo-provision rotate-secret --tenant contoso.onmicrosoft.com
  kodo-provision rotate-secret --tenant contoso.onmicrosoft.com --overlap 7d
  kodo-provision rotate-secret --tenant contoso.onmicrosoft.com --remove-old
  kodo-provision rotate-secret --tenant contoso.onmicrosoft.com --remove-key 1c0e...-...

\b
Exit status:
  0  rotated (or the key removed / already gone)
  6  the new secret could not get a token (it was removed; the file is unchanged)
  2 usage (e.g. not onboarded, the key is the one in use), 3 sign-in, 5 Graph, 7 network
"""


def _overlap(value: str | None):
    from .options import parse_duration

    return parse_duration(value) if value else None


def _render(result: RotateResult) -> str:
    lines = render_identity(result.tenant_name, result.tenant_id, result.app)
    if result.action == "rotated":
        is_cert = result.credential_type == "certificate"
        label = "cert  " if is_cert else "secret"
        detail = f", thumbprint {result.certificate_thumbprint}" if is_cert else ""
        lines.append(f"New {label}    key {result.new_key_id}{detail}, expires {result.new_expires_at} "
                     "(verified with a token)")
        lines.append(f"Credentials   {result.credentials_path} (mode 0600, replaced atomically)")
        if result.backup_path:
            lines.append(f"Backup        {result.backup_path} (mode 0600)")
        if result.old_removed:
            lines.append(f"Old {label}    {result.old_key_id} removed")
        elif result.remove_command:
            lines.append(f"Old {label}    {result.old_key_id} kept and still valid; remove it later with:")
            lines.append(f"  {result.remove_command}")
    elif result.action == "removed_key":
        kind = "certificate" if result.credential_type == "certificate" else "secret"
        lines.append(f"Removed       {kind} {result.old_key_id}")
    else:
        lines.append("Nothing to do")
    lines += [f"Note          {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


@click.command("rotate-secret", help=ROTATE_HELP)
@app_identity_options
@credentials_option("The credentials file to renew. Default: ./kodo-credentials-<tenant>.json.")
@click.option("--overlap", default=None, metavar="DURATION",
              help="How long the old secret should stay valid (e.g. 7d); printed with the removal command.")
@click.option("--remove-old", is_flag=True, help="Remove the previous secret after the new one is verified.")
@click.option("--remove-key", default=None, metavar="KEYID", help="Only remove this secret or certificate (by key ID).")
@click.option("--verify-budget", type=click.FloatRange(0, 3600), default=120, show_default=True, metavar="SECONDS",
              help="How long to wait for Entra to accept the new secret.")
@connection_options
@auth_options
@output_options
def rotate_secret_command(tenant: str, manifest_path: str | None, app_name: str | None,
                          credentials_path: Path | None, overlap: str | None, remove_old: bool,
                          remove_key: str | None, verify_budget: float, cloud: str, authority_host: str | None,
                          graph_endpoint: str | None, ca_bundle: str | None, client_id: str | None,
                          auth: AuthSettings, output_format: str, log_format: str, log_level: str | None,
                          log_file: str | None) -> int:
    options = lifecycle_options(tenant, manifest_path, app_name, credentials_path)
    if credentials_path is not None and not remove_key:
        require_credentials_file(credentials_path)  # else a new secret would go into a file nobody knows
    mark_changing()  # rotation writes right after sign-in: Ctrl-C unwinds it (pending records) as before
    path = options.credentials_path
    overlap_delta = _overlap(overlap)
    if remove_key and (remove_old or overlap):
        raise click.UsageError("--remove-key only removes a key; do not combine it with --remove-old/--overlap")
    if remove_key:
        refuse_removing_held_key(path, remove_key)
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id, auth)

    async def body(session: TenantSession) -> RotateResult:
        if remove_key:
            return await remove_secret_key(session, options, credentials_path=path, key_id=remove_key)
        return await rotate_secret(session, options, credentials_path=path, remove_old=remove_old,
                                   overlap=overlap_delta, budget_s=verify_budget, now=datetime.now(UTC))

    result = run_in_tenant(settings, options.tenant, body, log_format=log_format, log_level=log_level,
                           log_file=log_file)
    if output_format == "json":
        echo_json(result.to_dict())
    else:
        click.echo(_render(result), nl=False)
    return ExitStatus.SUCCESS
