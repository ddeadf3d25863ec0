"""Helpers for the lifecycle tests (issue 4): simulator state edits and Graph calls as another admin."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
from azure.identity import CertificateCredential, ClientSecretCredential, DeviceCodeCredential

from .conftest import CONTOSO

GRAPH_CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
# The admin working outside kodo-provision signs in with another client (Graph Explorer): Entra adds every
# scope consented to a client to its tokens (additive scopes), so consenting the tool's own client to the
# admin's Policy scopes would quietly hand them to the tool.
GRAPH_EXPLORER = "de8bc8b5-d9f9-48b1-a8ad-b748da725064"


def creds_file(tmp_path: Path, tenant: str = CONTOSO) -> Path:
    return tmp_path / f"kodo-credentials-{tenant}.json"


def set_secret_end(sim, tenant: str, key_id: str, end: str) -> None:
    """Move a secret's endDateTime (e.g. into the past). The simulator has no public helper for
    this yet, so the test edits its store under the simulator's lock."""
    handle = sim.tenant(tenant)
    with sim.core.lock:
        t = sim.core.directory.tenants[handle.id]
        for app in t.applications.values():
            for cred in app.data.get("passwordCredentials", []):
                if cred["keyId"].lower() == key_id.lower():
                    cred["endDateTime"] = end
                    return
    raise KeyError(key_id)


def app_token_works(sim, creds_path: Path, resource: str = "https://graph.microsoft.com") -> bool:
    """An app-only token with the file's secret, or a client assertion signed by its certificate
    key, exactly as KODO would get one."""
    creds = json.loads(creds_path.read_text())
    options = {"authority": sim.url, "disable_instance_discovery": True, "connection_verify": str(sim.ca_bundle_path)}
    credential: Any
    if creds.get("credential_type") == "certificate":
        credential = CertificateCredential(creds["tenant_id"], creds["client_id"], creds["certificate_path"], **options)
    else:
        credential = ClientSecretCredential(creds["tenant_id"], creds["client_id"], creds["client_secret"], **options)
    try:
        return bool(credential.get_token(f"{resource}/.default").token)
    finally:
        credential.close()


ADMIN_PORTAL_SCOPES = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                       "DelegatedPermissionGrant.ReadWrite.All")


def graph_as_admin(sim, method: str, path: str, body: dict[str, Any] | None = None,
                   tenant: str = CONTOSO, headers: dict[str, str] | None = None,
                   scopes: tuple[str, ...] = ADMIN_PORTAL_SCOPES) -> httpx.Response:
    """A Graph request by the tenant's admin outside kodo-provision (someone in the portal)."""
    credential = DeviceCodeCredential(client_id=GRAPH_EXPLORER, tenant_id=tenant, authority=sim.url,
                                      disable_instance_discovery=True, connection_verify=str(sim.ca_bundle_path),
                                      prompt_callback=lambda *a: None)
    token = credential.get_token(*(f"https://graph.microsoft.com/{s}" for s in scopes)).token
    with httpx.Client(verify=str(sim.ca_bundle_path)) as client:
        return client.request(method, f"{sim.url}/v1.0{path}", json=body,
                              headers={"Authorization": f"Bearer {token}", **(headers or {})})


@contextlib.asynccontextmanager
async def policy_reader_session(sim):
    """A Graph session like onboard's, whose token also holds Policy.Read.All (an operator who
    may read app-management policies), for calling the flows directly."""
    from kodo_provision.auth import ADMIN_SCOPES, GRAPH_CLI_CLIENT_ID, AsyncCredential
    from kodo_provision.cloud import resolve_cloud
    from kodo_provision.flows.session import ConnectionSettings, open_session_with_credential

    cloud = resolve_cloud("global", authority_host=sim.url, graph_endpoint=sim.url)
    scopes = tuple(cloud.graph_scope(s) for s in (*ADMIN_SCOPES, "Policy.Read.All"))
    credential = DeviceCodeCredential(client_id=GRAPH_CLI_CLIENT_ID, tenant_id=CONTOSO, authority=sim.url,
                                      disable_instance_discovery=True, connection_verify=str(sim.ca_bundle_path),
                                      prompt_callback=lambda *args: None)
    settings = ConnectionSettings(cloud=cloud, ca_bundle=str(sim.ca_bundle_path))
    async with open_session_with_credential(settings, AsyncCredential(credential), scopes,
                                            "admin@contoso.onmicrosoft.com") as session:
        yield session
