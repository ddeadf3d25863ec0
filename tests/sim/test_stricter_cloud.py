"""Issue 14: converge under a stricter cloud. Lookups may miss the run's own fresh writes while creates
conflict with them (409); responses are lost or answered 503/504 after the write committed. Every run
ends converged: one app, one service principal, one new credential, nothing orphaned."""

from __future__ import annotations

import json

import pytest

from kodo_provision.simulator import Faults

from .conftest import CONTOSO, FABRIKAM, assert_converged

WRITES = ["applications.upsert", "servicePrincipals.create", "addPassword", "appRoleAssignedTo.create",
          "oauth2PermissionGrants.create"]


def onboard_converges(sim, kodo, tmp_path, tenant: str) -> dict:
    creds = tmp_path / f"kodo-credentials-{tenant}.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds), tenant=tenant)
    result = assert_converged(sim, tenant, creds)
    assert [c["keyId"] for c in result["app"]["passwordCredentials"]] == [
        json.loads(creds.read_text())["secret_key_id"]], "exactly one credential: the one handed off"
    return result


@pytest.mark.parametrize("tenant", [CONTOSO, FABRIKAM])
@pytest.mark.parametrize("lag_ms", [0, 2000])
def test_stale_lookups_and_conflicts_with_the_runs_own_writes(sim, kodo, tmp_path, tenant, lag_ms):
    sim.set_faults(Faults(replication_lag_ms=lag_ms, stale_lookups=True))
    onboard_converges(sim, kodo, tmp_path, tenant)


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("tenant", [CONTOSO, FABRIKAM])
def test_lost_response_under_lag_and_stale_lookups(sim, kodo, tmp_path, write, tenant):
    sim.set_faults(Faults(replication_lag_ms=2000, stale_lookups=True))
    sim.lose_next_response(write)
    onboard_converges(sim, kodo, tmp_path, tenant)
    assert [r for r in sim.request_log if r.error_code == "LostResponse"], "the fault must have fired"


@pytest.mark.parametrize("status", [503, 504])
@pytest.mark.parametrize("write", WRITES)
def test_gateway_error_after_the_write_committed(sim, kodo, tmp_path, write, status):
    sim.set_faults(Faults(replication_lag_ms=2000, stale_lookups=True))
    sim.fail_next_after_commit(write, status=status)
    onboard_converges(sim, kodo, tmp_path, FABRIKAM)
    assert [r for r in sim.request_log if r.status == status], "the fault must have fired"
