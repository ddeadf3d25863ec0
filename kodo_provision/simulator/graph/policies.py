"""App-specific app management policies: create, list, get, assign to an application, list an app's.

An application with an assigned appManagementPolicy "adopts this policy over the tenant-wide
tenantAppManagementPolicy setting. Only one policy object can be assigned to an application"
(https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-post-appliesto). addPassword
therefore checks the app's own policy first (`password_restrictions`).
https://learn.microsoft.com/en-us/graph/api/resources/appmanagementpolicy
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .. import roles
from ..store import Obj
from .common import (
    Ctx,
    GraphResponse,
    bad_request,
    collection,
    entity,
    new_guid,
    not_found,
)
from .router import APP_REF, route

# The tenant default policy's fixed ID (GET /policies/defaultAppManagementPolicy answers it).
DEFAULT_POLICY_ID = "00000000-0000-0000-0000-000000000000"
_READ = (("Policy.Read.All",), ("Policy.ReadWrite.ApplicationConfiguration",))
_WRITE = ("Policy.ReadWrite.ApplicationConfiguration",)
# Assigning or listing an app's policy also needs Application.Read.All ("... and ...").
_APP_READ = ("Application.Read.All", "Application.ReadWrite.All")
_ISO_DAYS = re.compile(r"^P(\d+)D$")
_POLICY_REF = re.compile(r"/policies/appManagementPolicies/([^/?#]+)$")


def _with_app_read(alternatives: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    return [(*alt, app) for alt in alternatives for app in _APP_READ]


def _policy(ctx: Ctx, policy_id: str) -> Obj:
    obj = ctx.tenant.app_management_policies.get(policy_id.lower())
    if obj is None:
        raise not_found(policy_id)
    return obj


@route("POST", r"/policies/appManagementPolicies", "policies.appManagementPolicies.create")
def create_policy(ctx: Ctx) -> GraphResponse:
    """POST /policies/appManagementPolicies -
    https://learn.microsoft.com/en-us/graph/api/appmanagementpolicies-post"""
    ctx.require([_WRITE], [_WRITE])
    ctx.require_directory_role(roles.APP_MANAGERS)
    props = ctx.request.json() or {}
    if not props.get("displayName"):
        raise bad_request("Property 'displayName' is required.")
    for restriction in ((props.get("restrictions") or {}).get("passwordCredentials") or []):
        lifetime = restriction.get("maxLifetime")
        if lifetime is not None and not _ISO_DAYS.match(str(lifetime)):
            raise bad_request(f"Invalid value '{lifetime}' for maxLifetime.")
    body = {
        "id": new_guid(),
        "displayName": props["displayName"],
        "description": props.get("description"),
        "isEnabled": bool(props.get("isEnabled", True)),
        "restrictions": {"passwordCredentials": list((props.get("restrictions") or {}).get("passwordCredentials")
                                                     or []),
                         "keyCredentials": list((props.get("restrictions") or {}).get("keyCredentials") or [])},
    }
    ctx.tenant.app_management_policies[body["id"]] = Obj(body)
    return entity(ctx, "policies/appManagementPolicies", body, status=201)


@route("GET", r"/policies/appManagementPolicies", "policies.appManagementPolicies.list")
def list_policies(ctx: Ctx) -> GraphResponse:
    """GET /policies/appManagementPolicies -
    https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-list"""
    ctx.require(_READ, _READ)
    items = [o.data for o in ctx.tenant.app_management_policies.values()]
    return collection(ctx, "policies/appManagementPolicies", items, {"id", "displayName"}, "appManagementPolicy")


@route("GET", r"/policies/appManagementPolicies/(?P<pid>[^/]+)", "policies.appManagementPolicies.get")
def get_policy(ctx: Ctx, pid: str) -> GraphResponse:
    """GET /policies/appManagementPolicies/{id} -
    https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-get"""
    ctx.require(_READ, _READ)
    return entity(ctx, "policies/appManagementPolicies", _policy(ctx, pid).data)


@route("POST", APP_REF + r"/appManagementPolicies/\$ref", "applications.appManagementPolicies.assign")
def assign_policy(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """POST /applications/{id}/appManagementPolicies/$ref {"@odata.id": ".../appManagementPolicies/{id}"} -
    https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-post-appliesto"""
    from .applications import resolve_app  # applications imports this module's password_restrictions

    ctx.require(_with_app_read((_WRITE,)), _with_app_read((_WRITE,)))
    ctx.require_directory_role(roles.APP_MANAGERS)
    app = resolve_app(ctx, id, key, val)
    ref = _POLICY_REF.search(str((ctx.request.json() or {}).get("@odata.id") or ""))
    if ref is None:
        raise bad_request("Invalid '@odata.id': expected a reference to an appManagementPolicy.")
    policy = _policy(ctx, ref.group(1))
    current = app.extra.get("app_management_policy")
    if current and current != policy.data["id"]:
        # "Only one policy object can be assigned to an application or service principal."
        raise bad_request("An application can only be assigned one app management policy.")
    app.extra["app_management_policy"] = policy.data["id"]
    return GraphResponse(204, None)


@route("GET", APP_REF + r"/appManagementPolicies", "applications.appManagementPolicies.list")
def list_app_policies(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """GET /applications/{id}/appManagementPolicies (Application.Read.All and Policy.Read.All) -
    https://learn.microsoft.com/en-us/graph/api/application-list-appmanagementpolicies"""
    from .applications import resolve_app

    ctx.require(_with_app_read(_READ), _with_app_read(_READ))
    app = resolve_app(ctx, id, key, val)
    assigned = app.extra.get("app_management_policy")
    items = [ctx.tenant.app_management_policies[assigned].data] if assigned else []
    return collection(ctx, "policies/appManagementPolicies", items, {"id", "displayName"}, "appManagementPolicy")


def password_restrictions(ctx: Ctx, app: Obj) -> tuple[str, list[dict[str, Any]]]:
    """(policy ID, enabled password restrictions) that govern addPassword on `app`: its own
    policy when one is assigned and enabled, else the tenant default."""
    assigned = app.extra.get("app_management_policy")
    if assigned:
        policy = ctx.tenant.app_management_policies[assigned].data
        if policy.get("isEnabled"):
            rules = [r for r in policy["restrictions"]["passwordCredentials"]
                     if str(r.get("state") or "enabled").lower() != "disabled"]
            return policy["id"], rules
    spec = ctx.tenant.spec.app_management_policy
    if not spec.is_enabled:
        return DEFAULT_POLICY_ID, []
    rules = []
    if spec.password_addition_blocked:
        rules.append({"restrictionType": "passwordAddition"})
    if spec.password_max_lifetime_days:
        rules.append({"restrictionType": "passwordLifetime", "maxLifetime": f"P{spec.password_max_lifetime_days}D"})
    return DEFAULT_POLICY_ID, rules


def check_password(ctx: Ctx, app: Obj, start: datetime, end: datetime) -> None:
    """400 as Graph answers a secret the governing policy forbids; the message names the policy."""
    policy_id, rules = password_restrictions(ctx, app)
    for rule in rules:
        kind = rule.get("restrictionType")
        if kind == "passwordAddition":
            raise bad_request(f"Password addition is not allowed as per assigned policy '{policy_id}'.",
                              code="CredentialTypeNotAllowedAsPerAppPolicy")
        match = _ISO_DAYS.match(str(rule.get("maxLifetime") or ""))
        if kind == "passwordLifetime" and match and end - start > timedelta(days=int(match.group(1))):
            raise bad_request("Credential lifetime exceeds the max value allowed as per assigned policy "
                              f"'{policy_id}'.", code="CredentialInvalidLifetimeAsPerAppPolicy")
