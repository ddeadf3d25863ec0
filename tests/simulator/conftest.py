"""Fixtures for the simulator's own tests: one simulator per session, reset before each test.

Everything goes through the real stacks over TLS: azure-identity/MSAL for sign-in and
msgraph-sdk (kiota + httpx) for Graph, configured as graph-facts §1/§4 describe.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import msgraph.graph_request_adapter as graph_request_adapter
import pytest
from azure.identity import ClientSecretCredential, DeviceCodeCredential
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from kodo_provision.simulator import Scenario, Simulator

GRAPH_CLI_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"
PARTNER = "msp-partner.onmicrosoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
ADMIN_SCOPES = [
    "https://graph.microsoft.com/Application.ReadWrite.All",
    "https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All",
    "https://graph.microsoft.com/DelegatedPermissionGrant.ReadWrite.All",
    "https://graph.microsoft.com/User.Read",
]


@pytest.fixture(scope="session")
def sim():
    scenario = Scenario.default() | Scenario.model_validate({"sign_in": {"interval": 0}})
    with Simulator(scenario) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def fresh(request):
    """Every test starts from the scenario's initial state (only when it uses the simulator)."""
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").reset()
    yield


def sign_in(sim: Simulator, tenant: str = CONTOSO, upn: str | None = None, scopes: list[str] | None = None,
            **kwargs: Any) -> DeviceCodeCredential:
    """A real DeviceCodeCredential signed in (CAE cache!) as `upn` (default: the tenant's sign-in user)."""
    if upn:
        sim.set_sign_in(tenant=tenant, user=upn)
    cred = DeviceCodeCredential(
        client_id=GRAPH_CLI_TOOLS, tenant_id=tenant, authority=sim.url, disable_instance_discovery=True,
        connection_verify=sim.ca_bundle_path, prompt_callback=lambda *a: None, timeout=20, **kwargs)
    cred.authenticate(scopes=scopes or ADMIN_SCOPES, enable_cae=True)
    return cred


def graph_client(sim: Simulator, cred: Any, scopes: list[str] | None = None, retries: int = 0,
                 base_url: str | None = None, **http_kwargs: Any) -> GraphServiceClient:
    """msgraph-sdk over our own httpx client trusting the simulator CA (RetryHandler off by default)."""
    ctx = ssl.create_default_context(cafile=sim.ca_bundle_path)
    options = dict(graph_request_adapter.options)
    options[RetryHandlerOption.get_key()] = RetryHandlerOption(max_retries=retries, delay=0)
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ctx, **http_kwargs), options=options)
    adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(cred, scopes=scopes or ADMIN_SCOPES),
                                  client=http)
    adapter.base_url = base_url or sim.url + "/v1.0"
    return GraphServiceClient(request_adapter=adapter)


_LOOP = asyncio.new_event_loop()


def run(coro):
    """Run a coroutine on one long-lived loop (httpx async clients are bound to the loop they first used)."""
    return _LOOP.run_until_complete(coro)


def token_of(cred: Any, *scopes: str, **kwargs: Any) -> str:
    """An access token string (CAE flavour, like msgraph-sdk asks)."""
    return cred.get_token(*(scopes or ADMIN_SCOPES), enable_cae=True, **kwargs).token


def claims(token: str) -> dict[str, Any]:
    """Unverified claims of a JWT."""
    return jwt.decode(token, options={"verify_signature": False})


def app_only(sim: Simulator, tenant: str, client_id: str, secret: str) -> ClientSecretCredential:
    """A real ClientSecretCredential against the simulator."""
    return ClientSecretCredential(tenant, client_id, secret, authority=sim.url, disable_instance_discovery=True,
                                  connection_verify=sim.ca_bundle_path)


@pytest.fixture
def raw(sim) -> Callable[..., httpx.Response]:
    """Plain HTTPS calls to the simulator: raw(method, path, token=None, **httpx kwargs)."""
    client = httpx.Client(verify=ssl.create_default_context(cafile=sim.ca_bundle_path), base_url=sim.url)

    def call(method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return client.request(method, path, headers=headers, **kwargs)

    yield call
    client.close()
