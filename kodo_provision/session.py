"""Connection settings and opening a signed-in Graph session for one tenant."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .auth import GRAPH_CLI_CLIENT_ID, AppIdentitySignIn, AuthSettings
from .cloud import Cloud
from .errors import UsageError
from .graph.client import build_graph_client
from .graph.gateway import GraphGateway
from .graph.retry import RetrySettings
from .onboarding import TenantSession


def resolve_ca_bundle(flag: str | None) -> str | None:
    """One CA bundle for every connection: --ca-bundle, else REQUESTS_CA_BUNDLE, else SSL_CERT_FILE.
    azure-identity (requests) honours only the first env var and httpx only the second, so the
    chosen file is passed to both stacks explicitly (graph-facts §4)."""
    value = flag or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if value and not Path(value).is_file():
        raise UsageError(f"CA bundle {value} does not exist", hint="pass --ca-bundle with a PEM file")
    return value or None


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to connect: the cloud, the public client, trust, retry budgets, how to sign in."""

    cloud: Cloud
    client_id: str = GRAPH_CLI_CLIENT_ID
    ca_bundle: str | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)
    sign_in_timeout_s: int | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)


@asynccontextmanager
async def open_tenant_session(settings: ConnectionSettings, tenant: str, *,
                              prompt_stream: TextIO | None = None) -> AsyncIterator[TenantSession]:
    """Sign-in (a device code or the browser: one prompt, or none after `kodo-provision login`; or
    the operator's automation app: none) and a Graph gateway bound to that tenant."""
    import asyncio

    from .login import sign_in_or_resume

    auth = settings.auth
    sign_in: Any
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
            method=auth.method)
    client, http = build_graph_client(settings.cloud, sign_in.graph_credential(), sign_in.scopes,
                                      ca_bundle=settings.ca_bundle)
    try:
        yield TenantSession(GraphGateway(client, settings.retry), settings.cloud, settings.ca_bundle,
                            user.username, app_caller=getattr(sign_in, "caller", None))
    finally:
        await http.aclose()


@asynccontextmanager
async def open_session_with_credential(settings: ConnectionSettings, credential: Any, scopes: tuple[str, ...],
                                       signed_in_as: str) -> AsyncIterator[TenantSession]:
    """A Graph session from a credential someone already signed in (bulk: one operator sign-in
    serving many tenants; the credential decides which tenant its tokens are for)."""
    client, http = build_graph_client(settings.cloud, credential, scopes, ca_bundle=settings.ca_bundle)
    try:
        yield TenantSession(GraphGateway(client, settings.retry), settings.cloud, settings.ca_bundle, signed_in_as)
    finally:
        await http.aclose()
