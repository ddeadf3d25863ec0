"""Shared by the lifecycle commands: the app-identity options and how a command is run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..auth import GRAPH_CLI_CLIENT_ID, AuthSettings, validate_tenant
from ..credentials.store import default_credentials_path, read_credentials
from ..errors import UsageError
from ..flows.options import OnboardOptions
from ..flows.session import ConnectionSettings, TenantSession, open_tenant_session
from ..manifest.load import load_manifest
from .options import ca_bundle_for, cloud_for, configured_logging, stacked

F = Callable[..., Any]
T = TypeVar("T")


def app_identity_options(func: F) -> F:
    """--tenant, --manifest, --app-name: the same words address the same app in every command."""
    decorators = [
        click.option("--tenant", required=True, help="Tenant ID (GUID) or a verified domain."),
        click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), default=None,
                     help="Permission manifest (YAML). Default: the bundled manifests/kodo.yaml."),
        click.option("--app-name", default=None,
                     help="The app given to `onboard --app-name` (uniqueName <manifest unique_name>-<slug>)."),
    ]
    return stacked(func, decorators)


def credentials_option(help_text: str) -> Callable[[F], F]:
    return click.option("--credentials", "credentials_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help=help_text)


def connection_settings(cloud: str, authority_host: str | None, graph_endpoint: str | None,
                        ca_bundle: str | None, client_id: str | None,
                        auth: AuthSettings | None = None, *,
                        partner_center_endpoint: str | None = None) -> ConnectionSettings:
    return ConnectionSettings(
        cloud=cloud_for(cloud, authority_host=authority_host, graph_endpoint=graph_endpoint,
                            partner_center_endpoint=partner_center_endpoint),
        ca_bundle=ca_bundle_for(ca_bundle), auth=auth or AuthSettings(),
        client_id=client_id or GRAPH_CLI_CLIENT_ID)


def lifecycle_options(tenant: str, manifest_path: str | None, app_name: str | None,
                      credentials_path: Path | None = None) -> OnboardOptions:
    """Validated before any sign-in: nothing is asked of the user for a typo."""
    tenant = validate_tenant(tenant)
    return OnboardOptions(tenant=tenant, manifest=load_manifest(manifest_path), app_name=app_name,
                          credentials_path=credentials_path or default_credentials_path(tenant, app_name=app_name))


def run_in_tenant(settings: ConnectionSettings, tenant: str, body: Callable[[TenantSession], Awaitable[T]], *,
                  log_format: str, log_level: str | None, log_file: str | None) -> T:
    """Sign in, run `body` with a session for `tenant`, with logging configured."""

    async def run() -> T:
        async with open_tenant_session(settings, tenant) as session:
            return await body(session)

    with configured_logging(log_format, log_level, log_file):
        return asyncio.run(run())


def require_credentials_file(path: Path) -> None:
    """An explicit --credentials must name an existing file: checked before sign-in (issue 16)."""
    if not Path(path).is_file():
        raise UsageError(f"credentials file {path} does not exist",
                         hint="pass the file onboarding wrote (kodo-credentials-<tenant>.json), or omit --credentials")
    read_credentials(Path(path))  # a file that is not ours is refused too (issue 15)


def echo_json(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))
