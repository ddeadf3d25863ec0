"""Batched reads and writes of one tenant: the overview (who, where, which resources, which app),
the app's dependents, and every grant in one `$batch` (graph/batch.py); each sub-request keeps its
own retry policy. https://learn.microsoft.com/en-us/graph/json-batching"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

from ..state.model import (
    Application,
    AppRoleAssignment,
    PermissionGrant,
    ResourceServicePrincipal,
    ServicePrincipal,
)
from ..state.policy import SecretPolicy
from . import json_state
from .batch import BatchCall, JsonRequest
from .errors import (
    GraphConflict,
    GraphForbidden,
)
from .gateway import (
    _APP_FIELDS,
    _RESOURCE_SP_FIELDS,
    GraphGateway,
    Me,
    Organization,
    _opaque,
    _s,
    _select,
    organization_from_json,
)
from .policy import policy_batch_call, to_secret_policy
from .retry import Policy


@dataclass(frozen=True)
class Overview:
    """Everything the first round trip of a run learns: who, where, which resources, which app."""

    organization: Organization
    me: Me
    role_template_ids: frozenset[str] | None  # None: the roles could not be read (403)
    resource_sps: dict[str, ResourceServicePrincipal | None]
    application: Application | None
    # The tenant's secret rules, read in the same batch; readable=False without Policy.Read.All.
    secret_policy: SecretPolicy | None = None


@dataclass(frozen=True)
class AppState:
    """The app's dependents, read together in one batch."""

    application: Application | None
    service_principal: ServicePrincipal | None
    assignments: tuple[AppRoleAssignment, ...]
    grants: tuple[PermissionGrant, ...]


@dataclass(frozen=True)
class RoleGrant:
    """One application permission to assign."""

    resource_id: str
    app_role_id: str


@dataclass(frozen=True)
class DelegatedGrant:
    """One AllPrincipals grant to create (grant_id None) or to update to `scopes`."""

    resource_id: str
    scopes: tuple[str, ...]
    grant_id: str | None




def _sp_navigation(app_id: str, relationship: str) -> RequestInformation:
    # Addressing the SP by its alternate key lets one batch read its relationships without
    # first learning its object id. https://learn.microsoft.com/en-us/graph/api/serviceprincipal-get
    info = RequestInformation(Method.GET, "{+baseurl}/servicePrincipals(appId='{appId}')/" + relationship,
                              {"appId": app_id})
    info.headers.try_add("Accept", "application/json")
    return info


class BatchedReads:
    """The read side in as few round trips as Graph allows (JSON batching)."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway

    async def overview(self, unique_name: str, resource_app_ids: list[str], *,
                       signed_in_user: bool = True) -> Overview:
        """Organization, signed-in user, their roles, every resource SP and the app: one request.
        `signed_in_user=False` for an app-only caller: Graph answers /me with 400 ("/me request is
        only valid with delegated authentication flow"), so it is not asked.
        https://learn.microsoft.com/en-us/graph/json-batching"""
        g = self.gateway
        client = g.client
        roles = client.me.transitive_member_of.graph_directory_role
        user_calls = [
            BatchCall("read signed-in user", client.me.to_get_request_information(
                _select(client.me, ["id", "userPrincipalName"])), missing_ok=True),
            BatchCall("read your directory roles", roles.to_get_request_information(
                _select(roles, ["id", "displayName", "roleTemplateId"])), missing_ok=True),
        ] if signed_in_user else []
        calls = [
            BatchCall("read organization", client.organization.to_get_request_information(
                _select(client.organization, ["id", "displayName", "verifiedDomains"]))),
            *user_calls,
            BatchCall("read application", g.app_builder(unique_name).to_get_request_information(
                _select(g.app_builder(unique_name), _APP_FIELDS)), missing_ok=True),
            policy_batch_call(client),
        ]
        for app_id in resource_app_ids:
            builder = g.sp_builder(app_id)
            calls.append(BatchCall(f"read service principal of {app_id}",
                                   builder.to_get_request_information(_select(builder, _RESOURCE_SP_FIELDS)),
                                   missing_ok=True))
        org_out, *outs = await g.batch(calls, label="read overview")
        me_out, roles_out = (outs.pop(0), outs.pop(0)) if signed_in_user else (None, None)
        app_out, policy_out, *sp_outs = outs
        organization = organization_from_json(org_out.unwrap())
        # A partner admin signed in through a delegated-admin (GDAP) relationship is not a
        # member of the customer directory: /me answers 404 there and the roles come from the
        # relationship, not from directory membership.
        # https://learn.microsoft.com/en-us/partner-center/customers/gdap-introduction
        user = me_out.unwrap() if me_out is not None else None
        role_ids: frozenset[str] | None = None
        if user is not None and roles_out is not None and not isinstance(roles_out.error, GraphForbidden):
            page = roles_out.unwrap()
            if page is not None:
                role_ids = json_state.role_template_ids(page)
                if json_state.next_link(page):  # more than a page of roles: rare, read the rest directly
                    role_ids = await g.my_directory_role_template_ids()
        app = app_out.unwrap()
        sps = {a: (json_state.resource_service_principal(o.unwrap()) if o.unwrap() else None)
               for a, o in zip(resource_app_ids, sp_outs, strict=True)}
        me = Me(_s(user.get("id")), user.get("userPrincipalName") or "") if user else Me("", "")
        return Overview(organization, me, role_ids, sps,
                        json_state.application(app) if app else None, to_secret_policy(policy_out))

    async def app_state(self, app_id: str, *, unique_name: str | None = None,
                        policy: Policy = Policy.IDEMPOTENT) -> AppState:
        """The app (when unique_name is given), its SP, assignments and grants: one request."""
        g = self.gateway
        sp_builder = g.sp_builder(app_id)
        calls = [
            BatchCall("read service principal", sp_builder.to_get_request_information(
                _select(sp_builder, ["id", "appId"])), None, policy, missing_ok=True),
            BatchCall("read app role assignments", _sp_navigation(app_id, "appRoleAssignments"),
                      None, policy, missing_ok=True),
            BatchCall("read delegated grants", _sp_navigation(app_id, "oauth2PermissionGrants"),
                      None, policy, missing_ok=True),
        ]
        if unique_name:
            builder = g.app_builder(unique_name)
            calls.append(BatchCall("read application", builder.to_get_request_information(
                _select(builder, _APP_FIELDS)), None, policy, missing_ok=True))
        sp_out, assign_out, grant_out, *app_out = await g.batch(calls, label="read app state")
        sp = sp_out.unwrap()
        assignments_page = assign_out.unwrap()
        grants_page = grant_out.unwrap()
        app = app_out[0].unwrap() if app_out else None
        service_principal = json_state.service_principal(sp) if sp else None
        assignments = json_state.assignments(assignments_page) if assignments_page else ()
        grants = json_state.grants(grants_page) if grants_page else ()
        if service_principal is not None and (json_state.next_link(assignments_page)
                                              or json_state.next_link(grants_page)):
            # Rare: more than a page (> 100 assignments); follow the links directly.
            assignments = await g.app_role_assignments(service_principal.id)
            grants = await g.permission_grants(service_principal.id)
        return AppState(json_state.application(app) if app else None, service_principal, assignments, grants)

    async def grant_all(self, principal_id: str, roles: list[RoleGrant],
                        delegated: list[DelegatedGrant]) -> tuple[list[bool], list[str]]:
        """Every app role assignment and delegated grant in one batch (≤ 20 per request).
        Returns (created? per role, grant id per delegated grant). A duplicate assignment
        ("already exists") counts as done, so a resent batch after a lost response is harmless.
        https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto"""
        g = self.gateway
        calls: list[BatchCall] = []
        for role in roles:
            # https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto
            body = {"principalId": _guid(principal_id), "resourceId": _guid(role.resource_id),
                    "appRoleId": _guid(role.app_role_id)}
            url = f"/servicePrincipals/{_guid(role.resource_id)}/appRoleAssignedTo"
            calls.append(BatchCall("grant application permission", JsonRequest("POST", url, body),
                                   None, Policy.AFTER_CREATE))
        for grant in delegated:
            scope = " ".join(grant.scopes)
            if grant.grant_id is None:
                # https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-post
                body = {"clientId": _guid(principal_id), "consentType": "AllPrincipals",
                        "resourceId": _guid(grant.resource_id), "scope": scope}
                calls.append(BatchCall("grant delegated permissions",
                                       JsonRequest("POST", "/oauth2PermissionGrants", body),
                                       None, Policy.AFTER_CREATE))
            else:
                # https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-update
                url = f"/oauth2PermissionGrants/{quote(grant.grant_id, safe='')}"
                calls.append(BatchCall("update delegated grant", JsonRequest("PATCH", url, {"scope": scope}),
                                       None, Policy.AFTER_CREATE))
        outcomes = await g.batch(calls, label="grant permissions",
                                  outer_policy=Policy.THROTTLING | Policy.TRANSIENT_NETWORK)
        created: list[bool] = []
        for outcome in outcomes[:len(roles)]:
            if isinstance(outcome.error, GraphConflict):
                created.append(False)
            else:
                outcome.unwrap()
                created.append(True)
        grant_ids: list[str] = []
        for grant, outcome in zip(delegated, outcomes[len(roles):], strict=True):
            if isinstance(outcome.error, GraphConflict):
                # A grant for this pair appeared meanwhile (a resent batch, a concurrent run):
                # merge into it instead of failing. One grant per client/resource pair.
                grant_ids.append(await g.create_or_update_grant(client_id=principal_id, resource_id=grant.resource_id,
                                                                scopes=grant.scopes, grant_id=None))
                continue
            value = outcome.unwrap()
            new_id = value.get("id") if isinstance(value, dict) else None
            grant_ids.append(_opaque(new_id) if new_id else grant.grant_id or "")
        return created, grant_ids


def _guid(value: str) -> str:
    """A directory object ID as Graph writes it; raises ValueError for anything else (as the SDK
    model's UUID field did), so a malformed ID never reaches a request."""
    return str(uuid.UUID(value))
