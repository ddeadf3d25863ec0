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

# What the read-only commands (plan, verify) ask for: read the app, the service principals, their app role
# assignments and delegated grants (Directory.Read.All is the least privileged delegated permission that
# lists oauth2PermissionGrants: https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-list),
# and the signed-in user (User.Read). No write scope. The directory roles come from the token's `wids`.
# Entra adds every scope already consented for the client to its tokens ("additive scopes",
# https://learn.microsoft.com/en-us/answers/questions/78683): asking for less keeps the consent prompt and
# the request minimal; it cannot make a token weaker than what the tenant consented to before.
READ_SCOPES = (
    "Directory.Read.All",
    "User.Read",
)

# First-party clients preauthorized for a fixed Microsoft Graph scope set: they cannot ask for explicit
# scopes (AADSTS65002, graph-facts §10), only `.default`, and the set is undocumented and may change.
# So the tool asks for `.default` and reads the token's `scp` before anything else (preauthorized_gaps).
PREAUTHORIZED_CLIENTS = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Microsoft Azure CLI",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Microsoft Azure PowerShell",
}
# Each admin scope, and the broader delegated scopes that also allow what the tool does with it
# (the "Permissions" tables of the Graph API reference for each call).
SCOPE_ALTERNATIVES = {
    "Application.ReadWrite.All": ("Application.ReadWrite.All", "Directory.AccessAsUser.All"),
    "AppRoleAssignment.ReadWrite.All": ("AppRoleAssignment.ReadWrite.All",),
    "DelegatedPermissionGrant.ReadWrite.All": ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All",
                                               "Directory.AccessAsUser.All"),
    "RoleManagement.Read.Directory": ("RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory",
                                      "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"),
    "User.Read": ("User.Read", "User.ReadWrite", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                  "Directory.AccessAsUser.All"),
}


def preauthorized_gaps(scp: str) -> list[str]:
    """The admin scopes a preauthorized client's token (its `scp`) does not cover, even by a broader one."""
    held = set(scp.split())
    return [need for need in ADMIN_SCOPES if not held & set(SCOPE_ALTERNATIVES.get(need, (need,)))]


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


