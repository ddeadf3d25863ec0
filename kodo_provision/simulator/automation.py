"""Operators' automation apps from the scenario: a multi-tenant app registered in its home tenant,
consented in customer tenants (a service principal there plus Microsoft Graph app role assignments).

An MSP runs kodo_provision with such an app (`--auth client-secret|certificate`) instead of a user.
Its client-credential tokens carry as `roles` the live app role assignments of its service principal
in the tenant asked for (client_credentials._app_only_token), so removing an assignment in a test takes
effect on the next token, as in Entra.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/en-us/entra/identity-platform/howto-convert-app-to-be-multi-tenant
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .catalogue import MICROSOFT_GRAPH_APP_ID, stable_id
from .graph.applications import apply_key_credentials, secret_hash
from .scenario import AutomationAppSpec, Scenario
from .store import Directory, Obj, Tenant

_CREATED = "2025-01-01T00:00:00Z"


def _application(spec: AutomationAppSpec, home: Tenant) -> Obj:
    app_object_id = stable_id(home.id, "automation-app", spec.app_id)
    end = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "id": app_object_id, "appId": spec.app_id, "displayName": spec.display_name, "uniqueName": None,
        "createdDateTime": _CREATED, "deletedDateTime": None, "description": None, "notes": None,
        "publisherDomain": home.default_domain, "signInAudience": "AzureADMultipleOrgs", "identifierUris": [],
        "tags": [], "appRoles": [], "requiredResourceAccess": [], "keyCredentials": [],
        "api": {"oauth2PermissionScopes": [], "preAuthorizedApplications": [], "requestedAccessTokenVersion": None},
        "web": {"redirectUris": [], "homePageUrl": None, "logoutUrl": None},
        "publicClient": {"redirectUris": []}, "spa": {"redirectUris": []}, "info": {},
        "passwordCredentials": [],
    }
    obj = Obj(body, extra={"owners": [], "secrets": {}})
    for i, secret in enumerate(spec.secrets):
        key_id = stable_id(spec.app_id, "secret", str(i))
        body["passwordCredentials"].append({
            "customKeyIdentifier": None, "displayName": "automation", "endDateTime": end, "hint": secret[:3],
            "keyId": key_id, "secretText": None, "startDateTime": _CREATED})
        # created long ago: not subject to the "brand-new secret" delay fault
        obj.extra["secrets"][key_id] = {"hash": secret_hash(secret), "created": float("-inf")}
    if spec.certificates:
        apply_key_credentials(obj, [
            {"keyId": stable_id(spec.app_id, "cert", str(i)), "type": "AsymmetricX509Cert", "usage": "Verify",
             "key": base64.b64encode(x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)).decode()}
            for i, pem in enumerate(spec.certificates)])
        for entry in obj.extra["certs"].values():
            entry["created"] = float("-inf")  # registered long ago: not subject to the new-key delay
    return obj


def _service_principal(spec: AutomationAppSpec, tenant: Tenant, home: Tenant) -> Obj:
    sp_id = stable_id(tenant.id, "automation-sp", spec.app_id)
    return Obj({
        "id": sp_id, "appId": spec.app_id, "displayName": spec.display_name, "appDisplayName": spec.display_name,
        "appOwnerOrganizationId": home.id, "accountEnabled": True, "appRoleAssignmentRequired": False,
        "servicePrincipalType": "Application", "signInAudience": "AzureADMultipleOrgs",
        "servicePrincipalNames": [spec.app_id], "tags": [], "appRoles": [], "oauth2PermissionScopes": [],
        "createdDateTime": _CREATED, "deletedDateTime": None,
    })


def _assign_graph_roles(tenant: Tenant, sp: Obj, role_values: list[str]) -> None:
    graph = tenant.sp_by("appId", MICROSOFT_GRAPH_APP_ID)
    if graph is None:
        raise ValueError(f"tenant {tenant.default_domain} has no Microsoft Graph service principal")
    ids = {r["value"]: r["id"] for r in graph.data.get("appRoles", [])}
    for value in role_values:
        if value not in ids:
            raise ValueError(f"automation app: unknown Microsoft Graph app role {value!r}")
        aid = stable_id(tenant.id, "automation-assignment", sp.id, value)
        tenant.assignments[aid] = Obj({
            "id": aid, "appRoleId": ids[value], "createdDateTime": _CREATED, "deletedDateTime": None,
            "principalDisplayName": sp.data["displayName"], "principalId": sp.id,
            "principalType": "ServicePrincipal", "resourceDisplayName": graph.data["displayName"],
            "resourceId": graph.id,
        })


def seed_automation_apps(directory: Directory, scenario: Scenario) -> None:
    """Create every automation app of the scenario, consented where the scenario says."""
    for spec in scenario.automation_apps:
        home = directory.resolve(spec.home_tenant)
        if home is None:
            raise ValueError(f"automation app {spec.display_name}: unknown home tenant {spec.home_tenant!r}")
        app = _application(spec, home)
        home.applications[app.id] = app
        for consent in spec.consented_in:
            tenant = directory.resolve(consent.tenant)
            if tenant is None:
                raise ValueError(f"automation app {spec.display_name}: unknown tenant {consent.tenant!r}")
            sp = _service_principal(spec, tenant, home)
            tenant.service_principals[sp.id] = sp
            _assign_graph_roles(tenant, sp, consent.graph_roles)
