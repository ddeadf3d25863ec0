"""A signed-in Graph session bound to one tenant (TenantSession), how it is opened (ConnectionSettings),
and the one read of desired and actual state every flow starts from."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import certifi

from .. import environment
from ..auth import ADMIN_SCOPES, GRAPH_CLI_CLIENT_ID, AppCaller, AppIdentitySignIn, AuthSettings
from ..cloud import Cloud
from ..credentials.store import write_private_file
from ..errors import UsageError
from ..graph.settings import RetrySettings
from ..manifest.identity import app_unique_name
from ..manifest.model import Manifest
from ..manifest.resolve import DesiredState, resolve
from ..state.model import ResourceServicePrincipal, TenantState
from .options import OnboardOptions

if TYPE_CHECKING:
    from ..graph.gateway import GraphGateway


def desired_unique_name(manifest: Manifest, options: OnboardOptions) -> str:
    return app_unique_name(manifest.app.unique_name, options.app_name)


def desired_state(manifest: Manifest, resource_sps: dict[str, ResourceServicePrincipal | None],
             options: OnboardOptions) -> DesiredState:
    desired = resolve(manifest, resource_sps)
    if options.app_name:
        # The same --app-name addresses the same app in every command (see identity.py).
        desired = replace(desired, display_name=options.app_name,
                          unique_name=app_unique_name(manifest.app.unique_name, options.app_name))
    if options.secret_lifetime:
        desired = replace(desired, secret_lifetime=options.secret_lifetime)
    if options.credential_type != desired.credential_type:
        desired = replace(desired, credential_type=options.credential_type)
    return desired


class TenantSession:
    """A gateway bound to one tenant, plus what onboarding needs around it."""

    def __init__(self, gateway: GraphGateway, cloud: Cloud, ca_bundle: str | None, signed_in_as: str,
                 token_roles: frozenset[str] | None = None, app_caller: AppCaller | None = None) -> None:
        self.gateway = gateway
        self.cloud = cloud
        self.ca_bundle = ca_bundle
        self.signed_in_as = signed_in_as
        # A partner (GDAP) admin is not a member of the customer directory: /me answers 404 and
        # the roles in force are those of the relationship, carried in the token's `wids`.
        # Bulk passes them here. https://learn.microsoft.com/en-us/partner-center/customers/gdap-introduction
        self.token_roles = token_roles
        # The operator's automation app (--auth client-secret|certificate) instead of a user: there
        # is no /me; who calls and what it may do come from its app-only token's claims.
        self.app_caller = app_caller

    async def read(self, manifest: Manifest, options: OnboardOptions, *,
                   resource_sps: dict[str, ResourceServicePrincipal | None] | None = None,
                   app_id: str | None = None) -> tuple[DesiredState, TenantState]:
        """Desired and actual state. Pass what is already known (the resource SPs, the app's
        appId) and the read is a single batched request."""
        from ..state.read import read_resource_service_principals, read_tenant_state

        sps = resource_sps if resource_sps is not None else await read_resource_service_principals(
            self.gateway, [r.app_id for r in manifest.resources])
        desired = desired_state(manifest, sps, options)
        actual = await read_tenant_state(self.gateway, desired.unique_name, sps, app_id=app_id)
        return desired, actual


def resolve_ca_bundle(flag: str | None, *, only: bool = False) -> str | None:
    """One CA bundle for every connection: --ca-bundle, else REQUESTS_CA_BUNDLE, else SSL_CERT_FILE.
    azure-identity (requests) honours only the first env var and httpx only the second, so the
    chosen file is passed to both stacks explicitly (graph-facts §4). Both stacks *replace* their
    trust with a file they are given, so --ca-bundle's CAs are added to the default trust (certifi's,
    which both use) unless `only` (--ca-bundle-only). The environment variables keep their usual
    meaning: the whole trust."""
    value = flag or environment.getenv("REQUESTS_CA_BUNDLE") or environment.getenv("SSL_CERT_FILE")
    if value and not Path(value).is_file():
        raise UsageError(f"CA bundle {value} does not exist", hint="pass --ca-bundle with a PEM file")
    if flag and not only:
        return with_default_trust(flag)
    return value or None


def with_default_trust(extra: str) -> str:
    """A bundle of certifi's CAs plus `extra`'s: a 0600 file in a private temporary folder, removed at exit,
    written once per process and bundle version."""
    stat = os.stat(extra)
    return _combined_bundle(str(Path(extra).resolve()), stat.st_mtime_ns ^ stat.st_size)


@functools.lru_cache(maxsize=4)
def _combined_bundle(extra: str, version: int) -> str:
    folder = tempfile.mkdtemp(prefix="kodo-trust-")  # 0700
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "ca-bundle.pem"
    write_private_file(path, Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n" + Path(extra).read_bytes())
    return str(path)


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to connect: the cloud, the public client, trust, retry budgets, how to sign in."""

    cloud: Cloud
    client_id: str = GRAPH_CLI_CLIENT_ID
    ca_bundle: str | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)
    sign_in_timeout_s: int | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    # The Graph scopes a user sign-in asks for: ADMIN_SCOPES to change a tenant, READ_SCOPES to read it.
    scopes: tuple[str, ...] = ADMIN_SCOPES


@asynccontextmanager
async def open_tenant_session(settings: ConnectionSettings, tenant: str, *,
                              prompt_stream: TextIO | None = None) -> AsyncIterator[TenantSession]:
    """Sign-in (a device code or the browser: one prompt, or none after `kodo-provision login`; or
    the operator's automation app: none) and a Graph gateway bound to that tenant."""
    import asyncio

    from ..auth.login import sign_in_or_resume

    auth = settings.auth
    sign_in: Any
    token_roles: frozenset[str] | None = None
    # No model warm-up: the hot path parses Graph JSON itself (graph/json_state.py) and never walks
    # msgraph's Entity discriminator table (~1,300 model imports), so there is nothing to overlap
    # with the admin's approval; waiting for it cost ~2 s when the approval was quick.
    if auth.app_identity:
        sign_in = AppIdentitySignIn(settings.cloud, tenant, auth, ca_bundle=settings.ca_bundle)
        user = await asyncio.to_thread(sign_in.sign_in)
    else:
        sign_in, user = await asyncio.to_thread(
            sign_in_or_resume, settings.cloud, tenant, client_id=settings.client_id,
            ca_bundle=settings.ca_bundle, prompt_stream=prompt_stream, timeout_s=settings.sign_in_timeout_s,
            method=auth.method, scope_names=settings.scopes)
        token_roles = await asyncio.to_thread(sign_in.token_roles)
    # The Graph stack (msgraph, kiota, httpx: ~0.3 s of imports) loads only now: the sign-in prompt, the
    # first request, does not wait for it (issue 17).
    from ..graph.client import build_graph_client
    from ..graph.gateway import GraphGateway

    client, http = build_graph_client(settings.cloud, sign_in.graph_credential(), sign_in.scopes,
                                      ca_bundle=settings.ca_bundle)
    try:
        yield TenantSession(GraphGateway(client, settings.retry), settings.cloud, settings.ca_bundle,
                            user.username, token_roles=token_roles, app_caller=getattr(sign_in, "caller", None))
    finally:
        await http.aclose()


@asynccontextmanager
async def open_session_with_credential(settings: ConnectionSettings, credential: Any, scopes: tuple[str, ...],
                                       signed_in_as: str) -> AsyncIterator[TenantSession]:
    """A Graph session from a credential someone already signed in (bulk: one operator sign-in
    serving many tenants; the credential decides which tenant its tokens are for)."""
    from ..graph.client import build_graph_client
    from ..graph.gateway import GraphGateway

    client, http = build_graph_client(settings.cloud, credential, scopes, ca_bundle=settings.ca_bundle)
    try:
        yield TenantSession(GraphGateway(client, settings.retry), settings.cloud, settings.ca_bundle, signed_in_as)
    finally:
        await http.aclose()
