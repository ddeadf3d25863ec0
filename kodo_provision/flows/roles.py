"""Who may run a flow: the signed-in admin's directory roles, or the automation app's permissions."""

from __future__ import annotations

from ..auth import AUTOMATION_APP_ROLES, AppCaller
from ..errors import InsufficientPrivilegesError
from ..manifest.model import Manifest

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Directory role template IDs (the same in every tenant).
# https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"


def needed_roles(manifest: Manifest) -> tuple[set[str], str]:
    """Role template IDs any one of which may grant the manifest, and a readable name.
    Cloud/Application Administrators may consent to anything except Microsoft Graph app roles.
    https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent"""
    graph_app_roles = any(r.app_id == MICROSOFT_GRAPH_APP_ID and r.application for r in manifest.resources)
    if graph_app_roles:
        return ({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR},
                "Global Administrator or Privileged Role Administrator")
    return ({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, APPLICATION_ADMINISTRATOR,
             CLOUD_APPLICATION_ADMINISTRATOR},
            "Global Administrator, Privileged Role Administrator or (Cloud) Application Administrator")


def check_roles(roles: frozenset[str] | None, manifest: Manifest, upn: str) -> list[str]:
    """Refuse up front when the signed-in user cannot grant the manifest; notes on soft failures.
    `roles` is None when Graph refused to list them (403)."""
    allowed, label = needed_roles(manifest)
    if roles is None:
        return ["could not read your directory roles; continuing (consent fails later without the role)"]
    if not roles & allowed:
        raise InsufficientPrivilegesError(
            f"{upn} is not a {label}, which granting this manifest's permissions requires",
            hint="sign in as a Global Administrator, or activate Privileged Role Administrator (PIM) and retry")
    return []


# What each application permission the automation app needs may be replaced by (a broader one).
# Application.ReadWrite.OwnedBy is not enough: onboarding creates an app the automation app does not own
# until it exists. https://learn.microsoft.com/en-us/graph/permissions-reference
_APP_ROLE_ALTERNATIVES = {
    "Application.ReadWrite.All": ("Application.ReadWrite.All",),
    "AppRoleAssignment.ReadWrite.All": ("AppRoleAssignment.ReadWrite.All",),
    "DelegatedPermissionGrant.ReadWrite.All": ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"),
    "Organization.Read.All": ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                              "Directory.ReadWrite.All"),
}


def check_app_roles(caller: AppCaller, needed: tuple[str, ...] = AUTOMATION_APP_ROLES) -> None:
    """Refuse before any Graph request when the automation app's token lacks an application
    permission the command needs (default: onboarding's). The token's `roles` are the app role
    assignments consented in this tenant, so they are the truth (no /me, no directory roles for an app)."""
    missing = [need for need in needed
               if not caller.roles & set(_APP_ROLE_ALTERNATIVES.get(need, (need,)))]
    if missing:
        raise InsufficientPrivilegesError(
            f"the automation app {caller.app_id} lacks the Microsoft Graph application permission(s) "
            f"{', '.join(missing)} in this tenant",
            hint="grant them to the automation app in this tenant (admin consent for Microsoft Graph application "
                 "permissions, by a Global Administrator or Privileged Role Administrator) and run again")
