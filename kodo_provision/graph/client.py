"""Build the msgraph client: our httpx client (CA bundle, proxy from env, timeouts), the SDK's
middleware with its RetryHandler switched off (tenacity owns retries, so attempts do not
multiply), explicit scopes and base URL (graph-facts §1)."""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as msgraph_options
from msgraph_core import GraphClientFactory

from .. import environment
from ..cloud import Cloud
from .request_ids import record_request_id

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=20.0)


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Trust `ca_bundle` when given; otherwise httpx's defaults (which honour SSL_CERT_FILE).
    One context per bundle file version for the whole process: loading a CA file costs
    milliseconds of CPU, and bulk opens a client per tenant (an SSLContext is safe to share)."""
    if not ca_bundle:
        return _context(None, 0, environment.getenv("SSL_CERT_FILE"))
    stat = os.stat(ca_bundle)
    return _context(ca_bundle, stat.st_mtime_ns ^ stat.st_size, None)


@functools.lru_cache(maxsize=8)
def _context(ca_bundle: str | None, version: int, env_bundle: str | None) -> ssl.SSLContext:
    # `version` and `env_bundle` are only cache keys: a rewritten bundle gets a new context.
    if ca_bundle is None:
        return httpx.create_ssl_context(trust_env=True)
    return ssl.create_default_context(cafile=ca_bundle)


def build_graph_client(cloud: Cloud, credential: Any, scopes: tuple[str, ...], *,
                       ca_bundle: str | None = None) -> tuple[GraphServiceClient, httpx.AsyncClient]:
    """A GraphServiceClient bound to one credential; close the returned httpx client when done."""
    http = httpx.AsyncClient(verify=ssl_context(ca_bundle), timeout=DEFAULT_TIMEOUT, trust_env=True,
                             event_hooks={"response": [record_request_id]})  # audit record (request_ids.py)
    options = {**msgraph_options, RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0)}
    http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
    auth = AzureIdentityAuthenticationProvider(credential, scopes=list(scopes),
                                               allowed_hosts=[cloud.graph_host])
    adapter = GraphRequestAdapter(auth, client=http)
    # Set explicitly and without a trailing slash: httpx's base URL would give "/v1.0//x".
    adapter.base_url = cloud.graph_base_url
    return GraphServiceClient(request_adapter=adapter), http
