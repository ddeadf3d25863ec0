"""Issue 6 fault matrix: a test per fault, each ending with the invariants (assert_converged)."""

from __future__ import annotations

import json

import pytest

from kodo_provision.errors import ExitStatus
from kodo_provision.simulator import Faults

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state


def creds_of(tmp_path):
    return tmp_path / f"kodo-credentials-{CONTOSO}.json"


def test_throttling_and_server_errors_with_retry_after_honoured(sim, kodo, tmp_path):
    sim.set_faults(Faults(throttle_rate=0.3, server_error_rate=0.05, retry_after_s=1, seed=3))
    kodo("onboard", "--yes")
    assert_converged(sim, CONTOSO, creds_of(tmp_path))
    graph = [r for r in sim.request_log if r.kind == "graph"]
    throttled = [r for r in graph if r.status == 429]
    assert throttled, "the knob must have throttled something"
    for record in throttled:
        # The same request again (same method and path, in a later round trip: siblings of one
        # $batch share a path and are answered within milliseconds) comes no sooner than Retry-After.
        again = next((r for r in graph if r.start > record.end + 0.05 and (r.method, r.path) == (
            record.method, record.path)), None)
        if again is not None:
            assert again.start - record.end >= 0.95, (record.method, record.path, again.start - record.end)


def test_random_replication_lag_converges(sim, kodo, tmp_path):
    sim.set_faults(Faults(replication_lag_ms=2500, replication_lag_random=True, seed=9))
    kodo("onboard", "--yes")
    assert_converged(sim, CONTOSO, creds_of(tmp_path))


@pytest.mark.parametrize("write", ["applications.upsert", "servicePrincipals.create", "addPassword",
                                   "appRoleAssignedTo.create", "oauth2PermissionGrants.create"])
def test_lost_response_of_every_write_kind(sim, kodo, tmp_path, write):
    """The write is committed, then the connection drops: no duplicate, no orphan secret."""
    sim.lose_next_response(write)
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_of(tmp_path))
    assert [r for r in sim.request_log if r.error_code == "LostResponse"], "the fault must have fired"
    secrets = result["app"]["passwordCredentials"]
    assert [c["keyId"] for c in secrets] == [json.loads(creds_of(tmp_path).read_text())["secret_key_id"]]
    assert len(result["assignments"]) == 8 and len(result["grants"]) == 2


def test_connection_refused_names_the_host(sim, kodo):
    run = kodo("onboard", "--yes", "--authority-host", sim.url, "--graph-endpoint", "https://127.0.0.1:9",
               "--ca-bundle", str(sim.ca_bundle_path), endpoints=False, expect=ExitStatus.NETWORK)
    assert "127.0.0.1" in run.err and " — " in run.err
    assert kodo_apps(tenant_state(sim)) == []


def test_dns_failure_names_the_host(sim, kodo):
    # Named with --allow-endpoint: a host that is not Microsoft's is refused otherwise (issue 15).
    run = kodo("onboard", "--yes", "--authority-host", "https://login.nonexistent.invalid",
               "--allow-endpoint", "login.nonexistent.invalid", "--graph-endpoint", sim.url,
               "--ca-bundle", str(sim.ca_bundle_path), endpoints=False,
               expect=ExitStatus.NETWORK)
    assert "login.nonexistent.invalid" in run.err and " — " in run.err


def test_misconfigured_proxy_names_the_fix(sim, kodo, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    run = kodo("onboard", "--yes", expect=ExitStatus.NETWORK)
    assert "HTTPS_PROXY" in run.err


def test_secret_of_a_run_that_died_before_the_hand_off_is_removed(sim, kodo, tmp_path, monkeypatch):
    """A crash between addPassword and writing the credentials file leaves a secret nobody holds.
    The run recorded its marker first (per user, by tenant and app); the next run, from any folder,
    removes that secret."""
    from kodo_provision.credentials.store import mark_pending_runs, read_pending_runs

    from .conftest import UNIQUE_NAME
    from .lifecycle_helpers import graph_as_admin

    kodo("onboard", "--yes")
    app = assert_converged(sim, CONTOSO, creds_of(tmp_path))["app"]
    # What the dead run did: marked itself pending, then added its secret, then died.
    tenant_id = sim.tenant(CONTOSO).id
    mark_pending_runs(tenant_id, UNIQUE_NAME, frozenset({"deadbeef"}))
    orphan = graph_as_admin(sim, "POST", f"/applications/{app['id']}/addPassword",
                            {"passwordCredential": {"displayName": "KODO backup (kodo_provision run deadbeef)"}})
    assert orphan.status_code == 200
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the next run starts in another working directory
    run = kodo("onboard", "--yes", "--output", "json", "--credentials-out", str(creds_of(tmp_path)))
    assert [s["kind"] for s in run.json()["plan"]["steps"]] == ["remove_orphan_secret"]
    after = assert_converged(sim, CONTOSO, creds_of(tmp_path))["app"]
    assert [c["keyId"] for c in after["passwordCredentials"]] == [c["keyId"] for c in app["passwordCredentials"]]
    # The dead run stays pending for PENDING_HORIZON (a request of its may still land; unit-tested in
    # tests/unit/test_credentials.py); the run that cleaned up is not pending.
    assert read_pending_runs(tenant_id, UNIQUE_NAME) == {"deadbeef"}
