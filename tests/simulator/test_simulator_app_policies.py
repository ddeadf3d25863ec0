"""App-specific appManagementPolicy: created, assigned to one app, and preferred over the tenant default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import ADMIN_SCOPES, CONTOSO, sign_in, token_of

POLICY_SCOPES = [*ADMIN_SCOPES, "https://graph.microsoft.com/Policy.ReadWrite.ApplicationConfiguration",
                 "https://graph.microsoft.com/Policy.Read.All"]


def _secret(raw, token: str, app_id: str, days: int):
    start = datetime.now(UTC).replace(microsecond=0)
    end = start + timedelta(days=days)
    return raw("POST", f"/v1.0/applications/{app_id}/addPassword", token, json={"passwordCredential": {
        "displayName": "s", "startDateTime": start.isoformat(), "endDateTime": end.isoformat()}})


def _app(raw, token: str, name: str) -> str:
    response = raw("POST", "/v1.0/applications", token, json={"displayName": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_an_assigned_policy_caps_that_app_only_and_names_itself(sim, raw):
    token = token_of(sign_in(sim, CONTOSO, scopes=POLICY_SCOPES), *POLICY_SCOPES)
    sim.settle_replication()
    capped, free = _app(raw, token, "capped"), _app(raw, token, "free")
    sim.settle_replication()
    created = raw("POST", "/v1.0/policies/appManagementPolicies", token, json={
        "displayName": "30-day secrets", "isEnabled": True,
        "restrictions": {"passwordCredentials": [{"restrictionType": "passwordLifetime", "maxLifetime": "P30D"}]}})
    assert created.status_code == 201, created.text
    policy_id = created.json()["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/policies/appManagementPolicies/{policy_id}"}
    assert raw("POST", f"/v1.0/applications/{capped}/appManagementPolicies/$ref", token, json=ref).status_code == 204

    refused = _secret(raw, token, capped, 90)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "CredentialInvalidLifetimeAsPerAppPolicy" and policy_id in error["message"]
    assert _secret(raw, token, capped, 30).status_code == 200
    assert _secret(raw, token, free, 90).status_code == 200, "the tenant default allows 90 days"

    listed = raw("GET", f"/v1.0/applications/{capped}/appManagementPolicies", token).json()["value"]
    assert [p["id"] for p in listed] == [policy_id]
    assert raw("GET", f"/v1.0/applications/{free}/appManagementPolicies", token).json()["value"] == []


def test_reading_an_apps_policies_needs_policy_read(sim, raw):
    token = token_of(sign_in(sim, CONTOSO), *ADMIN_SCOPES)
    sim.settle_replication()
    app = _app(raw, token, "x")
    sim.settle_replication()
    response = raw("GET", f"/v1.0/applications/{app}/appManagementPolicies", token)
    assert response.status_code == 403 and response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_only_one_policy_per_app(sim, raw):
    token = token_of(sign_in(sim, CONTOSO, scopes=POLICY_SCOPES), *POLICY_SCOPES)
    sim.settle_replication()
    app = _app(raw, token, "x")
    sim.settle_replication()
    ids = [raw("POST", "/v1.0/policies/appManagementPolicies", token,
               json={"displayName": f"p{i}", "restrictions": {}}).json()["id"] for i in range(2)]
    for i, pid in enumerate(ids):
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/policies/appManagementPolicies/{pid}"}
        response = raw("POST", f"/v1.0/applications/{app}/appManagementPolicies/$ref", token, json=ref)
        assert response.status_code == (204 if i == 0 else 400)
