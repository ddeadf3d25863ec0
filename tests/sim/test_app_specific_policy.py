"""Issue 8, tenant policy: an appManagementPolicy assigned to the KODO app itself governs its secrets.

Graph: an app with its own policy "adopts this policy over the tenant-wide
tenantAppManagementPolicy setting" (appmanagementpolicy-post-appliesto).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from kodo_provision.flows.onboard import onboard_tenant
from kodo_provision.flows.options import OnboardOptions
from kodo_provision.flows.rotate import rotate_secret
from kodo_provision.manifest.load import load_manifest

from .conftest import CONTOSO, kodo_apps, tenant_state
from .lifecycle_helpers import ADMIN_PORTAL_SCOPES, creds_file, graph_as_admin, policy_reader_session

POLICY_ADMIN = (*ADMIN_PORTAL_SCOPES, "Policy.ReadWrite.ApplicationConfiguration")


def assign_app_policy(sim, app_object_id: str, rules: list[dict]) -> str:
    """The tenant admin creates an app management policy and assigns it to the KODO app."""
    created = graph_as_admin(sim, "POST", "/policies/appManagementPolicies", {
        "displayName": "KODO secrets", "isEnabled": True, "restrictions": {"passwordCredentials": rules}},
        scopes=POLICY_ADMIN)
    assert created.status_code == 201, created.text
    policy_id = created.json()["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/policies/appManagementPolicies/{policy_id}"}
    assigned = graph_as_admin(sim, "POST", f"/applications/{app_object_id}/appManagementPolicies/$ref", ref,
                              scopes=POLICY_ADMIN)
    assert assigned.status_code == 204, assigned.text
    return policy_id


def secret_days(app: dict, key_id: str) -> float:
    cred = next(c for c in app["passwordCredentials"] if c["keyId"] == key_id)
    start = datetime.fromisoformat(cred["startDateTime"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(cred["endDateTime"].replace("Z", "+00:00"))
    return (end - start) / timedelta(days=1)


def test_rotation_under_an_app_policy_it_cannot_read_lands_on_the_cap_and_names_the_policy(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    app = kodo_apps(tenant_state(sim))[0]
    policy_id = assign_app_policy(sim, app["id"], [{"restrictionType": "passwordLifetime", "maxLifetime": "P90D"}])
    run = kodo("rotate-secret", "--output", "json")
    new_key = run.json()["new_secret_key_id"]
    app = kodo_apps(tenant_state(sim))[0]
    assert 89.9 < secret_days(app, new_key) <= 90
    notes = [n for n in run.json()["notes"] if policy_id in n]
    assert len(notes) == 1 and "valid 90 days" in notes[0], run.json()["notes"]
    assert len(app["passwordCredentials"]) == 2, "the old secret is kept; no refused attempt left anything"


async def _rotate_with_policy_read(sim, tmp_path):
    options = OnboardOptions(tenant=CONTOSO, manifest=load_manifest(), credentials_path=creds_file(tmp_path))
    async with policy_reader_session(sim) as session:
        return await rotate_secret(session, options, credentials_path=creds_file(tmp_path), remove_old=False,
                                   overlap=None, budget_s=60, now=datetime.now(UTC))


def test_a_readable_app_policy_caps_the_rotation_up_front(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    app = kodo_apps(tenant_state(sim))[0]
    assign_app_policy(sim, app["id"], [{"restrictionType": "passwordLifetime", "maxLifetime": "P45D"}])
    before = len([r for r in sim.request_log if r.path.endswith("/addPassword")])
    result = asyncio.run(_rotate_with_policy_read(sim, tmp_path))
    app = kodo_apps(tenant_state(sim))[0]
    assert 44.9 < secret_days(app, result.new_key_id) <= 45
    assert any("clamped from 180 to 45 days" in n and "assigned to the app" in n for n in result.notes)
    addpassword = [r for r in sim.request_log if r.path.endswith("/addPassword")]
    assert len(addpassword) - before == 1, "no refusal round trip: the cap was known before the add"


async def _onboard_with_policy_read(sim, tmp_path):
    options = OnboardOptions(tenant=CONTOSO, manifest=load_manifest(), credentials_path=tmp_path / "other.json",
                             verify_budget_s=60)
    async with policy_reader_session(sim) as session:
        return await onboard_tenant(session, options)


def test_onboarding_an_adopted_app_plans_the_secret_within_its_own_policy(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    app = kodo_apps(tenant_state(sim))[0]
    assign_app_policy(sim, app["id"], [{"restrictionType": "passwordLifetime", "maxLifetime": "P45D"}])
    # A second operator without the first one's credentials file: a secret is due on the existing app.
    result = asyncio.run(_onboard_with_policy_read(sim, tmp_path))
    (step,) = [s for s in result.plan.to_dict()["steps"] if s["kind"] == "add_secret"]
    assert step["lifetime_days"] == 45, "the plan already shows the app policy's cap"
    assert any("clamped from 180 to 45 days" in n and "assigned to the app" in n for n in result.notes)
    assert 44.9 < secret_days(kodo_apps(tenant_state(sim))[0], result.secret_key_id) <= 45


def test_no_policy_read_when_no_secret_is_due(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    before = len(sim.request_log)
    kodo("onboard", "--yes")
    assert not [r for r in sim.request_log[before:] if r.path.endswith("/appManagementPolicies")]
