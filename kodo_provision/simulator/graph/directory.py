"""/organization, /me, the signed-in user's directory roles, and the tenant app management policy."""

from __future__ import annotations

from ..catalogue import stable_id
from ..roles import ROLE_NAMES
from .common import Ctx, GraphResponse, bad_request, collection, entity, not_found
from .gdap import gdap_groups
from .router import route

USER_READ = ("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All",
             "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All")


@route("GET", r"/organization", "organization.list")
def list_organization(ctx: Ctx) -> GraphResponse:
    """GET /organization - https://learn.microsoft.com/en-us/graph/api/organization-list"""
    ctx.require(USER_READ + ("Organization.Read.All",),
                ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All"))
    t = ctx.tenant
    org = {
        "id": t.id,
        "displayName": t.display_name,
        "tenantType": "AAD",
        "verifiedDomains": [
            {"name": d, "isDefault": i == 0, "isInitial": d.endswith(".onmicrosoft.com"), "type": "Managed",
             "capabilities": "Email, OfficeCommunicationsOnline"}
            for i, d in enumerate(t.domains)
        ],
    }
    return collection(ctx, "organization", [org], {"id"}, "organization")


def _me(ctx: Ctx):
    if not ctx.delegated:
        # https://learn.microsoft.com/en-us/graph/api/user-get ("/me" needs a signed-in user)
        raise bad_request("/me request is only valid with delegated authentication flow.", code="BadRequest")
    user = ctx.tenant.users.get(ctx.caller_id)
    if user is None:
        # A partner (GDAP) admin is not a member of the customer directory.
        raise not_found(ctx.caller_id)
    return user


@route("GET", r"/me", "me.get")
def get_me(ctx: Ctx) -> GraphResponse:
    """GET /me - https://learn.microsoft.com/en-us/graph/api/user-get"""
    ctx.require(USER_READ, ())
    return entity(ctx, "users", _me(ctx).graph_body())


@route("GET", r"/me/(?P<rel>memberOf|transitiveMemberOf)(?P<cast>/(?:microsoft\.)?graph\.(?:directoryRole|group))?",
       "me.memberOf")
def me_member_of(ctx: Ctx, rel: str, cast: str | None) -> GraphResponse:
    """Directory roles of the signed-in user, and the groups we model (a partner's GDAP security groups),
    optionally cast to one type.

    https://learn.microsoft.com/en-us/graph/api/user-list-memberof ;
    https://learn.microsoft.com/en-us/graph/api/user-list-transitivememberof
    """
    ctx.require(USER_READ + ("GroupMember.Read.All",), ())
    user = _me(ctx)
    roles = [
        {
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": stable_id(ctx.tenant.id, "directoryRole", tid),
            "roleTemplateId": tid,
            "displayName": ROLE_NAMES.get(tid, tid),
            "description": ROLE_NAMES.get(tid, tid),
            "deletedDateTime": None,
        }
        for tid in user.role_ids
    ]
    groups = gdap_groups(ctx.tenant, user)
    if cast and cast.endswith("group"):
        return collection(ctx, "groups", groups, {"displayName", "id"}, "group")
    if cast:
        return collection(ctx, "directoryRoles", roles, {"displayName", "roleTemplateId", "id"}, "directoryRole")
    return collection(ctx, "directoryObjects", roles + groups, {"displayName", "id"}, "directoryObject")


@route("GET", r"/policies/defaultAppManagementPolicy", "policies.defaultAppManagementPolicy")
def get_app_management_policy(ctx: Ctx) -> GraphResponse:
    """GET /policies/defaultAppManagementPolicy -
    https://learn.microsoft.com/en-us/graph/api/tenantappmanagementpolicy-get
    """
    ctx.require(("Policy.Read.All", "Policy.ReadWrite.ApplicationConfiguration"),
                ("Policy.Read.All", "Policy.ReadWrite.ApplicationConfiguration"))
    p = ctx.tenant.spec.app_management_policy
    restrictions = []
    if p.password_addition_blocked:
        restrictions.append({"restrictionType": "passwordAddition", "maxLifetime": None, "state": "enabled",
                             "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"})
    if p.password_max_lifetime_days:
        restrictions.append({"restrictionType": "passwordLifetime", "maxLifetime": f"P{p.password_max_lifetime_days}D",
                             "state": "enabled", "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"})
    body = {
        "id": "00000000-0000-0000-0000-000000000000",
        "displayName": "Default app management tenant policy",
        "description": "Default tenant policy that enforces app management restrictions on applications and "
        "service principals.",
        "isEnabled": p.is_enabled,
        "applicationRestrictions": {"passwordCredentials": restrictions, "keyCredentials": []},
        "servicePrincipalRestrictions": {"passwordCredentials": restrictions, "keyCredentials": []},
    }
    return entity(ctx, "policies/defaultAppManagementPolicy", body)

