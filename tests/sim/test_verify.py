"""Issue 4: `verify` passes on a good tenant and fails, naming the check, for each kind of damage."""

from __future__ import annotations

import json

from .conftest import CONTOSO, assert_converged, without_sign_in_consent
from .lifecycle_helpers import creds_file, set_secret_end


def failed(run) -> set[str]:
    return {c["name"] for c in run.json()["checks"] if c["status"] == "fail"}


def test_verify_passes_on_a_good_tenant(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    before = sim.tenant(CONTOSO).dump()
    run = kodo("verify")
    assert "Verification  passed" in run.out
    assert f"Client ID     {result['app']['appId']}" in run.out
    assert "ok    app_token: Microsoft Graph / Mail.ReadWrite is in the app-only token's roles" in run.out
    data = kodo("verify", "--output", "json").json()
    assert data["ok"] and data["failed"] == []
    assert data["app"]["client_id"] == result["app"]["appId"]
    assert data["app"]["service_principal_id"] == result["sp_id"]
    names = {c["name"] for c in data["checks"]}
    assert {"app", "required_resource_access", "application_permission", "delegated_scope", "secret_expiry",
            "app_token"} <= names
    # Read-only: verify changed nothing. Its sign-in asked for Directory.Read.All, which the admin consented
    # on the sign-in page (Entra records that on the tool's public client); nothing else differs.
    after = sim.tenant(CONTOSO).dump()
    assert without_sign_in_consent(after) == without_sign_in_consent(before)
    consented = {s for g in after["oauth2PermissionGrants"] for s in g["scope"].split()} - {
        s for g in before["oauth2PermissionGrants"] for s in g["scope"].split()}
    assert consented == {"Directory.Read.All"}, consented


def test_verify_fails_on_a_missing_assignment(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    sim.tenant(CONTOSO).delete_app_role_assignment(result["assignments"][0]["id"])
    run = kodo("verify", "--output", "json", "--token-budget", "0", expect=6)
    assert "application_permission" in failed(run)
    assert "check(s) failed" in run.err and "application_permission" in run.err


def test_verify_fails_on_a_missing_delegated_scope(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    sim.tenant(CONTOSO).delete_oauth2_permission_grant(result["grants"][0]["id"])
    run = kodo("verify", expect=6)
    assert "FAIL  delegated_scope:" in run.out and "is NOT in the AllPrincipals grant" in run.out
    assert "delegated_scope" in run.err


def test_verify_fails_on_an_expired_secret(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    creds = json.loads(creds_file(tmp_path).read_text())
    set_secret_end(sim, CONTOSO, creds["secret_key_id"], "2026-01-01T00:00:00Z")
    run = kodo("verify", "--output", "json", "--token-budget", "0", expect=6)
    assert {"secret_expiry", "app_token"} <= failed(run)
    expiry = next(c for c in run.json()["checks"] if c["name"] == "secret_expiry")
    assert "expired 2026-01-01" in expiry["message"]


def test_verify_fails_on_a_secret_that_cannot_get_a_token(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    creds = json.loads(path.read_text())
    creds["client_secret"] = "not-the-secret"
    path.write_text(json.dumps(creds))
    run = kodo("verify", "--output", "json", "--token-budget", "0", expect=6)
    assert failed(run) == {"app_token"}
    token = next(c for c in run.json()["checks"] if c["name"] == "app_token")
    assert "no app-only token" in token["message"]


def test_verify_on_a_tenant_without_the_app(sim, kodo, tmp_path):
    run = kodo("verify", expect=6)
    assert "FAIL  app: no app registration with uniqueName kodo-cloud-backup" in run.out


def test_verify_warns_inside_30_days_but_passes(sim, kodo, tmp_path):
    from datetime import UTC, datetime, timedelta

    kodo("onboard", "--yes")
    creds = json.loads(creds_file(tmp_path).read_text())
    soon = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    set_secret_end(sim, CONTOSO, creds["secret_key_id"], soon)
    run = kodo("verify")
    assert "WARN  secret_expiry:" in run.out and "run kodo-provision rotate-secret" in run.out
    assert "Verification  passed, 1 warning(s)" in run.out
