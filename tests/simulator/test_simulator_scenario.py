"""Scenario files: YAML/JSON loading, validation, merging, and what the tenants start with."""

from __future__ import annotations

import json

import pydantic
import pytest

from kodo_provision.simulator import Faults, Scenario, Simulator

TENANT = {
    "id": "11111111-1111-4111-8111-111111111111",
    "domain": "woodgrove.onmicrosoft.com",
    "users": [{"upn": "boss@woodgrove.onmicrosoft.com", "roles": ["Global Administrator"]},
              {"upn": "dev@woodgrove.onmicrosoft.com", "roles": ["Application Developer"]}],
    "sign_in_user": "dev@woodgrove.onmicrosoft.com",
    "missing_resources": ["00000002-0000-0000-c000-000000000000"],
    "app_management_policy": {"password_addition_blocked": True},
}


def test_default_scenario_has_fixed_tenants_and_users():
    s = Scenario.default()
    assert [t.domain for t in s.tenants] == ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com",
                                             "msp-partner.onmicrosoft.com"]
    assert s.tenants[0].id == "6f1c4b1e-2a57-4c43-9d1e-1c0ffee00001"
    assert s.tenants[1].missing_resources == ["00000002-0000-0ff1-ce00-000000000000"]


def test_load_yaml_and_json_and_merge(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"tenants": [TENANT], "faults": {"latency_ms": 3}}))
    (tmp_path / "s.yaml").write_text("sign_in:\n  auto_approve: false\n")
    merged = Scenario.default() | Scenario.load(tmp_path / "s.json") | Scenario.load(tmp_path / "s.yaml")
    assert len(merged.tenants) == 4 and merged.faults.latency_ms == 3
    assert merged.sign_in.auto_approve is False and merged.sign_in.default_tenant == "contoso.onmicrosoft.com"


def test_validation_names_the_failing_path():
    bad = {"tenants": [{**TENANT, "users": [{"upn": "x@y", "roles": ["Emperor"]}], "sign_in_user": None}]}
    with pytest.raises(pydantic.ValidationError, match=r"tenants\.0\.users\.0\.roles"):
        Scenario.model_validate(bad)
    with pytest.raises(pydantic.ValidationError, match="sign_in_user"):
        Scenario.model_validate({"tenants": [{**TENANT, "sign_in_user": "ghost@woodgrove.onmicrosoft.com"}]})
    with pytest.raises(pydantic.ValidationError, match="used twice"):
        Scenario.model_validate({"tenants": [TENANT, TENANT]})


def test_custom_tenant_state_and_scenario_faults():
    scenario = Scenario.model_validate({"tenants": [TENANT], "faults": {"throttle_rate": 0.25, "seed": 9}})
    sim = Simulator(scenario)  # state is available before start()
    state = sim.tenant("woodgrove.onmicrosoft.com").dump()
    assert "00000002-0000-0000-c000-000000000000" not in {s["appId"] for s in state["servicePrincipals"]}
    assert {u["userPrincipalName"] for u in state["users"]} == {"boss@woodgrove.onmicrosoft.com",
                                                                 "dev@woodgrove.onmicrosoft.com"}
    assert sim.faults.throttle_rate == 0.25
    # Faults passed to the constructor win over the scenario's.
    assert Simulator(scenario, faults=Faults()).faults.throttle_rate == 0


def test_partner_access_short_form_grants_global_administrator():
    from kodo_provision.simulator.scenario import UserSpec

    user = UserSpec.model_validate({"upn": "p@msp.example", "partner_access": ["contoso.onmicrosoft.com"]})
    assert user.partner_access[0].roles == ["62e90394-69f5-4237-9190-012177145e10"]


def test_the_simulators_tls_key_is_private(tmp_path):
    """Issue 15: the server key file is 0600 from the first byte."""
    import os
    import stat

    from kodo_provision.simulator.tls import create_tls_material

    material = create_tls_material(tmp_path)
    assert stat.S_IMODE(os.stat(material.key_path).st_mode) == 0o600
    assert material.key_path.read_text().startswith("-----BEGIN")
