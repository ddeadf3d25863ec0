"""`kodo-provision login` / `logout`: sign in once for plan, verify, rotate-secret, offboard, bulk."""

from __future__ import annotations

import asyncio

import click

from .. import environment
from ..auth import AuthSettings, validate_tenant
from ..auth.login import login as do_login
from ..auth.login import login_path, remove_login, token_cache_files
from ..errors import ExitStatus
from .common import connection_settings, echo_json
from .options import auth_options, connection_options, output_options

LOGIN_HELP = """Sign in once (device code, or --auth browser); later commands reuse it without a prompt.

\b
Kept until `kodo-provision logout` or until Entra expires the refresh token:
  tokens   azure-identity's persistent cache "kodo_provision" (~/.IdentityService/),
           encrypted by the OS (Windows DPAPI, macOS Keychain, Linux libsecret)
  record   who signed in where (no secret), 0600:
           $XDG_CONFIG_HOME/kodo-provision/login.json (default ~/.config/kodo-provision/)
On Linux without a usable keyring (SSH, containers) the tokens can only be kept in a
plaintext 0600 file, and only with --allow-unencrypted-cache.
`onboard` works without login too (it asks for one device code).

\b
Examples:
  kodo-provision login --tenant contoso.onmicrosoft.com
  kodo-provision login --allow-unencrypted-cache      # a headless Linux box
  kodo-provision logout

\b
Exit status:
  0  signed in   2  usage (e.g. no keyring and no --allow-unencrypted-cache)   3  sign-in failed   7  network
"""

LOGOUT_HELP = """Forget the sign-in kept by `kodo-provision login`: every account and token in the tool's
token cache (removed through MSAL, so also from an OS keyring), the record and the cache files.

The next command asks for a device code again. This removes the refresh token from this machine; it
does not end the sign-in session in Entra. To revoke it everywhere, an admin runs
Revoke-MgUserSignInSession -UserId <upn> (Microsoft Graph PowerShell) or "Revoke sessions" on the user
in the Entra admin center.

\b
Exit status: 0 (also when nobody was signed in)
"""


@click.command("login", help=LOGIN_HELP)
@click.option("--tenant", default="organizations", show_default=True,
              help="Tenant to sign in to (GUID or domain); 'organizations' signs in to your home tenant.")
@click.option("--allow-unencrypted-cache", is_flag=True,
              help="Keep the tokens in a plaintext 0600 file when the OS cannot encrypt them.")
@connection_options
@auth_options(user_only=True)
@output_options
def login(tenant: str, allow_unencrypted_cache: bool, cloud: str, authority_host: str | None,
          graph_endpoint: str | None, ca_bundle: str | None, client_id: str | None, auth: AuthSettings,
          output_format: str,
          log_format: str, log_level: str | None, log_file: str | None) -> int:
    tenant = tenant if tenant in ("organizations", "common") else validate_tenant(tenant)
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id)
    user, path = asyncio.run(asyncio.to_thread(
        do_login, settings.cloud, tenant, client_id=settings.client_id, ca_bundle=settings.ca_bundle,
        allow_unencrypted_cache=allow_unencrypted_cache, prompt_stream=environment.current().err(),
        timeout_s=settings.sign_in_timeout_s, method=auth.method))
    if output_format == "json":
        echo_json({"schema_version": 1, "signed_in_as": user.username, "tenant_id": user.tenant_id,
                   "record_file": str(path), "unencrypted_cache": allow_unencrypted_cache})
    else:
        click.echo(f"Signed in as  {user.username} (tenant {user.tenant_id})")
        click.echo(f"Record        {path} (mode 0600)")
        click.echo("Tokens        " + ("plaintext 0600 file under ~/.IdentityService (--allow-unencrypted-cache)"
                                       if allow_unencrypted_cache else "OS-protected token cache"))
        click.echo("plan, verify, rotate-secret, offboard and bulk now run without a prompt; "
                   "`kodo-provision logout` forgets it.")
    return ExitStatus.SUCCESS


REVOKE_NOTE = ("The refresh token is gone from this machine; the sign-in session itself stays valid in Entra "
               "until it expires. To end it everywhere: Revoke-MgUserSignInSession -UserId <upn>, or 'Revoke "
               "sessions' on the user in the Entra admin center.")


@click.command("logout", help=LOGOUT_HELP)
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def logout(output_format: str) -> int:
    removed = remove_login()
    if output_format == "json":
        echo_json({"schema_version": 1, "removed": [str(p) for p in removed]})
    elif removed:
        click.echo("Signed out; removed " + ", ".join(str(p) for p in removed))
        click.echo(REVOKE_NOTE)
    else:
        click.echo(f"Not signed in (no {login_path()}, no {token_cache_files()[0].parent}/kodo_provision.*)")
    return ExitStatus.SUCCESS
