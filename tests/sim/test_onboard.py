"""Issue 3 acceptance: one-command onboarding against the simulator through the real stacks."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from azure.identity import ClientSecretCredential

from .conftest import CONTOSO, FABRIKAM, assert_converged, kodo_apps, tenant_state

MANIFEST_APPLICATION = {
    "https://graph.microsoft.com": {"Calendars.ReadWrite", "Contacts.ReadWrite", "Files.ReadWrite.All",
                                    "Mail.ReadWrite", "Sites.Read.All", "User.Read.All"},
    "https://outlook.office365.com": {"full_access_as_app"},
    "https://graph.windows.net": {"Directory.Read.All"},
}


def roles_of(sim, creds: dict, resource: str) -> set[str]:
    credential = ClientSecretCredential(creds["tenant_id"], creds["client_id"], creds["client_secret"],
                                        authority=sim.url, disable_instance_discovery=True,
                                        connection_verify=str(sim.ca_bundle_path))
    token = credential.get_token(f"{resource}/.default").token
    payload = token.split(".")[1]
    return set(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("roles", []))


def test_fresh_tenant_is_onboarded_and_the_credentials_work(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes")
    creds_path = tmp_path / f"kodo-credentials-{CONTOSO}.json"
    result = assert_converged(sim, CONTOSO, creds_path)
    assert len(result["assignments"]) == 8
    scopes = {g["resourceId"]: set(g["scope"].split()) for g in result["grants"]}
    assert sorted(map(sorted, scopes.values())) == [["User.Read"], ["User.Read.All"]]
    assert all(g["consentType"] == "AllPrincipals" for g in result["grants"])
    for resource, wanted in MANIFEST_APPLICATION.items():
        assert wanted <= roles_of(sim, result["creds"], resource), resource
    assert "Verification  passed" in run.out
    assert "To sign in, open" in run.err and "To sign in" not in run.out
    assert result["creds"]["client_secret"] not in run.out + run.err


def test_second_run_changes_nothing(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    before = tenant_state(sim)
    run = kodo("onboard", "--yes")
    after = tenant_state(sim)
    assert "nothing to change" in run.out
    assert len(kodo_apps(after)) == 1
    assert kodo_apps(after)[0]["passwordCredentials"] == kodo_apps(before)[0]["passwordCredentials"]
    assert len(after["appRoleAssignments"]) == len(before["appRoleAssignments"])
    assert len(after["oauth2PermissionGrants"]) == len(before["oauth2PermissionGrants"])


def test_json_output_is_one_object_without_the_secret(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes", "--output", "json")
    data = run.json()
    creds = json.loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text())
    assert data["status"] == "verified" and data["client_id"] == creds["client_id"]
    assert data["verification"]["ok"] and data["verification"]["replan_empty"]
    assert creds["client_secret"] not in run.out
    assert data["plan"]["schema_version"] == 1


def test_show_secret_prints_it(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes", "--show-secret", "--credentials-out", str(tmp_path / "c.json"))
    creds = json.loads((tmp_path / "c.json").read_text())
    assert creds["client_secret"] in run.out


def test_secret_never_in_logs_or_output(sim, kodo, tmp_path):
    log_file = tmp_path / "events.jsonl"
    run = kodo("onboard", "--yes", "--log-level", "debug", "--log-format", "json", "--output", "json")
    run2 = kodo("onboard", "--yes", "--log-level", "debug", "--log-file", str(log_file))
    creds = json.loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text())
    everything = run.out + run.err + run2.out + run2.err + log_file.read_text()
    assert creds["client_secret"] not in everything
    assert "eyJ" not in everything  # no JWT (access/refresh/id token) anywhere


def test_removed_grant_is_restored_alone(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    victim = result["assignments"][0]
    sim.tenant(CONTOSO).delete_app_role_assignment(victim["id"])
    run = kodo("onboard", "--yes", "--output", "json")
    steps = run.json()["plan"]["steps"]
    assert [s["kind"] for s in steps] == ["grant_app_role"]
    assert steps[0]["app_role_id"] == victim["appRoleId"]
    after = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    assert len(after["assignments"]) == 8


def test_missing_exchange_resource_sp_is_created(sim, kodo, tmp_path):
    kodo("onboard", "--yes", tenant=FABRIKAM)
    result = assert_converged(sim, FABRIKAM, tmp_path / f"kodo-credentials-{FABRIKAM}.json")
    exo = [s for s in result["state"]["servicePrincipals"] if s["appId"] == "00000002-0000-0ff1-ce00-000000000000"]
    assert len(exo) == 1
    assert "full_access_as_app" in roles_of(sim, result["creds"], "https://outlook.office365.com")


def test_credentials_of_another_tenant_are_not_overwritten(sim, kodo, tmp_path):
    other = tmp_path / "c.json"
    other.write_text(json.dumps({"tenant_id": "11111111-1111-1111-1111-111111111111", "client_secret": "x"}))
    run = kodo("onboard", "--yes", "--credentials-out", str(other), expect=2)
    assert "belongs to tenant" in run.err
    assert json.loads(other.read_text())["client_secret"] == "x"
    assert kodo_apps(tenant_state(sim)) == []


def test_custom_app_name_and_lifetime(sim, kodo, tmp_path):
    kodo("onboard", "--yes", "--app-name", "KODO Backup (Contoso)", "--secret-lifetime", "90d")
    # --app-name addresses its own app: uniqueName <manifest unique_name>-<slug(app name)>.
    # ... and its own credentials file (issue 15: two apps in one tenant never share one).
    result = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}-kodo-backup-contoso.json",
                              unique_name="kodo-cloud-backup-kodo-backup-contoso")
    assert result["app"]["displayName"] == "KODO Backup (Contoso)"
    expires = result["creds"]["secret_expires_at"]
    assert expires and Path  # ISO 8601, parsed below
    from datetime import UTC, datetime, timedelta
    delta = datetime.fromisoformat(expires) - datetime.now(UTC)
    assert timedelta(days=89) < delta <= timedelta(days=90)


def test_app_is_single_tenant_and_its_service_principal_locked(sim, kodo, tmp_path):
    """Least privilege: AzureADMyOrg, and the app instance property lock so no credential can be
    added to the service principal behind the app's back.
    https://learn.microsoft.com/en-us/graph/api/resources/serviceprincipallockconfiguration"""
    kodo("onboard", "--yes")
    app = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")["app"]
    assert app["signInAudience"] == "AzureADMyOrg"
    lock = app["servicePrincipalLockConfiguration"]
    assert lock["isEnabled"] is True and lock["allProperties"] is True


def test_show_secret_with_json_output_adds_exactly_the_client_secret(sim, kodo, tmp_path):
    """Issue 15: what --show-secret prints with --output json is stated in --help and README: the top-level
    "client_secret"; without the flag the secret appears nowhere on stdout."""
    creds = tmp_path / "c.json"
    plain = kodo("onboard", "--yes", "--output", "json", "--credentials-out", str(creds))
    secret = json.loads(creds.read_text())["client_secret"]
    assert "client_secret" not in plain.json() and secret not in plain.out + plain.err
    shown = kodo("onboard", "--yes", "--output", "json", "--show-secret", "--credentials-out", str(creds)).json()
    assert shown["client_secret"] == secret
    assert set(shown) - set(plain.json()) == {"client_secret"}
    assert '"client_secret"' in kodo("onboard", "--help", tenant=None, endpoints=False).out


def test_no_library_log_lines_on_stderr_while_a_new_secret_propagates(sim, kodo, tmp_path):
    """Issue 16: azure-identity logs `ClientSecretCredential.get_token failed` (with Entra's JSON and trace IDs)
    for every poll while a new secret is refused; those lines go to --log-file (redacted), not stderr."""
    from kodo_provision.simulator import Faults

    sim.set_faults(Faults(new_secret_delay_ms=4000))
    log = tmp_path / "run.log"
    run = kodo("onboard", "--yes", "--log-file", str(log))
    assert [r for r in sim.request_log if r.error_code and "7000215" in r.error_code], "the secret was refused"
    assert "get_token failed" not in run.err and "Trace ID" not in run.err, run.err
    assert "get_token failed" in log.read_text()
    secret = json.loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text())["client_secret"]
    assert secret not in log.read_text()
