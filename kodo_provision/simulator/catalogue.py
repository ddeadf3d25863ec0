"""The catalogue of first-party resource service principals (data/first_party.yaml)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from importlib import resources

import yaml

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Microsoft's own tenant owns first-party apps (appOwnerOrganizationId on their SPs).
MICROSOFT_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"


@dataclass(frozen=True)
class FirstPartyResource:
    """A Microsoft resource API and the permissions it publishes."""

    app_id: str
    display_name: str
    service_principal_names: tuple[str, ...]
    app_roles: dict[str, str]  # value -> id
    scopes: dict[str, str]  # value -> id
    partner_only: bool = False  # only in CSP partner tenants (Partner Center)

    def service_principal_body(self, object_id: str) -> dict:
        """The servicePrincipal resource as Graph returns it for this first-party API.

        Shape: https://learn.microsoft.com/en-us/graph/api/resources/serviceprincipal
        """
        return {
            "id": object_id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "appDisplayName": self.display_name,
            "appOwnerOrganizationId": MICROSOFT_TENANT_ID,
            "accountEnabled": True,
            "servicePrincipalType": "Application",
            "signInAudience": "AzureADMultipleOrgs",
            "servicePrincipalNames": list(self.service_principal_names),
            "tags": [],
            "appRoles": [
                {
                    "id": rid,
                    "value": value,
                    "displayName": value,
                    "description": value,
                    "allowedMemberTypes": ["Application"],
                    "isEnabled": True,
                    "origin": "Application",
                }
                for value, rid in self.app_roles.items()
            ],
            "oauth2PermissionScopes": [
                {
                    "id": sid,
                    "value": value,
                    "adminConsentDisplayName": value,
                    "adminConsentDescription": value,
                    "userConsentDisplayName": value,
                    "userConsentDescription": value,
                    "type": "Admin" if value.endswith(".All") else "User",
                    "isEnabled": True,
                }
                for value, sid in self.scopes.items()
            ],
        }


@functools.cache
def first_party_resources() -> dict[str, FirstPartyResource]:
    """All first-party resources, keyed by appId (loaded once from the package data)."""
    text = resources.files("kodo_provision.simulator").joinpath("data/first_party.yaml").read_text()
    raw = yaml.safe_load(text)
    out: dict[str, FirstPartyResource] = {}
    for item in raw["resources"]:
        out[item["appId"]] = FirstPartyResource(
            app_id=item["appId"],
            display_name=item["displayName"],
            service_principal_names=tuple(item["servicePrincipalNames"]),
            app_roles=dict(item.get("appRoles") or {}),
            scopes=dict(item.get("oauth2PermissionScopes") or {}),
            partner_only=bool(item.get("partnerOnly")),
        )
    return out


def stable_id(*parts: str) -> str:
    """A deterministic GUID (so pre-created objects have the same id in every run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kodo-sim:" + ":".join(parts)))
