"""Read what the tenant holds now (level-based: every run reads the tenant afresh; there is
no local state file, the tenant is the state)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ..graph.gateway import GraphGateway
from .model import ResourceServicePrincipal, TenantState


async def read_resource_service_principals(gateway: GraphGateway, app_ids: Iterable[str]
                                           ) -> dict[str, ResourceServicePrincipal | None]:
    """The tenant's service principal of each resource API (None where it is missing)."""
    ids = list(dict.fromkeys(app_ids))
    found = await asyncio.gather(*(gateway.resource_service_principal(a) for a in ids))
    return dict(zip(ids, found, strict=True))


async def read_tenant_state(gateway: GraphGateway, unique_name: str,
                            resource_sps: dict[str, ResourceServicePrincipal | None]) -> TenantState:
    """The KODO app, its service principal, its grants and assignments, as they are now."""
    app = await gateway.application_by_unique_name(unique_name)
    if app is None:
        return TenantState(resource_service_principals={k: v for k, v in resource_sps.items() if v})
    sp = await gateway.service_principal(app.app_id)
    assignments: tuple = ()
    grants: tuple = ()
    if sp is not None:
        assignments, grants = await asyncio.gather(gateway.app_role_assignments(sp.id),
                                                   gateway.permission_grants(sp.id))
    return TenantState(application=app, service_principal=sp, app_role_assignments=assignments,
                       grants=grants,
                       resource_service_principals={k: v for k, v in resource_sps.items() if v})
