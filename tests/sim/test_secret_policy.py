"""Issue 8: the tenant's app-management policy caps or forbids client secrets.

Through the CLI the policy is not readable (the tool does not request Policy.Read.All), so
addPassword's refusal is handled. With a token that may read it (an operator session that
holds Policy.Read.All), the lifetime is clamped before the plan and a tenant that forbids
secrets is refused before anything is created.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from kodo_provision.errors import ExitStatus, ProvisioningError
from kodo_provision.flows.onboard import onboard_tenant
from kodo_provision.flows.options import OnboardOptions
from kodo_provision.manifest.load import load_manifest
from kodo_provision.simulator import Faults, Scenario, Simulator

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state, without_sign_in_consent
from .lifecycle_helpers import policy_reader_session


def policy_sim(**policy):
    data = Scenario.default().model_dump()
    data["tenants"][0]["app_management_policy"] = {"password_max_lifetime_days": None, **policy}
    return Simulator(scenario=Scenario.model_validate(data), faults=Faults())


@pytest.fixture
def sim(request):
    with policy_sim(**getattr(request, "param", {})) as simulator:
        yield simulator


def policy(**rules):
    """Run the test against a simulator whose Contoso policy has `rules`."""
    return pytest.mark.parametrize("sim", [rules], indirect=True)


def lifetime_days(app: dict) -> float:
    (cred,) = app["passwordCredentials"]
    start = datetime.fromisoformat(cred["startDateTime"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(cred["endDateTime"].replace("Z", "+00:00"))
    return (end - start) / timedelta(days=1)


@policy(password_max_lifetime_days=90)
def test_ninety_day_cap_yields_a_ninety_day_secret_and_a_warning(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes", "--output", "json")
    result = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    assert 89.9 < lifetime_days(result["app"]) <= 90  # exactly one secret, 90 days
    warnings = [n for n in run.json()["notes"] if "app management policy" in n]
    assert len(warnings) == 1 and "refused a 180-day secret" in warnings[0] and "valid 90 days" in warnings[0]
    expires = datetime.fromisoformat(result["creds"]["secret_expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(hours=1)
    assert run.json()["status"] == "verified"


@policy(password_max_lifetime_days=60)
def test_cap_below_the_portal_lifetimes_is_refused_naming_the_policy(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes", expect=ExitStatus.PROVISIONING_FAILED)
    line = run.err.strip().splitlines()[-1]
    assert "app management policy" in line and "--secret-lifetime" in line
    assert all(not a.get("passwordCredentials") for a in kodo_apps(tenant_state(sim)))
    # The operator's choice within the cap then works, without a warning.
    run = kodo("onboard", "--yes", "--secret-lifetime", "60d", "--output", "json")
    assert not [n for n in run.json()["notes"] if "app management policy" in n]


@policy(password_addition_blocked=True)
def test_blocked_secrets_are_refused_with_the_policy_named(sim, kodo):
    run = kodo("onboard", "--yes", expect=ExitStatus.PROVISIONING_FAILED)
    assert "does not allow client secrets" in run.err.strip().splitlines()[-1]
    assert "--credential certificate" in run.err.strip().splitlines()[-1]
    assert all(not a.get("passwordCredentials") for a in kodo_apps(tenant_state(sim)))
    # The hint works: a certificate is what the policy still allows.
    kodo("onboard", "--yes", "--credential", "certificate")
    app = kodo_apps(tenant_state(sim))[0]
    assert len(app["keyCredentials"]) == 1 and not app.get("passwordCredentials")


async def onboard_with_policy_read(sim, tmp_path, **options):
    """onboard_tenant through a session whose token also holds Policy.Read.All."""
    opts = OnboardOptions(tenant=CONTOSO, manifest=load_manifest(), credentials_path=tmp_path / "c.json",
                          verify_budget_s=60, **options)
    async with policy_reader_session(sim) as session:
        return await onboard_tenant(session, opts)


@policy(password_max_lifetime_days=60)
def test_readable_policy_clamps_before_the_plan(sim, tmp_path):
    result = asyncio.run(onboard_with_policy_read(sim, tmp_path))
    (step,) = [s for s in result.plan.to_dict()["steps"] if s["kind"] == "add_secret"]
    assert step["lifetime_days"] == 60  # the plan already says what will be created
    assert any("clamped from 180 to 60 days" in n for n in result.notes)
    assert 59.9 < lifetime_days(kodo_apps(tenant_state(sim))[0]) <= 60
    addpassword = [r for r in sim.request_log if r.kind == "graph" and r.path.endswith("/addPassword")]
    assert len(addpassword) == 1  # no refusal round trip
    assert json.loads((tmp_path / "c.json").read_text())["client_secret"]


@policy(password_addition_blocked=True)
def test_readable_policy_that_forbids_secrets_refuses_before_anything_is_created(sim, tmp_path):
    before = tenant_state(sim)
    with pytest.raises(ProvisioningError) as caught:
        asyncio.run(onboard_with_policy_read(sim, tmp_path))
    assert caught.value.exit_status == ExitStatus.PROVISIONING_FAILED
    assert "Default app management tenant policy" in caught.value.summary
    assert without_sign_in_consent(tenant_state(sim)) == before


@policy(password_addition_blocked=True)
def test_failed_run_still_writes_an_audit_record_of_what_it_created(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes", expect=ExitStatus.PROVISIONING_FAILED)
    (path,) = tmp_path.glob(f"kodo-audit-{CONTOSO}-*.json")
    record = json.loads(path.read_text())
    state = tenant_state(sim)
    app = kodo_apps(state)[0]
    sp = next(s for s in state["servicePrincipals"] if s["appId"] == app["appId"])
    assert record["status"] == "failed" and "does not allow client secrets" in record["error"]
    assert set(record["created_object_ids"]) == {app["id"], sp["id"]}  # all the run created
    assert record["permissions_granted"] == []
    assert "does not allow client secrets" in run.err
