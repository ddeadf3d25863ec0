"""Granular delegated admin privileges (GDAP) as a partner tenant reads them: its relationships with
customers, each relationship's access assignments (a partner security group and the Entra roles it
holds in the customer), and the signed-in user's groups.

The scenario states GDAP per partner user (`partner_access`: customer -> roles); the simulator shows
it as Graph does: one active relationship per customer, one access assignment (and security group)
per partner user with access there.
- https://learn.microsoft.com/en-us/graph/api/tenantrelationship-list-delegatedadminrelationships
- https://learn.microsoft.com/en-us/graph/api/delegatedadminrelationship-list-accessassignments
  (both: delegated DelegatedAdminRelationship.Read.All or .ReadWrite.All)
- https://learn.microsoft.com/en-us/partner-center/customers/gdap-introduction
"""

from __future__ import annotations

from typing import Any

from ..catalogue import stable_id
from ..store import Tenant, User
from .common import Ctx, GraphResponse, collection, not_found
from .router import route

_READ = ("DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All")
_CREATED = "2026-01-05T09:00:00Z"


def _access(ctx: Ctx) -> dict[str, list[tuple[User, tuple[str, ...]]]]:
    """customer tenant id -> [(partner user, roles)] for this (partner) tenant."""
    out: dict[str, list[tuple[User, tuple[str, ...]]]] = {}
    for user in ctx.tenant.users.values():
        for customer_id, role_ids in user.partner_access.items():
            out.setdefault(customer_id, []).append((user, role_ids))
    return out


def relationship_id(partner: Tenant, customer_id: str) -> str:
    """GDAP relationship ids are "<guid>-<guid>"."""
    return f"{stable_id(partner.id, 'gdap', customer_id)}-{stable_id(customer_id, 'gdap')}"


def group_id(partner: Tenant, customer_id: str, user: User) -> str:
    """The partner security group that carries one user's roles in one customer."""
    return stable_id(partner.id, "gdap-group", customer_id, user.id)


def _roles(role_ids: Any) -> list[dict[str, str]]:
    return [{"roleDefinitionId": r} for r in sorted(set(role_ids))]


@route("GET", r"/tenantRelationships/delegatedAdminRelationships", "delegatedAdminRelationships.list")
def list_relationships(ctx: Ctx) -> GraphResponse:
    """Every relationship of the partner tenant (customers with at least one partner user's roles)."""
    ctx.require(_READ, ())
    items = []
    for customer_id, entries in _access(ctx).items():
        customer = ctx.core.directory.tenants[customer_id]
        roles = {r for _user, role_ids in entries for r in role_ids}
        items.append({
            "id": relationship_id(ctx.tenant, customer_id), "displayName": f"MSP {customer.default_domain}"[:50],
            "duration": "P730D", "status": "active", "autoExtendDuration": "P180D",
            "customer": {"tenantId": customer_id, "displayName": customer.display_name},
            "accessDetails": {"unifiedRoles": _roles(roles)},
            "createdDateTime": _CREATED, "lastModifiedDateTime": _CREATED, "activatedDateTime": _CREATED,
            "endDateTime": "2028-01-05T09:00:00Z",
        })
    return collection(ctx, "tenantRelationships/delegatedAdminRelationships", items, {"status", "id"},
                      "delegatedAdminRelationship")


@route("GET", r"/tenantRelationships/delegatedAdminRelationships/(?P<rid>[^/]+)/accessAssignments",
       "delegatedAdminRelationships.accessAssignments")
def list_access_assignments(ctx: Ctx, rid: str) -> GraphResponse:
    """One active assignment per partner user: their group and their roles in the customer."""
    ctx.require(_READ, ())
    for customer_id, entries in _access(ctx).items():
        if relationship_id(ctx.tenant, customer_id) != rid:
            continue
        items = [{
            "id": stable_id(rid, "assignment", user.id), "status": "active",
            "accessContainer": {"accessContainerId": group_id(ctx.tenant, customer_id, user),
                                "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": _roles(role_ids)},
            "createdDateTime": _CREATED, "lastModifiedDateTime": _CREATED,
        } for user, role_ids in entries]
        return collection(ctx, "delegatedAdminAccessAssignments", items, {"status", "id"},
                          "delegatedAdminAccessAssignment")
    raise not_found(rid)


def gdap_groups(tenant: Tenant, user: User) -> list[dict[str, Any]]:
    """The partner security groups a user is a member of (as /me/transitiveMemberOf lists groups)."""
    return [{"@odata.type": "#microsoft.graph.group", "id": group_id(tenant, customer_id, user),
             "displayName": f"GDAP {customer_id[:8]} {user.upn.split('@')[0]}", "securityEnabled": True,
             "mailEnabled": False, "deletedDateTime": None}
            for customer_id in user.partner_access]
