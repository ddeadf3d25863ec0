"""Issue 14: converge under a stricter cloud. Lookups may miss the run's own fresh writes while creates
conflict with them (409); responses are lost or answered 503/504 after the write committed. Every run
ends converged: one app, one service principal, one new credential, nothing orphaned."""

from __future__ import annotations

import json
import signal

import pytest

from kodo_provision.simulator import Faults
from kodo_provision.simulator import clock as simulator_clock

from .conftest import CONTOSO, FABRIKAM, assert_converged, signal_cli_when

WRITES = ["applications.upsert", "servicePrincipals.create", "addPassword", "appRoleAssignedTo.create",
          "oauth2PermissionGrants.create"]


def onboard_converges(sim, kodo, tmp_path, tenant: str) -> dict:
    creds = tmp_path / f"kodo-credentials-{tenant}.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds), tenant=tenant)
    result = assert_converged(sim, tenant, creds)
    assert [c["keyId"] for c in result["app"]["passwordCredentials"]] == [
        json.loads(creds.read_text())["secret_key_id"]], "exactly one credential: the one handed off"
    return result


# The acceptance matrix: {fresh tenant, tenant without the Exchange service principal} x {lag 0, 2, 6, 30 s
# with stale lookups} x {no fault, each write kind's response lost after commit, 503 or 504 after commit}.
# The lags pass in virtual time (tests/virtual_time.py): the tool polls and backs off through all 30 s.
LAGS_S = [0, 2, 6, 30]
FAULTS = [None] + [("lost", w) for w in WRITES] + [(status, w) for status in (503, 504) for w in WRITES]


def fault_id(fault) -> str:
    return "none" if fault is None else f"{fault[0]}-{fault[1]}"


@pytest.mark.parametrize("fault", FAULTS, ids=fault_id)
@pytest.mark.parametrize("lag_s", LAGS_S, ids=lambda lag: f"lag{lag}s")
@pytest.mark.parametrize("tenant", [CONTOSO, FABRIKAM], ids=["fresh", "no-exchange-sp"])
def test_converges_in_one_run_under_lag_stale_lookups_and_faults_after_commit(sim, kodo, tmp_path, tenant,
                                                                              lag_s, fault):
    sim.set_faults(Faults(replication_lag_ms=lag_s * 1000, stale_lookups=True))
    started = simulator_clock.offset()
    if fault is not None and fault[0] == "lost":
        sim.lose_next_response(fault[1])
    elif fault is not None:
        sim.fail_next_after_commit(fault[1], status=fault[0])
    onboard_converges(sim, kodo, tmp_path, tenant)
    if fault is not None:
        fired = [r for r in sim.request_log
                 if (r.error_code == "LostResponse" if fault[0] == "lost" else r.status == fault[0])]
        assert fired, "the fault must have fired"
    # The app-only proof cannot succeed before the new app has replicated to the token service.
    assert simulator_clock.offset() - started >= lag_s, "the run waited the lag out (in virtual time)"


def test_a_rotation_killed_while_proving_its_secret_leaves_nothing_unrecorded(sim, kodo, tmp_path, monkeypatch):
    """The new secret exists and is being proven when the process dies: no file holds it. The next
    command, from another working directory, removes it (the pending record is per user, by tenant/app)."""
    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    held = json.loads(creds.read_text())["secret_key_id"]
    sim.set_faults(Faults(new_secret_delay_ms=60_000))  # the proof keeps polling: time to kill it
    signal_cli_when(sim, ["rotate-secret", "--tenant", CONTOSO, "--credentials", str(creds)],
                    lambda: len(_secrets(sim)) >= 2, signal.SIGKILL)
    assert len(_secrets(sim)) == 2 and json.loads(creds.read_text())["secret_key_id"] == held
    sim.set_faults(Faults())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    assert [c["keyId"] for c in _secrets(sim)] == [held], "the unrecorded secret is gone; the held one stays"


def _secrets(sim) -> list[dict]:
    apps = [a for a in sim.tenant(CONTOSO).dump()["applications"] if a.get("uniqueName") == "kodo-cloud-backup"]
    return apps[0]["passwordCredentials"] if apps else []


def test_a_certificate_of_a_run_that_died_before_its_hand_off_is_removed(sim, kodo, tmp_path, monkeypatch):
    """Certificates carry the run marker too, and the run is recorded as pending before the upload: the
    next onboarding (from any folder) removes a certificate no credentials file holds (issue 14)."""
    from datetime import UTC, datetime, timedelta

    from kodo_provision.credentials.certificate import generate_certificate
    from kodo_provision.credentials.store import mark_pending_runs

    from .conftest import UNIQUE_NAME
    from .lifecycle_helpers import graph_as_admin

    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credential", "certificate", "--credentials-out", str(creds))
    held = json.loads(creds.read_text())["key_id"]
    app = assert_converged_certificate(sim)
    assert "(kodo_provision run " in app["keyCredentials"][0]["displayName"], "the certificate names its run"
    # What a dead run did: recorded itself, uploaded its certificate (keeping the others), died.
    mark_pending_runs(sim.tenant(CONTOSO).id, UNIQUE_NAME, frozenset({"deadbeef"}))
    orphan = generate_certificate("orphan", now=datetime.now(UTC), lifetime=timedelta(days=30))
    keep = [{"keyId": k["keyId"], "type": k["type"], "usage": k["usage"]} for k in app["keyCredentials"]]
    response = graph_as_admin(sim, "PATCH", f"/applications/{app['id']}", {"keyCredentials": [*keep, {
        "type": "AsymmetricX509Cert", "usage": "Verify", "key": orphan.key_b64,
        "displayName": "KODO backup (kodo_provision run deadbeef)"}]})
    assert response.status_code == 204 and len(assert_converged_certificate(sim)["keyCredentials"]) == 2
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = kodo("onboard", "--yes", "--credential", "certificate", "--credentials-out", str(creds), "--output", "json")
    assert [s["kind"] for s in run.json()["plan"]["steps"]] == ["remove_orphan_certificate"]
    assert [k["keyId"] for k in assert_converged_certificate(sim)["keyCredentials"]] == [held]


def assert_converged_certificate(sim) -> dict:
    (app,) = [a for a in sim.tenant(CONTOSO).dump()["applications"] if a.get("uniqueName") == "kodo-cloud-backup"]
    return app


def test_plan_reports_a_tool_made_secret_that_no_file_holds(sim, kodo, tmp_path):
    """No pending record names its run (e.g. made elsewhere): reported, never removed on a guess."""
    from .lifecycle_helpers import graph_as_admin

    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    app = assert_converged_certificate(sim)
    extra = graph_as_admin(sim, "POST", f"/applications/{app['id']}/addPassword",
                           {"passwordCredential": {"displayName": "KODO backup (kodo_provision run 0badc0de)"}})
    key_id = extra.json()["keyId"]
    run = kodo("plan", "--output", "json", "--credentials", str(creds))
    assert any(key_id in note and "not held by this credentials file" in note for note in run.json()["notes"])
    assert key_id in [c["keyId"] for c in assert_converged_certificate(sim)["passwordCredentials"]]


def test_a_certificate_rotation_killed_while_proving_leaves_nothing_unrecorded(sim, kodo, tmp_path, monkeypatch):
    """As for secrets: the new certificate is on the app and being proven when the process dies; the next
    command from another folder removes it (pending record + run marker), the held one stays."""
    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credential", "certificate", "--credentials-out", str(creds))
    held = json.loads(creds.read_text())["key_id"]
    sim.set_faults(Faults(new_secret_delay_ms=60_000))  # new credentials refused for a minute: the proof polls
    signal_cli_when(sim, ["rotate-secret", "--tenant", CONTOSO, "--credentials", str(creds)],
                    lambda: len(assert_converged_certificate(sim)["keyCredentials"]) >= 2, signal.SIGKILL,
                    settle_s=0.5)
    assert len(assert_converged_certificate(sim)["keyCredentials"]) == 2
    assert json.loads(creds.read_text())["key_id"] == held
    sim.set_faults(Faults())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    kodo("onboard", "--yes", "--credential", "certificate", "--credentials-out", str(creds))
    assert [k["keyId"] for k in assert_converged_certificate(sim)["keyCredentials"]] == [held]


@pytest.mark.parametrize("lag_s", [0, 30])
def test_a_removal_whose_answer_was_lost_is_done_when_retried(sim, kodo, tmp_path, lag_s):
    """Found by `make soak` (strict-cloud, fabrikam, 30 s lag): removePassword committed, its answer lost, the
    retry met 400 "No password credential found" and the rotation failed (exit 5). A removal is level-based:
    the secret being gone is what was asked."""
    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    sim.set_faults(Faults(replication_lag_ms=lag_s * 1000, stale_lookups=True))
    sim.lose_next_response("applications.removePassword")
    kodo("rotate-secret", "--credentials", str(creds), "--remove-old")
    assert [r for r in sim.request_log if r.error_code == "LostResponse"], "the fault must have fired"
    result = assert_converged(sim, CONTOSO, creds)
    held = json.loads(creds.read_text())["secret_key_id"]
    assert [c["keyId"] for c in result["app"]["passwordCredentials"]] == [held]
