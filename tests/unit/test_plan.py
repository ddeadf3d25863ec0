"""The pure diff: desired x actual -> plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kodo_provision.manifest.load import load_manifest
from kodo_provision.manifest.resolve import resolve
from kodo_provision.plan.diff import diff
from kodo_provision.plan.model import (
    AddSecret,
    CreateResourceServicePrincipal,
    CreateServicePrincipal,
    GrantAppRole,
    GrantDelegated,
    UpsertApplication,
)
from kodo_provision.state.model import (
    Application,
    AppRoleAssignment,
    HeldSecret,
    PasswordCredentialInfo,
    PermissionGrant,
    ServicePrincipal,
    TenantState,
)

from .conftest import EXO

NOW = datetime(2026, 11, 27, tzinfo=UTC)
MANIFEST = load_manifest(Path(__file__).parents[2] / "manifests" / "kodo.yaml")


def converged(desired) -> tuple[TenantState, HeldSecret]:
    """The state a successful onboarding leaves behind."""
    app = Application("app-obj", "client-id", desired.display_name, desired.unique_name, desired.sign_in_audience,
                      desired.required_resource_access,
                      (PasswordCredentialInfo("key-1", "KODO", NOW + timedelta(days=180)),), desired.tags)
    sp = ServicePrincipal("client-sp", "client-id")
    assignments = tuple(AppRoleAssignment(f"a{i}", r.sp.id, p.id)
                        for i, (r, p) in enumerate((r, p) for r in desired.resources for p in r.application))
    grants = tuple(PermissionGrant(f"g-{r.app_id}", r.sp.id, "AllPrincipals", None,
                                   frozenset(p.name for p in r.delegated))
                   for r in desired.resources if r.delegated)
    return (TenantState(app, (), sp, assignments, grants),
            HeldSecret("key-1", "client-id", NOW + timedelta(days=180)))


def test_fresh_tenant_plans_everything_in_dependency_order(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    plan = diff(desired, TenantState(), held_secret=None, now=NOW)
    kinds = [type(s) for s in plan.steps]
    assert kinds[0] is UpsertApplication and plan.steps[0].create
    assert kinds[1] is CreateServicePrincipal
    assert kinds.count(GrantAppRole) == 8 and kinds.count(GrantDelegated) == 2
    assert kinds[-1] is AddSecret


def test_converged_tenant_plans_nothing(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    actual, held = converged(desired)
    plan = diff(desired, actual, held_secret=held, now=NOW)
    assert plan.is_empty, [s.describe() for s in plan.steps]


def test_one_removed_assignment_is_the_only_step(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    actual, held = converged(desired)
    removed = actual.app_role_assignments[2]
    actual = TenantState(actual.application, (), actual.service_principal,
                         tuple(a for a in actual.app_role_assignments if a != removed), actual.grants)
    plan = diff(desired, actual, held_secret=held, now=NOW)
    assert len(plan.steps) == 1
    step = plan.steps[0]
    assert isinstance(step, GrantAppRole) and step.app_role_id == removed.app_role_id


def test_partial_grant_is_updated_not_duplicated(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    actual, held = converged(desired)
    grants = tuple(PermissionGrant(g.id, g.resource_id, g.consent_type, None, frozenset({"Other.Scope"}))
                   for g in actual.grants)
    plan = diff(desired, TenantState(actual.application, (), actual.service_principal,
                                     actual.app_role_assignments, grants), held_secret=held, now=NOW)
    assert all(isinstance(s, GrantDelegated) and s.grant_id for s in plan.steps)
    assert all("Other.Scope" in s.scopes for s in plan.steps)


def test_requested_but_changed_permissions_update_the_app(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    actual, held = converged(desired)
    app = actual.application
    smaller = Application(app.id, app.app_id, app.display_name, app.unique_name, app.sign_in_audience,
                          frozenset(list(app.required_resource_access)[1:]), app.password_credentials, app.tags)
    plan = diff(desired, TenantState(smaller, (), actual.service_principal, actual.app_role_assignments,
                                     actual.grants), held_secret=held, now=NOW)
    assert [type(s) for s in plan.steps] == [UpsertApplication]
    assert plan.steps[0].changed_fields == ("requiredResourceAccess",)


def test_secret_rules(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    actual, held = converged(desired)
    def secret_steps(h, now=NOW):
        return [s for s in diff(desired, actual, held_secret=h, now=now).steps if isinstance(s, AddSecret)]
    assert secret_steps(held) == []
    assert "no secret" in secret_steps(None)[0].reason
    assert "no longer exists" in secret_steps(HeldSecret("gone", "client-id", None))[0].reason
    assert "another app" in secret_steps(HeldSecret("key-1", "other", None))[0].reason
    assert "expires" in secret_steps(held, now=NOW + timedelta(days=170))[0].reason


def test_missing_resource_sp_is_created_first(tenant_sps):
    del tenant_sps[EXO]
    desired = resolve(MANIFEST, tenant_sps)
    plan = diff(desired, TenantState(), held_secret=None, now=NOW)
    first = plan.steps[0]
    assert isinstance(first, CreateResourceServicePrincipal) and first.resource_app_id == EXO
    assert "full_access_as_app" in first.describe()


def test_plan_json_is_stable(tenant_sps):
    desired = resolve(MANIFEST, tenant_sps)
    data = diff(desired, TenantState(), held_secret=None, now=NOW).to_dict()
    assert data["schema_version"] == 1
    assert data["changes"] == len(data["steps"])
    assert {"kind", "description"} <= set(data["steps"][0])


def test_short_lived_secret_is_not_renewed_at_once(tenant_sps):
    """A 14-day secret (a tenant policy cap) is fresh when created, not 'within 30 days of expiry'."""
    from dataclasses import replace
    desired = replace(resolve(MANIFEST, tenant_sps), secret_lifetime=timedelta(days=14))
    actual, _held = converged(desired)
    held = HeldSecret("key-1", "client-id", NOW + timedelta(days=14))
    app = actual.application
    short = Application(app.id, app.app_id, app.display_name, app.unique_name, app.sign_in_audience,
                        app.required_resource_access,
                        (PasswordCredentialInfo("key-1", "KODO", NOW + timedelta(days=14)),), app.tags)
    state = TenantState(short, (), actual.service_principal, actual.app_role_assignments, actual.grants)
    assert diff(desired, state, held_secret=held, now=NOW).is_empty
    assert [type(s) for s in diff(desired, state, held_secret=held, now=NOW + timedelta(days=8)).steps] == [AddSecret]
