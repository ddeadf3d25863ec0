"""Read what the tenant holds now (level-based: every run reads the tenant afresh; there is
no local state file, the tenant is the state). Reads are batched: the app's service principal,
assignments and grants come back in one request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from ..graph.batched import BatchedReads
from ..graph.gateway import GraphGateway
from .model import Application, ResourceServicePrincipal, TenantState

_UNKNOWN: Any = object()


async def read_resource_service_principals(gateway: GraphGateway, app_ids: Iterable[str]
                                           ) -> dict[str, ResourceServicePrincipal | None]:
    """The tenant's service principal of each resource API (None where it is missing)."""
    ids = list(dict.fromkeys(app_ids))
    found = await asyncio.gather(*(gateway.resource_service_principal(a) for a in ids))
    return dict(zip(ids, found, strict=True))


async def read_tenant_state(gateway: GraphGateway, unique_name: str,
                            resource_sps: dict[str, ResourceServicePrincipal | None], *,
                            application: Application | None = _UNKNOWN,
                            app_id: str | None = None) -> TenantState:
    """The KODO app, its service principal, its grants and assignments, as they are now.

    `application`: the app as already read (None: known to be absent). `app_id`: its appId when
    known, so app and dependents are read together in one request. Neither: two requests.
    """
    present = {k: v for k, v in resource_sps.items() if v}
    if application is _UNKNOWN and app_id is None:
        application = await gateway.application_by_unique_name(unique_name)
    if application is None:
        return TenantState(resource_service_principals=present)
    reads = BatchedReads(gateway)
    if application is _UNKNOWN:
        assert app_id is not None
        state = await reads.app_state(app_id, unique_name=unique_name)
        application = state.application
        if application is None:
            return TenantState(resource_service_principals=present)
    else:
        state = await reads.app_state(application.app_id)
    assignments = state.assignments if state.service_principal else ()
    grants = state.grants if state.service_principal else ()
    present |= await _unlisted_resources(gateway, present, {a.resource_id for a in assignments}
                                         | {g.resource_id for g in grants})
    return TenantState(application=application, service_principal=state.service_principal,
                       app_role_assignments=assignments, grants=grants, resource_service_principals=present)


async def _unlisted_resources(gateway: GraphGateway, present: dict[str, ResourceServicePrincipal],
                              held_on: set[str]) -> dict[str, ResourceServicePrincipal]:
    """The resource APIs the app holds permissions on that the manifest does not list (a profile that dropped
    them, or drift): read by object ID so a plan names what it revokes. No request when there are none."""
    known = {sp.id for sp in present.values()}
    found = await asyncio.gather(*(gateway.resource_service_principal_by_id(i) for i in sorted(held_on - known)))
    return {sp.app_id: sp for sp in found if sp is not None}
