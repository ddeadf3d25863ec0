"""The pure diff, the other way round: permissions the tenant holds beyond the manifest (--prune),
and the pure offboarding plan."""

from __future__ import annotations

from dataclasses import replace

from kodo_provision.manifest.resolve import resolve
from kodo_provision.plan.diff import diff, extra_permissions
from kodo_provision.plan.model import (
    DeleteApplication,
    DeleteServicePrincipal,
    GrantDelegated,
    PurgeApplication,
    RevokeAppRole,
    RevokeDelegated,
)
from kodo_provision.plan.offboard import offboard_plan
from kodo_provision.state.model import AppRoleAssignment, PermissionGrant, TenantState

from .conftest import GRAPH
from .test_plan import MANIFEST, NOW, converged

DIRECTORY_READ_ALL = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"


def with_sps(actual: TenantState, tenant_sps) -> TenantState:
    return replace(actual, resource_service_principals=dict(tenant_sps))


def drifted(tenant_sps):
    """Converged, plus one extra app role (unknown to the manifest) and one extra delegated scope."""
    desired = resolve(MANIFEST, tenant_sps)
    actual, held = converged(desired)
    graph_sp = tenant_sps[GRAPH]
    extra = AppRoleAssignment("extra-1", graph_sp.id, DIRECTORY_READ_ALL)
    grants = tuple(replace(g, scopes=g.scopes | {"Mail.Read"}) if g.resource_id == graph_sp.id else g
                   for g in actual.grants)
    actual = replace(actual, app_role_assignments=(*actual.app_role_assignments, extra), grants=grants)
    return desired, with_sps(actual, tenant_sps), held


def test_extras_are_notes_without_prune(tenant_sps):
    desired, actual, held = drifted(tenant_sps)
    plan = diff(desired, actual, held_secret=held, now=NOW)
    assert plan.is_empty
    assert any("application permission Microsoft Graph / " + DIRECTORY_READ_ALL in n for n in plan.notes)
    assert any("delegated Microsoft Graph / Mail.Read" in n and "--prune" in n for n in plan.notes)


def test_prune_revokes_exactly_the_extras(tenant_sps):
    desired, actual, held = drifted(tenant_sps)
    plan = diff(desired, actual, held_secret=held, now=NOW, prune=True)
    assert [type(s) for s in plan.steps] == [RevokeAppRole, RevokeDelegated]
    role, grant = plan.steps
    assert role.assignment_id == "extra-1" and role.app_role_id == DIRECTORY_READ_ALL
    assert grant.removed == ("Mail.Read",) and grant.remaining == ("User.Read",)
    assert plan.notes == ()


def test_extra_assignment_is_named_when_the_resource_publishes_it(tenant_sps):
    _, actual, _ = drifted(tenant_sps)
    graph_sp = tenant_sps[GRAPH]
    mail = next(r for r in graph_sp.app_roles if r.value == "Mail.ReadWrite")
    smaller = MANIFEST.model_copy(update={"resources": tuple(
        r.model_copy(update={"application": tuple(a for a in r.application if a != "Mail.ReadWrite")})
        for r in MANIFEST.resources)})
    desired = resolve(smaller, tenant_sps)
    roles, _ = extra_permissions(desired, actual)
    assert {r.permission_name for r in roles} == {"Mail.ReadWrite", DIRECTORY_READ_ALL}
    assert any(r.app_role_id == mail.id for r in roles)


def test_prune_with_a_missing_scope_is_one_grant_update(tenant_sps):
    desired, actual, held = drifted(tenant_sps)
    graph_sp = tenant_sps[GRAPH]
    grants = tuple(replace(g, scopes=frozenset({"Mail.Read"})) if g.resource_id == graph_sp.id else g
                   for g in actual.grants)
    actual = replace(actual, grants=grants, app_role_assignments=actual.app_role_assignments[:-1])
    plan = diff(desired, actual, held_secret=held, now=NOW, prune=True)
    assert [type(s) for s in plan.steps] == [GrantDelegated]
    step = plan.steps[0]
    assert step.scopes == ("User.Read",) and step.added == ("User.Read",) and step.removed == ("Mail.Read",)
    assert "remove Mail.Read" in step.describe()


def test_user_consents_are_not_pruned(tenant_sps):
    desired, actual, held = drifted(tenant_sps)
    own = PermissionGrant("user-grant", tenant_sps[GRAPH].id, "Principal", "user-1", frozenset({"Files.Read"}))
    actual = replace(actual, grants=(*actual.grants, own))
    plan = diff(desired, actual, held_secret=held, now=NOW, prune=True)
    assert all(getattr(s, "grant_id", None) != "user-grant" for s in plan.steps)


def test_offboard_plan_removes_everything_in_order(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    actual, _ = converged(desired)
    plan = offboard_plan(with_sps(actual, tenant_sps), desired.unique_name, purge=True)
    kinds = [type(s) for s in plan.steps]
    assert kinds.count(RevokeDelegated) == 2 and kinds.count(RevokeAppRole) == 8
    assert kinds[-3:] == [DeleteServicePrincipal, DeleteApplication, PurgeApplication]
    assert all(not s.remaining for s in plan.steps if isinstance(s, RevokeDelegated))
    assert offboard_plan(TenantState(), desired.unique_name, purge=True).is_empty
    assert [type(s) for s in offboard_plan(TenantState(), desired.unique_name, purge=True,
                                           deleted=(("obj", "KODO"),)).steps] == [PurgeApplication]
