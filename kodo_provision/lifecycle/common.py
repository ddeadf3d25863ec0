"""What every lifecycle command shares: the app it addresses, and one read of the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..auth import AUTOMATION_APP_ROLES
from ..graph.gateway import Organization
from ..manifest.resolve import DesiredState
from ..onboarding import OnboardOptions, TenantSession, check_app_roles
from ..state.model import TenantState


@dataclass(frozen=True)
class AppIdentity:
    """The matched app's IDs, shown in every command's output (None where it does not exist)."""

    unique_name: str
    display_name: str
    client_id: str | None = None
    app_object_id: str | None = None
    service_principal_id: str | None = None

    @classmethod
    def of(cls, desired: DesiredState, actual: TenantState) -> AppIdentity:
        app, sp = actual.application, actual.service_principal
        return cls(desired.unique_name, app.display_name if app else desired.display_name,
                   app.app_id if app else None, app.id if app else None, sp.id if sp else None)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TenantView:
    """One read of a tenant: who it is, what the manifest wants, what it holds."""

    org: Organization
    desired: DesiredState
    actual: TenantState

    @property
    def identity(self) -> AppIdentity:
        return AppIdentity.of(self.desired, self.actual)


# What the operator's automation app needs, per command that changes the tenant (checked from its
# token before any request; a user's admin role is checked by Graph itself on the first write).
ROTATE_APP_ROLES = ("Application.ReadWrite.All", "Organization.Read.All")
OFFBOARD_APP_ROLES = AUTOMATION_APP_ROLES


async def read_view(session: TenantSession, options: OnboardOptions, *,
                    app_roles: tuple[str, ...] = ()) -> TenantView:
    """One read of the tenant; with the operator's automation app, first check `app_roles`."""
    if session.app_caller is not None and app_roles:
        check_app_roles(session.app_caller, app_roles)
    org = await session.gateway.organization()
    desired, actual = await session.read(options.manifest, options)
    return TenantView(org, desired, actual)
