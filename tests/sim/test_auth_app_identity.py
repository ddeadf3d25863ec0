"""Issue 8: `--auth client-secret` / `--auth certificate` - the operator's own automation app (an MSP's
multi-tenant app already consented in the customer tenant) onboards without a user.

The default scenario has "MSP Automation" (home: msp-partner), consented in contoso with the
application permissions onboarding needs, and in fabrikam without DelegatedPermissionGrant.ReadWrite.All.
Its tokens' `roles` are its live app role assignments in the tenant asked for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kodo_provision.credentials.certificate import generate_certificate
from kodo_provision.errors import ExitStatus
from kodo_provision.simulator import Faults, Scenario, Simulator

from .conftest import CONTOSO, FABRIKAM, assert_converged, kodo_apps, tenant_state

AUTOMATION_APP_ID = "5e1a7c2d-0000-4000-8000-00000000a001"
AUTOMATION_SECRET = "sim-automation-secret-8Q~not-a-real-secret-0001"  # noqa: S105 - the scenario's test value


CERT = generate_certificate("MSP Automation", now=datetime.now(UTC), lifetime=timedelta(days=30))


@pytest.fixture
def sim():
    """The default scenario, with a certificate (CERT) registered on the automation app too."""
    base = Scenario.default()
    apps = [a.model_copy(update={"certificates": [CERT.certificate_pem.decode()]}) for a in base.automation_apps]
    with Simulator(scenario=base.model_copy(update={"automation_apps": apps}), faults=Faults()) as simulator:
        yield simulator


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert " — " in lines[0], f"no hint in: {lines[0]}"
    return lines[0]


@pytest.fixture
def app_secret(monkeypatch):
    monkeypatch.setenv("KODO_AUTH_CLIENT_SECRET", AUTOMATION_SECRET)
    return ("--auth", "client-secret", "--auth-client-id", AUTOMATION_APP_ID)


def test_onboard_as_the_automation_app_converges(sim, kodo, app_secret, tmp_path):
    sim.clear_request_log()
    run = kodo("onboard", "--yes", "--output", "json", *app_secret)
    result = run.json()
    assert result["status"] == "verified" and result["signed_in_as"] == f"app {AUTOMATION_APP_ID}"
    converged = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    assert not any(r.path.endswith(("/devicecode", "/authorize")) for r in sim.request_log)  # no user
    audit = json.loads((tmp_path / result["audit_file"]).read_text())
    automation_sp = next(s for s in converged["state"]["servicePrincipals"] if s["appId"] == AUTOMATION_APP_ID)
    assert audit["signed_in"] == {"user_principal_name": f"app {AUTOMATION_APP_ID}", "object_id": automation_sp["id"]}
    # The same identity serves the other commands; re-plan is empty.
    assert kodo("plan", "--detailed-exitcode", *app_secret).code == 0
    kodo("verify", *app_secret)


def test_missing_application_permission_is_refused_before_any_change(sim, kodo, app_secret):
    before = tenant_state(sim, FABRIKAM)
    sim.clear_request_log()
    run = kodo("onboard", "--yes", *app_secret, tenant=FABRIKAM, expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    line = one_error_line(run.err)
    assert "DelegatedPermissionGrant.ReadWrite.All" in line and AUTOMATION_APP_ID in line
    assert "grant them to the automation app" in line
    assert tenant_state(sim, FABRIKAM) == before
    assert not any(r.kind == "graph" for r in sim.request_log)  # refused from the token alone


def test_roles_come_from_the_live_assignments(sim, kodo, app_secret):
    """Revoking the automation app's consent in the tenant takes effect on its next token."""
    state = tenant_state(sim)
    sp = next(s for s in state["servicePrincipals"] if s["appId"] == AUTOMATION_APP_ID)
    graph = next(s for s in state["servicePrincipals"] if s["appId"] == "00000003-0000-0000-c000-000000000000")
    role_id = next(r["id"] for r in graph["appRoles"] if r["value"] == "AppRoleAssignment.ReadWrite.All")
    victim = next(a for a in state["appRoleAssignments"] if a["principalId"] == sp["id"] and a["appRoleId"] == role_id)
    sim.tenant(CONTOSO).delete_app_role_assignment(victim["id"])
    run = kodo("onboard", "--yes", *app_secret, expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    assert "AppRoleAssignment.ReadWrite.All" in one_error_line(run.err)
    assert kodo_apps(tenant_state(sim)) == []


def test_the_secret_never_appears_in_output_or_logs(sim, kodo, app_secret, tmp_path):
    log_file = tmp_path / "events.log"
    run = kodo("onboard", "--yes", "--log-level", "debug", "--log-file", str(log_file), *app_secret)
    run2 = kodo("onboard", "--yes", "--log-level", "debug", "--log-format", "json", "--output", "json", *app_secret)
    everything = run.out + run.err + run2.out + run2.err + log_file.read_text()
    assert AUTOMATION_SECRET not in everything and "eyJ" not in everything


def test_a_wrong_secret_is_a_sign_in_failure_without_echoing_it(sim, kodo, monkeypatch):
    monkeypatch.setenv("KODO_AUTH_CLIENT_SECRET", "wrong-secret-value-123")
    run = kodo("onboard", "--yes", "--auth", "client-secret", "--auth-client-id", AUTOMATION_APP_ID,
               expect=ExitStatus.SIGN_IN_FAILED)
    line = one_error_line(run.err)
    assert "AADSTS7000215" in line and "wrong-secret-value-123" not in run.err + run.out


def test_the_secret_is_only_read_from_the_environment(sim, kodo, monkeypatch):
    monkeypatch.delenv("KODO_AUTH_CLIENT_SECRET", raising=False)
    run = kodo("onboard", "--yes", "--auth", "client-secret", "--auth-client-id", AUTOMATION_APP_ID,
               expect=ExitStatus.USAGE)
    assert "KODO_AUTH_CLIENT_SECRET" in one_error_line(run.err)
    kodo("onboard", "--yes", "--auth", "client-secret", "--auth-client-secret", "x", expect=ExitStatus.USAGE)
    assert not any(r.kind in ("graph", "login") for r in sim.request_log)


def test_app_identities_need_a_client_id_and_do_not_log_in(sim, kodo, app_secret):
    kodo("onboard", "--yes", "--auth", "client-secret", expect=ExitStatus.USAGE)
    kodo("login", "--auth", "client-secret", expect=ExitStatus.USAGE)


def test_onboard_with_the_automation_apps_certificate(sim, kodo, tmp_path, monkeypatch):
    monkeypatch.delenv("KODO_AUTH_CLIENT_SECRET", raising=False)
    pem = tmp_path / "automation.pem"
    pem.write_bytes(CERT.pem_bundle())
    pem.chmod(0o600)
    run = kodo("onboard", "--yes", "--auth", "certificate", "--auth-client-id", AUTOMATION_APP_ID,
               "--auth-certificate", str(pem))
    assert f"app {AUTOMATION_APP_ID}" in run.out
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    kodo("onboard", "--yes", "--auth", "certificate", "--auth-client-id", AUTOMATION_APP_ID,
         "--auth-certificate", str(tmp_path / "missing.pem"), expect=ExitStatus.USAGE)


def test_offboard_with_an_app_lacking_a_permission_is_refused_before_any_request(sim, kodo, app_secret, tmp_path):
    # Onboard fabrikam as its admin; then the automation app (no DelegatedPermissionGrant.ReadWrite.All
    # there) tries to offboard it: refused up front, the tenant keeps everything.
    kodo("onboard", "--yes", tenant=FABRIKAM)
    before = tenant_state(sim, FABRIKAM)
    sim.clear_request_log()
    run = kodo("offboard", "--yes", *app_secret, tenant=FABRIKAM, expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    assert "DelegatedPermissionGrant.ReadWrite.All" in one_error_line(run.err)
    assert [r for r in sim.request_log if r.kind == "graph"] == []
    assert tenant_state(sim, FABRIKAM) == before


@pytest.mark.parametrize("method", ["client-secret", "certificate"])
def test_a_connection_broken_off_by_the_token_endpoint_is_a_network_error(sim, kodo, tmp_path, monkeypatch, method):
    """The token endpoint's answers break off mid-body, more often than the transport retries: one line
    naming the host, exit NETWORK, for either credential (and nothing changed in the tenant)."""
    monkeypatch.setenv("KODO_AUTH_CLIENT_SECRET", AUTOMATION_SECRET)
    pem = tmp_path / "automation.pem"
    pem.write_bytes(CERT.pem_bundle())
    sim.lose_next_token_answers(10)
    extra = ["--auth-certificate", str(pem)] if method == "certificate" else []
    run = kodo("onboard", "--yes", "--auth", method, "--auth-client-id", AUTOMATION_APP_ID, *extra,
               expect=ExitStatus.NETWORK)
    line = one_error_line(run.err)
    assert "127.0.0.1" in line and "broke off" in line, line
    assert any(r.kind == "login" and r.error_code == "LostResponse" for r in sim.request_log)
    assert not any(r.kind == "graph" for r in sim.request_log)


@pytest.mark.parametrize("method", ["client-secret", "certificate"])
def test_an_unknown_tenant_reads_the_same_for_either_credential(sim, kodo, tmp_path, monkeypatch, method):
    monkeypatch.setenv("KODO_AUTH_CLIENT_SECRET", AUTOMATION_SECRET)
    pem = tmp_path / "automation.pem"
    pem.write_bytes(CERT.pem_bundle())
    extra = ["--auth-certificate", str(pem)] if method == "certificate" else []
    run = kodo("onboard", "--yes", "--auth", method, "--auth-client-id", AUTOMATION_APP_ID, *extra,
               tenant="nosuchtenant.onmicrosoft.com", expect=ExitStatus.SIGN_IN_FAILED)
    assert one_error_line(run.err).startswith("error: tenant nosuchtenant.onmicrosoft.com not found at "), run.err
