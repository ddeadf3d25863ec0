"""servicePrincipals and app role assignments (application permissions / admin consent).

https://learn.microsoft.com/en-us/graph/api/resources/serviceprincipal
https://learn.microsoft.com/en-us/graph/api/resources/approleassignment
"""

from __future__ import annotations

from typing import Any

from .. import clock, roles
from ..catalogue import MICROSOFT_GRAPH_APP_ID, first_party_resources
from ..store import Obj, Tenant
from .common import (
    READ_APPS_APPLICATION,
    READ_APPS_DELEGATED,
    WRITE_APPS_APPLICATION,
    WRITE_APPS_DELEGATED,
    Ctx,
    GraphError,
    GraphResponse,
    bad_request,
    collection,
    entity,
    new_guid,
    new_opaque_id,
    not_found,
    utc_now_iso,
    visible,
    visible_views,
)
from .router import SP_REF, route

_SP_FILTERABLE = {"appId", "displayName", "servicePrincipalNames", "id", "servicePrincipalType", "tags"}
_ASSIGNMENT_FILTERABLE = {"principalId", "resourceId", "appRoleId", "id"}
# POST appRoleAssignedTo / appRoleAssignments: "AppRoleAssignment.ReadWrite.All and Application.Read.All"
# (least privileged), higher: Application.ReadWrite.All, Directory.ReadWrite.All.
# https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto
_ASSIGN_DELEGATED = tuple(("AppRoleAssignment.ReadWrite.All", p) for p in
                          ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
                           "Directory.ReadWrite.All")) + ("Directory.AccessAsUser.All",)
_ASSIGN_APPLICATION = ("AppRoleAssignment.ReadWrite.All",)
_DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"


def resolve_sp(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> Obj:
    """A service principal by id or appId, 404 while missing or still replicating."""
    obj = ctx.tenant.sp_by("id", id) if id else ctx.tenant.sp_by("appId", val or "")
    if obj is None:
        raise not_found(id or f"appId='{val}'")
    return obj


def remove_sp(tenant: Tenant, sp: Obj) -> None:
    """Delete an SP and everything that references it (assignments, grants)."""
    tenant.service_principals.pop(sp.id, None)
    for store, keys in ((tenant.assignments, ("principalId", "resourceId")),
                        (tenant.grants, ("clientId", "resourceId"))):
        for oid in [o for o, v in store.items() if any(v.data.get(k) == sp.id for k in keys)]:
            del store[oid]


def _sp_from_app(ctx: Ctx, app: dict[str, Any], home_tenant_id: str) -> dict[str, Any]:
    return {
        "id": new_guid(),
        "appId": app["appId"],
        "displayName": app.get("displayName"),
        "appDisplayName": app.get("displayName"),
        "appOwnerOrganizationId": home_tenant_id,
        "accountEnabled": True,
        "appRoleAssignmentRequired": False,
        "servicePrincipalType": "Application",
        "signInAudience": app.get("signInAudience", "AzureADMyOrg"),
        "servicePrincipalNames": [app["appId"], *app.get("identifierUris", [])],
        "tags": list(app.get("tags", [])),
        "appRoles": list(app.get("appRoles", [])),
        "oauth2PermissionScopes": list((app.get("api") or {}).get("oauth2PermissionScopes", [])),
        "createdDateTime": utc_now_iso(),
        "deletedDateTime": None,
    }


@route("GET", r"/servicePrincipals", "servicePrincipals.list")
def list_sps(ctx: Ctx) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list"""
    ctx.require(READ_APPS_DELEGATED, READ_APPS_APPLICATION)
    items = visible_views(ctx.tenant.service_principals)
    return collection(ctx, "servicePrincipals", items, _SP_FILTERABLE, "servicePrincipal")


@route("POST", r"/servicePrincipals", "servicePrincipals.create")
def post_sp(ctx: Ctx) -> GraphResponse:
    """POST /servicePrincipals {appId} - https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-serviceprincipals

    The appId must name an application of this tenant, a multi-tenant application of another
    tenant, or a Microsoft first-party app (e.g. Exchange Online in a tenant that lacks its SP).
    Right after the app was created this fails with NoBackingApplicationObject until replication
    catches up (graph-facts §6; hashicorp/vault-plugin-secrets-azure#8).
    """
    ctx.require(WRITE_APPS_DELEGATED, WRITE_APPS_APPLICATION)
    if ctx.delegated and not ctx.tenant.spec.settings.users_can_register_apps:
        ctx.require_directory_role(roles.APP_CREATORS)
    props = dict(ctx.request.json())
    app_id = str(props.get("appId") or "").lower()
    if not app_id:
        raise bad_request("Property 'appId' is required.")
    if ctx.tenant.sp_by("appId", app_id, include_hidden=True):
        # Conflict on the SP's unique servicePrincipalNames (contains the appId). Status 409 as Graph
        # maps Request_MultipleObjectsWithSameKeyValue (status not verified against a live tenant).
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                         "Another object with the same value for property servicePrincipalNames already exists.")
    app = ctx.tenant.app_by("appId", app_id)
    if app is not None:
        body = _sp_from_app(ctx, app.data, ctx.tenant.id)
    else:
        home = ctx.core.directory.app_anywhere(app_id)
        fp = first_party_resources().get(app_id)
        if home and home[0].id != ctx.tenant.id and home[1].visible() and \
                home[1].data.get("signInAudience") in ("AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount"):
            body = _sp_from_app(ctx, home[1].data, home[0].id)
        elif fp is not None:
            body = fp.service_principal_body(new_guid())
        else:
            raise bad_request(f"The appId '{app_id}' of the service principal does not reference a valid "
                              "application object.")
    for k in ("displayName", "tags", "appRoleAssignmentRequired", "accountEnabled", "notes", "description"):
        if k in props:
            body[k] = props[k]
    obj = Obj(body, visible_at=clock.monotonic() + ctx.core.faults.replication_delay())
    ctx.tenant.service_principals[body["id"]] = obj
    return entity(ctx, "servicePrincipals", body, status=201)


@route("GET", SP_REF, "servicePrincipals.get")
def get_sp(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """GET /servicePrincipals/{id} | (appId='') - https://learn.microsoft.com/en-us/graph/api/serviceprincipal-get"""
    ctx.require(READ_APPS_DELEGATED, READ_APPS_APPLICATION)
    return entity(ctx, "servicePrincipals", resolve_sp(ctx, id, key, val).view())


@route("PATCH", SP_REF, "servicePrincipals.update")
def patch_sp(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-update"""
    ctx.require(WRITE_APPS_DELEGATED, WRITE_APPS_APPLICATION)
    ctx.require_directory_role(roles.APP_MANAGERS)
    obj = resolve_sp(ctx, id, key, val)
    props = {k: v for k, v in dict(ctx.request.json()).items() if k not in ("id", "appId")}
    obj.will_change(ctx.core.faults.replication_delay())
    obj.data.update(props)
    return GraphResponse(204)


@route("DELETE", SP_REF, "servicePrincipals.delete")
def delete_sp(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete (assignments and grants go too)."""
    ctx.require(WRITE_APPS_DELEGATED, WRITE_APPS_APPLICATION)
    ctx.require_directory_role(roles.APP_MANAGERS)
    remove_sp(ctx.tenant, resolve_sp(ctx, id, key, val))
    return GraphResponse(204)


# --- app role assignments ------------------------------------------------------------------------
def _create_assignment(ctx: Ctx, principal_id: str, resource_id: str, app_role_id: str) -> GraphResponse:
    ctx.require(_ASSIGN_DELEGATED, _ASSIGN_APPLICATION)
    resource = ctx.tenant.sp_by("id", resource_id)
    if resource is None:
        raise not_found(resource_id)
    principal = ctx.tenant.sp_by("id", principal_id)
    if principal is None:
        raise not_found(principal_id)
    # Microsoft Graph app roles need Global Administrator or Privileged Role Administrator; the
    # (Cloud) Application Administrator may consent to anything else.
    # https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent
    allowed = roles.CONSENT_ANY if resource.data["appId"] == MICROSOFT_GRAPH_APP_ID \
        else roles.CONSENT_EXCEPT_GRAPH_APP_ROLES
    ctx.require_directory_role(allowed)
    role_ids = {r["id"].lower() for r in resource.data.get("appRoles", [])}
    if app_role_id.lower() not in role_ids and app_role_id != _DEFAULT_ACCESS_ROLE:
        raise bad_request(f"Permission being assigned was not found on application '{resource.data['appId']}'.")
    for a in ctx.tenant.assignments.values():
        d = a.data
        if d["principalId"] == principal_id and d["resourceId"] == resource_id and \
                d["appRoleId"].lower() == app_role_id.lower():
            raise bad_request("Permission being assigned already exists on the object.")
    body = {
        "id": new_opaque_id(),
        "appRoleId": app_role_id,
        "createdDateTime": utc_now_iso(),
        "deletedDateTime": None,
        "principalDisplayName": principal.data.get("displayName"),
        "principalId": principal_id,
        "principalType": "ServicePrincipal",
        "resourceDisplayName": resource.data.get("displayName"),
        "resourceId": resource_id,
    }
    ctx.tenant.assignments[body["id"]] = Obj(body, visible_at=clock.monotonic() + ctx.core.faults.replication_delay())
    return entity(ctx, "appRoleAssignments", body, status=201)


def _assignment_body(ctx: Ctx) -> tuple[str, str, str]:
    b = dict(ctx.request.json())
    try:
        return str(b["principalId"]), str(b["resourceId"]), str(b["appRoleId"])
    except KeyError as exc:
        raise bad_request(f"Property '{exc.args[0]}' is required.") from exc


@route("POST", SP_REF + r"/appRoleAssignedTo", "appRoleAssignedTo.create")
def post_assigned_to(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """POST /servicePrincipals/{resource-sp}/appRoleAssignedTo -
    https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto
    """
    sp = resolve_sp(ctx, id, key, val)
    principal_id, resource_id, role_id = _assignment_body(ctx)
    if resource_id != sp.id:
        raise bad_request("The resourceId in the body must be the service principal in the URL.")
    return _create_assignment(ctx, principal_id, resource_id, role_id)


@route("POST", SP_REF + r"/appRoleAssignments", "appRoleAssignments.create")
def post_assignments(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """POST /servicePrincipals/{client-sp}/appRoleAssignments -
    https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignments
    """
    sp = resolve_sp(ctx, id, key, val)
    principal_id, resource_id, role_id = _assignment_body(ctx)
    if principal_id != sp.id:
        raise bad_request("The principalId in the body must be the service principal in the URL.")
    return _create_assignment(ctx, principal_id, resource_id, role_id)


def _list_assignments(ctx: Ctx, field: str, sp_id: str) -> GraphResponse:
    ctx.require(READ_APPS_DELEGATED + ("AppRoleAssignment.ReadWrite.All",),
                READ_APPS_APPLICATION + ("AppRoleAssignment.ReadWrite.All",))
    items = [a.data for a in visible(ctx.tenant.assignments) if a.data[field] == sp_id]
    return collection(ctx, "appRoleAssignments", items, _ASSIGNMENT_FILTERABLE, "appRoleAssignment")


@route("GET", SP_REF + r"/appRoleAssignedTo", "appRoleAssignedTo.list")
def list_assigned_to(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list-approleassignedto"""
    return _list_assignments(ctx, "resourceId", resolve_sp(ctx, id, key, val).id)


@route("GET", SP_REF + r"/appRoleAssignments", "appRoleAssignments.list")
def list_assignments(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list-approleassignments"""
    return _list_assignments(ctx, "principalId", resolve_sp(ctx, id, key, val).id)


def _delete_assignment(ctx: Ctx, field: str, sp_id: str, aid: str) -> GraphResponse:
    ctx.require(_ASSIGN_DELEGATED, _ASSIGN_APPLICATION)
    a = ctx.tenant.assignments.get(aid)
    if a is None or not a.visible() or a.data[field] != sp_id:
        raise not_found(aid)
    resource = ctx.tenant.sp_by("id", a.data["resourceId"], include_hidden=True)
    graph = resource is not None and resource.data["appId"] == MICROSOFT_GRAPH_APP_ID
    ctx.require_directory_role(roles.CONSENT_ANY if graph else roles.CONSENT_EXCEPT_GRAPH_APP_ROLES)
    del ctx.tenant.assignments[aid]
    return GraphResponse(204)


@route("DELETE", SP_REF + r"/appRoleAssignedTo/(?P<aid>[^/]+)", "appRoleAssignedTo.delete")
def delete_assigned_to(ctx: Ctx, id: str | None, key: str | None, val: str | None, aid: str) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete-approleassignedto"""
    return _delete_assignment(ctx, "resourceId", resolve_sp(ctx, id, key, val).id, aid)


@route("DELETE", SP_REF + r"/appRoleAssignments/(?P<aid>[^/]+)", "appRoleAssignments.delete")
def delete_assignment(ctx: Ctx, id: str | None, key: str | None, val: str | None, aid: str) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete-approleassignments"""
    return _delete_assignment(ctx, "principalId", resolve_sp(ctx, id, key, val).id, aid)
