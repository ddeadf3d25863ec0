"""Graph operations of the day-2 lifecycle (verify, offboard, drift pruning), on a GraphGateway.

Kept apart from gateway.py so the onboarding core and the lifecycle evolve independently; each
function runs its request through the gateway's `call` (named retry policy, error translation).
Deletes are idempotent: a 404 means "already gone" and returns False.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant

from ..state.model import Application
from . import json_state
from .errors import GraphNotFound
from .gateway import GraphGateway
from .retry import Policy

_APP_FIELDS = ["id", "appId", "displayName", "uniqueName", "signInAudience", "requiredResourceAccess",
               "passwordCredentials", "tags"]


@dataclass(frozen=True)
class DeletedApplication:
    """An application in the tenant's recycle bin (directory/deletedItems), kept 30 days."""

    id: str
    app_id: str
    display_name: str
    unique_name: str | None


def _quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _query(builder: Any, *, select: list[str], filter_: str | None = None) -> RequestConfiguration:
    params_cls = next(getattr(builder, n) for n in dir(builder) if n.endswith("GetQueryParameters"))
    params = params_cls(select=select)
    if filter_:
        params.filter = filter_
    return RequestConfiguration(query_parameters=params)


async def _delete(gateway: GraphGateway, operation: str, builder: Any, policy: Policy = Policy.IDEMPOTENT) -> bool:
    try:
        await gateway.call(operation, policy, builder.delete)
    except GraphNotFound:
        return False
    return True


async def _items(gateway: GraphGateway, operation: str, builder: Any,
                 config: RequestConfiguration | None = None) -> AsyncIterator[dict[str, Any]]:
    """Every item of a collection, page by page, as Graph's JSON (no SDK model parsing: the
    first directory object it parses imports ~1,300 model modules; graph/json_state.py)."""
    info = builder.to_get_request_information(config)
    while True:
        page = await gateway.call(operation, Policy.IDEMPOTENT, functools.partial(gateway.send_json, info)) or {}
        for item in page.get("value") or []:
            if isinstance(item, dict):
                yield item
        link = page.get("@odata.nextLink")
        if not link:
            return
        info = builder.with_url(link).to_get_request_information()


async def applications_named(gateway: GraphGateway, display_name: str) -> list[Application]:
    """Every app with this display name (ours or not), to tell the user about look-alikes.
    https://learn.microsoft.com/en-us/graph/api/application-list"""
    builder = gateway.client.applications
    config = _query(builder, select=_APP_FIELDS, filter_=f"displayName eq {_quote(display_name)}")
    return [json_state.application(a) async for a in _items(gateway, "list applications by display name",
                                                            builder, config)]


# Assignment and grant IDs are opaque, case-sensitive base64url strings, but the state read
# (gateway._s) lowercases every ID. So the exact ID is looked up again before a write; an ID
# that no longer exists means "already gone".
async def _exact_assignment_id(gateway: GraphGateway, client_sp_id: str, assignment_id: str) -> str | None:
    builder = gateway.client.service_principals.by_service_principal_id(client_sp_id).app_role_assignments
    async for a in _items(gateway, "read app role assignments", builder):
        if str(a.get("id") or "").lower() == assignment_id.lower():
            return str(a["id"])
    return None


async def _exact_grant_id(gateway: GraphGateway, client_sp_id: str, grant_id: str) -> str | None:
    builder = gateway.client.oauth2_permission_grants
    config = _query(builder, select=["id", "clientId"], filter_=f"clientId eq {_quote(client_sp_id)}")
    async for g in _items(gateway, "read delegated grants", builder, config):
        if str(g.get("id") or "").lower() == grant_id.lower():
            return str(g["id"])
    return None


async def delete_app_role_assignment(gateway: GraphGateway, client_sp_id: str, assignment_id: str) -> bool:
    """Revoke one application permission.
    https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete-approleassignments"""
    exact = await _exact_assignment_id(gateway, client_sp_id, assignment_id)
    if exact is None:
        return False
    builder = (gateway.client.service_principals.by_service_principal_id(client_sp_id)
               .app_role_assignments.by_app_role_assignment_id(exact))
    return await _delete(gateway, "revoke application permission", builder)


async def delete_permission_grant(gateway: GraphGateway, client_sp_id: str, grant_id: str) -> bool:
    """Remove a delegated permission grant.
    https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-delete"""
    exact = await _exact_grant_id(gateway, client_sp_id, grant_id)
    if exact is None:
        return False
    builder = gateway.client.oauth2_permission_grants.by_o_auth2_permission_grant_id(exact)
    return await _delete(gateway, "remove delegated grant", builder)


async def set_grant_scopes(gateway: GraphGateway, client_sp_id: str, grant_id: str, scopes: tuple[str, ...]) -> bool:
    """Replace a grant's scopes (PATCH scope is the only updatable property); False if it is gone.
    https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-update"""
    exact = await _exact_grant_id(gateway, client_sp_id, grant_id)
    if exact is None:
        return False
    item = gateway.client.oauth2_permission_grants.by_o_auth2_permission_grant_id(exact)
    await gateway.call("update delegated grant", Policy.IDEMPOTENT,
                        lambda: item.patch(OAuth2PermissionGrant(scope=" ".join(scopes))))
    return True


async def delete_service_principal(gateway: GraphGateway, sp_id: str) -> bool:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete"""
    builder = gateway.client.service_principals.by_service_principal_id(sp_id)
    return await _delete(gateway, "delete service principal", builder)


async def delete_application(gateway: GraphGateway, object_id: str) -> bool:
    """Soft delete: Entra keeps the app in directory/deletedItems for 30 days.
    https://learn.microsoft.com/en-us/graph/api/application-delete"""
    builder = gateway.client.applications.by_application_id(object_id)
    return await _delete(gateway, "delete application", builder)


async def deleted_applications(gateway: GraphGateway, unique_name: str) -> list[DeletedApplication]:
    """Our soft-deleted app(s), by uniqueName.
    https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-list"""
    builder = gateway.client.directory.deleted_items.graph_application
    config = _query(builder, select=["id", "appId", "displayName", "uniqueName"],
                    filter_=f"uniqueName eq {_quote(unique_name)}")
    return [DeletedApplication(str(a.get("id")).lower(), str(a.get("appId")).lower(), a.get("displayName") or "",
                               a.get("uniqueName"))
            async for a in _items(gateway, "list deleted applications", builder, config)
            if a.get("uniqueName") == unique_name]


async def purge_deleted_item(gateway: GraphGateway, object_id: str, *, just_deleted: bool = False) -> bool:
    """Permanently delete a soft-deleted object. Right after the delete the deleted item may not
    have replicated yet, so a 404 is then retried under the replication-lag policy.
    https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-delete"""
    builder = gateway.client.directory.deleted_items.by_directory_object_id(object_id)
    policy = Policy.AFTER_CREATE | Policy.IDEMPOTENT if just_deleted else Policy.IDEMPOTENT
    return await _delete(gateway, "purge deleted application", builder, policy)
