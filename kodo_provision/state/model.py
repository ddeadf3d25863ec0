"""What a tenant holds now: frozen snapshots read from Graph.

These are plain values (no SDK types) so that `plan` stays pure and testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PermissionDefinition:
    """An appRole or oauth2PermissionScope as a resource service principal publishes it."""

    id: str
    value: str
    enabled: bool = True
    # appRoles only: "Application" and/or "User"; an app role assignable to apps lists "Application".
    allowed_member_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceServicePrincipal:
    """A resource API's service principal in the tenant (Microsoft Graph, Exchange Online, ...)."""

    id: str
    app_id: str
    display_name: str
    service_principal_names: tuple[str, ...] = ()
    app_roles: tuple[PermissionDefinition, ...] = ()
    scopes: tuple[PermissionDefinition, ...] = ()

    @property
    def token_resource(self) -> str | None:
        """The URI an app-only token is requested for (scope `<uri>/.default`)."""
        for name in self.service_principal_names:
            if name.startswith("https://"):
                return name.rstrip("/")
        return None


@dataclass(frozen=True)
class RequiredAccess:
    """One entry of an app's requiredResourceAccess, flattened."""

    resource_app_id: str
    id: str
    type: str  # "Role" (application) or "Scope" (delegated)


@dataclass(frozen=True)
class PasswordCredentialInfo:
    """Secret metadata; Graph never returns the secret text after creation."""

    key_id: str
    display_name: str | None
    end_date_time: datetime | None
    hint: str | None = None


@dataclass(frozen=True)
class KeyCredentialInfo:
    """Certificate metadata on the app (keyCredentials); never the private key.
    https://learn.microsoft.com/en-us/graph/api/resources/keycredential"""

    key_id: str
    custom_key_identifier: str | None  # base64 SHA-1 thumbprint for an uploaded certificate
    display_name: str | None
    end_date_time: datetime | None
    type: str | None = None
    usage: str | None = None


@dataclass(frozen=True)
class Application:
    """The KODO app registration as it stands in the tenant."""

    id: str
    app_id: str
    display_name: str
    unique_name: str | None
    sign_in_audience: str | None
    required_resource_access: frozenset[RequiredAccess] = frozenset()
    password_credentials: tuple[PasswordCredentialInfo, ...] = ()
    tags: tuple[str, ...] = ()
    # App instance property lock: credentials cannot be added to the SP behind the app's back.
    # https://learn.microsoft.com/en-us/graph/api/resources/serviceprincipallockconfiguration
    service_principal_locked: bool = True
    # Certificates (issue 8); empty when not read.
    key_credentials: tuple[KeyCredentialInfo, ...] = ()
    is_fallback_public_client: bool = False


@dataclass(frozen=True)
class ServicePrincipal:
    """The KODO app's service principal (enterprise application)."""

    id: str
    app_id: str


@dataclass(frozen=True)
class AppRoleAssignment:
    """An application permission actually granted (not merely requested)."""

    id: str
    resource_id: str
    app_role_id: str


@dataclass(frozen=True)
class PermissionGrant:
    """A delegated permission grant (oauth2PermissionGrant)."""

    id: str
    resource_id: str
    consent_type: str
    principal_id: str | None
    scopes: frozenset[str]


@dataclass(frozen=True)
class TenantState:
    """Everything about the KODO app in one tenant that the plan compares."""

    application: Application | None = None
    duplicate_applications: tuple[str, ...] = ()
    service_principal: ServicePrincipal | None = None
    app_role_assignments: tuple[AppRoleAssignment, ...] = ()
    grants: tuple[PermissionGrant, ...] = ()
    resource_service_principals: dict[str, ResourceServicePrincipal] = field(default_factory=dict)


@dataclass(frozen=True)
class HeldSecret:
    """The secret the operator holds locally (from the credentials file), by key ID."""

    key_id: str
    client_id: str
    expires_at: datetime | None


@dataclass(frozen=True)
class HeldCertificate:
    """The certificate the operator holds locally (credentials file + private key file)."""

    key_id: str
    client_id: str
    thumbprint: str  # SHA-1, upper-case hex
    expires_at: datetime | None
