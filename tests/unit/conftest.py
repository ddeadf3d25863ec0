"""Shared builders for pure tests: resource service principals as a tenant publishes them."""

from __future__ import annotations

import pytest

from kodo_provision.state.model import PermissionDefinition, ResourceServicePrincipal

GRAPH = "00000003-0000-0000-c000-000000000000"
AAD = "00000002-0000-0000-c000-000000000000"
EXO = "00000002-0000-0ff1-ce00-000000000000"

GRAPH_ROLES = {
    "Calendars.ReadWrite": "ef54d2bf-783f-4e0f-bca1-3210c0444d99",
    "Contacts.ReadWrite": "6918b873-d17a-4dc1-b314-35f528134491",
    "Files.ReadWrite.All": "75359482-378d-4052-8f01-80520e7db3cd",
    "Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
    "Sites.Read.All": "332a536c-c7ef-4017-ab91-336970924f0d",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
}
GRAPH_SCOPES = {"User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
                "User.Read.All": "a154be20-db9c-4678-8ab7-66f6cc099a59"}


def sp(app_id: str, name: str, roles: dict[str, str], scopes: dict[str, str], uri: str) -> ResourceServicePrincipal:
    return ResourceServicePrincipal(
        id=f"sp-{name.lower().replace(' ', '-')}", app_id=app_id, display_name=name,
        service_principal_names=(app_id, uri),
        app_roles=tuple(PermissionDefinition(i, v, True, ("Application",)) for v, i in roles.items()),
        scopes=tuple(PermissionDefinition(i, v) for v, i in scopes.items()))


@pytest.fixture
def tenant_sps() -> dict[str, ResourceServicePrincipal]:
    return {
        GRAPH: sp(GRAPH, "Microsoft Graph", GRAPH_ROLES, GRAPH_SCOPES, "https://graph.microsoft.com"),
        AAD: sp(AAD, "Windows Azure Active Directory", {"Directory.Read.All": "5778995a-e1bf-45b8-affa-663a9f3f4d04"},
                {"User.Read.All": "c582532d-9d9e-43bd-a97c-2667a28ce295"}, "https://graph.windows.net"),
        EXO: sp(EXO, "Office 365 Exchange Online", {"full_access_as_app": "dc890d15-9560-4a4c-9b7f-a736ec74ec40"},
                {}, "https://outlook.office365.com"),
    }
