"""Plan steps: what apply will do, in order, each a plain value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

PLAN_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Step:
    """One change to the tenant. `permission` is the delegated Graph permission it needs."""

    kind: ClassVar[str] = "step"
    permission: ClassVar[str] = ""
    # What the step does to the tenant, as terraform marks it: "+" adds, "~" changes, "-" removes.
    change: ClassVar[str] = "+"

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def marker(self) -> str:
        """The change marker, as terraform shows it: "+" adds, "~" changes (an update of what exists), "-" removes."""
        return self.change

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "change": self.marker, "description": self.describe(), **asdict(self)}


@dataclass(frozen=True)
class CreateResourceServicePrincipal(Step):
    """A first-party resource API (e.g. Exchange Online) has no SP in the tenant yet."""

    kind: ClassVar[str] = "create_resource_service_principal"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    resource_app_id: str
    resource_name: str
    pending_permissions: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"create the service principal of {self.resource_name} ({self.resource_app_id})"
        if self.pending_permissions:
            text += f", then grant {', '.join(self.pending_permissions)}"
        return text


@dataclass(frozen=True)
class UpsertApplication(Step):
    """Create the app registration, or bring its properties to the manifest."""

    kind: ClassVar[str] = "upsert_application"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    unique_name: str
    display_name: str
    create: bool
    changed_fields: tuple[str, ...] = ()

    @property
    def marker(self) -> str:
        return "+" if self.create else "~"

    def describe(self) -> str:
        if self.create:
            return f"create app registration {self.display_name!r} (uniqueName {self.unique_name})"
        return f"update app registration {self.display_name!r}: {', '.join(self.changed_fields)}"


@dataclass(frozen=True)
class CreateServicePrincipal(Step):
    """The app's service principal, which consent is granted to."""

    kind: ClassVar[str] = "create_service_principal"
    permission: ClassVar[str] = "Application.ReadWrite.All"

    def describe(self) -> str:
        return "create the app's service principal (enterprise application)"


@dataclass(frozen=True)
class GrantAppRole(Step):
    """Admin consent for one application permission: an app role assignment."""

    kind: ClassVar[str] = "grant_app_role"
    permission: ClassVar[str] = "AppRoleAssignment.ReadWrite.All"
    resource_name: str
    resource_app_id: str
    resource_sp_id: str
    app_role_id: str
    permission_name: str

    def describe(self) -> str:
        return f"grant application permission {self.resource_name} / {self.permission_name}"


@dataclass(frozen=True)
class GrantDelegated(Step):
    """Admin consent for delegated permissions: one AllPrincipals grant per resource.

    A second grant for the same client/resource pair is refused by Graph (409), so an
    existing grant is updated with the union of scopes instead (grant_id set).
    https://learn.microsoft.com/en-us/graph/api/resources/oauth2permissiongrant
    """

    kind: ClassVar[str] = "grant_delegated"
    permission: ClassVar[str] = "DelegatedPermissionGrant.ReadWrite.All"
    resource_name: str
    resource_app_id: str
    resource_sp_id: str
    scopes: tuple[str, ...]
    added: tuple[str, ...]
    grant_id: str | None = None
    # With --prune: scopes the manifest does not list, dropped by the same update.
    removed: tuple[str, ...] = ()

    @property
    def marker(self) -> str:
        return "~" if self.grant_id else "+"

    def describe(self) -> str:
        verb = "update" if self.grant_id else "create"
        text = f"{verb} delegated grant for all users on {self.resource_name}: add {' '.join(self.added)}"
        return text + (f"; remove {' '.join(self.removed)}" if self.removed else "")


@dataclass(frozen=True)
class RemoveOrphanSecret(Step):
    """A secret an interrupted run added but never handed off: nobody holds it."""

    kind: ClassVar[str] = "remove_orphan_secret"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    key_id: str
    display_name: str

    def describe(self) -> str:
        return f"remove secret {self.display_name!r} ({self.key_id}): added by an interrupted run, held by nobody"


@dataclass(frozen=True)
class RemoveOrphanCertificate(Step):
    """A certificate an interrupted run uploaded but never recorded in a credentials file."""

    kind: ClassVar[str] = "remove_orphan_certificate"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    key_id: str
    display_name: str

    def describe(self) -> str:
        return (f"remove certificate {self.display_name!r} ({self.key_id}): added by an interrupted run, "
                "held by nobody")


@dataclass(frozen=True)
class AddSecret(Step):
    """A new client secret for KODO."""

    kind: ClassVar[str] = "add_secret"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    display_name: str
    lifetime_days: int
    reason: str

    def describe(self) -> str:
        return f"add client secret {self.display_name!r} valid {self.lifetime_days} days ({self.reason})"


@dataclass(frozen=True)
class AddCertificate(Step):
    """A new certificate for KODO: key pair made locally, only the public certificate uploaded
    to the app's keyCredentials (application update). Issue 8."""

    kind: ClassVar[str] = "add_certificate"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    display_name: str
    lifetime_days: int
    reason: str

    def describe(self) -> str:
        return f"add certificate {self.display_name!r} valid {self.lifetime_days} days ({self.reason})"


@dataclass(frozen=True)
class RevokeAppRole(Step):
    """Remove an application permission the manifest does not list (--prune, offboard)."""

    kind: ClassVar[str] = "revoke_app_role"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "AppRoleAssignment.ReadWrite.All"
    assignment_id: str
    resource_name: str
    resource_sp_id: str
    app_role_id: str
    permission_name: str

    def describe(self) -> str:
        return f"revoke application permission {self.resource_name} / {self.permission_name}"


@dataclass(frozen=True)
class RevokeDelegated(Step):
    """Remove delegated scopes from an AllPrincipals grant; the whole grant when none remain."""

    kind: ClassVar[str] = "revoke_delegated"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "DelegatedPermissionGrant.ReadWrite.All"
    grant_id: str
    resource_name: str
    resource_sp_id: str
    removed: tuple[str, ...]
    remaining: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.remaining:
            return f"remove the delegated grant on {self.resource_name} ({' '.join(self.removed) or 'no scopes'})"
        return f"remove delegated scopes {' '.join(self.removed)} from the grant on {self.resource_name}"


@dataclass(frozen=True)
class DeleteServicePrincipal(Step):
    """Offboard: the app's service principal (enterprise application)."""

    kind: ClassVar[str] = "delete_service_principal"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    service_principal_id: str
    app_id: str

    def describe(self) -> str:
        return f"delete the app's service principal {self.service_principal_id}"


@dataclass(frozen=True)
class RemovePartnerConsent(Step):
    """Offboard --partner-consent: the CSP partner's sign-in app consented here through Partner Center
    (deleting its service principal removes its delegated grants with it)."""

    kind: ClassVar[str] = "remove_partner_consent"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    service_principal_id: str
    app_id: str

    def describe(self) -> str:
        return f"remove the partner sign-in app's consent (its service principal {self.service_principal_id})"


@dataclass(frozen=True)
class DeleteApplication(Step):
    """Offboard: the app registration (soft delete: 30 days in deleted items)."""

    kind: ClassVar[str] = "delete_application"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    object_id: str
    app_id: str
    display_name: str
    unique_name: str

    def describe(self) -> str:
        return (f"delete app registration {self.display_name!r} (uniqueName {self.unique_name}, "
                f"client ID {self.app_id}); Entra keeps it 30 days in deleted items")


@dataclass(frozen=True)
class PurgeApplication(Step):
    """Offboard --purge: remove the soft-deleted app from deleted items for good."""

    kind: ClassVar[str] = "purge_application"
    change: ClassVar[str] = "-"
    permission: ClassVar[str] = "Application.ReadWrite.All"
    object_id: str
    display_name: str

    def describe(self) -> str:
        return f"purge app registration {self.display_name!r} ({self.object_id}) from deleted items (permanent)"


@dataclass(frozen=True)
class Plan:
    """An ordered list of steps; empty means the tenant already matches the manifest."""

    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.steps

    def of_kind(self, step_type: type[Step]) -> list[Step]:
        return [s for s in self.steps if isinstance(s, step_type)]

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form (schema_version bumps on any incompatible change)."""
        return {
            "schema_version": PLAN_SCHEMA_VERSION,
            "changes": len(self.steps),
            "steps": [s.to_dict() for s in self.steps],
            "notes": list(self.notes),
        }
