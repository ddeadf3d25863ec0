"""oauth2PermissionGrants: delegated permission grants (admin consent for delegated scopes).

https://learn.microsoft.com/en-us/graph/api/resources/oauth2permissiongrant
"""

from __future__ import annotations

from .. import clock, roles
from ..store import Obj
from .common import (
    Ctx,
    GraphError,
    GraphResponse,
    bad_request,
    collection,
    entity,
    new_opaque_id,
    not_found,
    visible_views,
)
from .router import SP_REF, route
from .service_principals import resolve_sp

# https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-post
_WRITE_DELEGATED = ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All")
_WRITE_APPLICATION = ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All")
_READ_DELEGATED = _WRITE_DELEGATED + ("DelegatedPermissionGrant.Read.All", "Directory.Read.All")
_READ_APPLICATION = _WRITE_APPLICATION + ("DelegatedPermissionGrant.Read.All", "Directory.Read.All")
_FILTERABLE = {"clientId", "resourceId", "consentType", "principalId", "id"}


@route("GET", r"/oauth2PermissionGrants", "oauth2PermissionGrants.list")
def list_grants(ctx: Ctx) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-list"""
    ctx.require(_READ_DELEGATED, _READ_APPLICATION)
    items = visible_views(ctx.tenant.grants)
    return collection(ctx, "oauth2PermissionGrants", items, _FILTERABLE, "oAuth2PermissionGrant")


@route("GET", SP_REF + r"/oauth2PermissionGrants", "servicePrincipals.oauth2PermissionGrants")
def list_sp_grants(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list-oauth2permissiongrants"""
    ctx.require(_READ_DELEGATED, _READ_APPLICATION)
    sp = resolve_sp(ctx, id, key, val)
    items = [g for g in visible_views(ctx.tenant.grants) if g["clientId"] == sp.id]
    return collection(ctx, "oauth2PermissionGrants", items, _FILTERABLE, "oAuth2PermissionGrant")


@route("POST", r"/oauth2PermissionGrants", "oauth2PermissionGrants.create")
def post_grant(ctx: Ctx) -> GraphResponse:
    """POST /oauth2PermissionGrants.

    One grant per (clientId, resourceId, consentType[, principalId]); a second one is
    409 Request_MultipleObjectsWithSameKeyValue "Permission entry already exists." - PATCH its scope
    instead (graph-facts §6; hashicorp/terraform-provider-azuread#690).
    """
    ctx.require(_WRITE_DELEGATED, _WRITE_APPLICATION)
    ctx.require_directory_role(roles.CONSENT_EXCEPT_GRAPH_APP_ROLES)
    b = dict(ctx.request.json())
    client_id, resource_id = str(b.get("clientId") or ""), str(b.get("resourceId") or "")
    consent_type = b.get("consentType")
    principal_id = b.get("principalId")
    if consent_type not in ("AllPrincipals", "Principal"):
        raise bad_request("Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.")
    if consent_type == "Principal" and not principal_id:
        raise bad_request("Property 'principalId' is required when consentType is 'Principal'.")
    if consent_type == "AllPrincipals" and principal_id:
        raise bad_request("Property 'principalId' must be null when consentType is 'AllPrincipals'.")
    # Client or resource SP unknown - or still replicating - is rejected as an invalid reference
    # (wording not verified against a live tenant).
    if ctx.tenant.sp_by("id", client_id) is None:
        raise bad_request("Invalid value specified for property 'clientId' of resource 'OAuth2PermissionGrant'.")
    if ctx.tenant.sp_by("id", resource_id) is None:
        raise bad_request("Invalid value specified for property 'resourceId' of resource 'OAuth2PermissionGrant'.")
    for g in ctx.tenant.grants.values():
        d = g.data
        if (d["clientId"], d["resourceId"], d["consentType"], d.get("principalId")) == (
                client_id, resource_id, consent_type, principal_id):
            raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
    body = {
        "id": new_opaque_id(),
        "clientId": client_id,
        "consentType": consent_type,
        "principalId": principal_id,
        "resourceId": resource_id,
        "scope": " ".join(str(b.get("scope") or "").split()),
    }
    ctx.tenant.grants[body["id"]] = Obj(body, visible_at=clock.monotonic() + ctx.core.faults.replication_delay())
    return entity(ctx, "oauth2PermissionGrants", body, status=201)


def _grant(ctx: Ctx, gid: str) -> Obj:
    g = ctx.tenant.grants.get(gid)
    if g is None or not g.visible():
        raise not_found(gid)
    return g


@route("GET", r"/oauth2PermissionGrants/(?P<gid>[^/]+)", "oauth2PermissionGrants.get")
def get_grant(ctx: Ctx, gid: str) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-get"""
    ctx.require(_READ_DELEGATED, _READ_APPLICATION)
    return entity(ctx, "oauth2PermissionGrants", _grant(ctx, gid).view())


@route("PATCH", r"/oauth2PermissionGrants/(?P<gid>[^/]+)", "oauth2PermissionGrants.update")
def patch_grant(ctx: Ctx, gid: str) -> GraphResponse:
    """Only `scope` is updatable - https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-update"""
    ctx.require(_WRITE_DELEGATED, _WRITE_APPLICATION)
    ctx.require_directory_role(roles.CONSENT_EXCEPT_GRAPH_APP_ROLES)
    g = _grant(ctx, gid)
    b = dict(ctx.request.json())
    if set(b) - {"scope"}:
        raise bad_request("Only the 'scope' property of an oAuth2PermissionGrant can be updated.")
    if "scope" in b:
        g.will_change(ctx.core.faults.replication_delay())
        g.data["scope"] = " ".join(str(b["scope"] or "").split())
    return GraphResponse(204)


@route("DELETE", r"/oauth2PermissionGrants/(?P<gid>[^/]+)", "oauth2PermissionGrants.delete")
def delete_grant(ctx: Ctx, gid: str) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-delete"""
    ctx.require(_WRITE_DELEGATED, _WRITE_APPLICATION)
    ctx.require_directory_role(roles.CONSENT_EXCEPT_GRAPH_APP_ROLES)
    del ctx.tenant.grants[_grant(ctx, gid).id]
    return GraphResponse(204)
