"""What every sign-in shares: the public client, the scopes the tool asks for, tenant
validation, the --auth methods, token claims and the authority settings of azure-identity credentials."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from ..cloud import Cloud
from ..errors import UsageError

# Microsoft Graph Command Line Tools: a public client that may request explicit Graph scopes
# (so the admin consents to exactly the least-privilege set below). Azure CLI's client ID,
# azure-identity's default, is preauthorised for a fixed scope set and fails explicit scopes
# with AADSTS65002. Pass --client-id to use KODO's or the customer's own public client.
GRAPH_CLI_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

# Least-privilege delegated scopes: create the app, add its secret and service principal
# (Application.ReadWrite.All), grant application permissions (AppRoleAssignment.ReadWrite.All),
# grant delegated permissions (DelegatedPermissionGrant.ReadWrite.All), read the signed-in
# user and tenant (User.Read) and the user's directory roles for the preflight check
# (RoleManagement.Read.Directory).
# https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto
# https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-post
# https://learn.microsoft.com/en-us/graph/api/application-upsert
ADMIN_SCOPES = (
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "RoleManagement.Read.Directory",
    "User.Read",
)

TENANT_PATTERN = re.compile(r"^(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|"
                            r"(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                            r"[A-Za-z]{2,63})$")


def validate_tenant(tenant: str) -> str:
    """A tenant GUID or a verified domain; anything else is refused before sign-in."""
    value = tenant.strip()
    if not TENANT_PATTERN.match(value):
        raise UsageError(f"{tenant!r} is not a tenant ID or domain",
                         hint="pass the directory (tenant) GUID or a verified domain such as "
                              "contoso.onmicrosoft.com")
    return value.lower()


AUTH_METHODS = ("device-code", "browser", "client-secret", "certificate")


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, without verifying it (we only read what the issuer told us)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


def authority_kwargs(cloud: Cloud, ca_bundle: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "authority": cloud.authority_host,
        "disable_instance_discovery": not cloud.known_authority,
    }
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    return kwargs


