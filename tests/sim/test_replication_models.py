"""Onboarding converges under both replication models of the simulator (issues 6 and 7).

"session": Entra's documented behaviour for a delegated caller - Graph's logical session reads its
own writes (https://learn.microsoft.com/en-us/entra/architecture/architecture, "Data consistency"),
while the token service issuing the new app's own token sees the app, its SP and its role
assignments only after replication. "global": the worst case, every request on a lagging replica
(https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
Assertions are on the tenant's resulting state and the request log, never on wall time.
"""

from __future__ import annotations

import pytest

from kodo_provision.simulator import Faults

from .conftest import CONTOSO, assert_converged

LAG_MS = 1000
# Graph error codes of a read or dependent write that ran ahead of replication (graph-facts §6).
LAG_ERRORS = {"Request_ResourceNotFound", "Request_BadRequest"}


def creds_of(tmp_path):
    return tmp_path / f"kodo-credentials-{CONTOSO}.json"


def lag_errors(sim) -> list:
    """Graph requests answered with a not-found/bad-reference error after the app was created
    (before that, "not found" is the truthful answer of the first read)."""
    log = sim.request_log
    created = next(i for i, r in enumerate(log) if r.route == "applications.upsert" and r.status == 201)
    return [r for r in log[created:] if r.kind == "graph" and r.error_code in LAG_ERRORS]


def onboard_and_check(sim, kodo, tmp_path) -> None:
    run = kodo("onboard", "--yes", "--output", "json")
    assert run.json()["status"] == "verified"
    result = assert_converged(sim, CONTOSO, creds_of(tmp_path))
    assert len(result["assignments"]) == 8 and len(result["grants"]) == 2
    # The credentials KODO gets carry every role: the token service has caught up.
    assert kodo("onboard", "--yes", "--output", "json").json()["status"] == "verified"
    assert kodo("plan", "--output", "json", "--detailed-exitcode").json()["steps"] == []  # exit 0: no changes


def test_session_model_the_admin_session_never_waits_for_its_own_writes(sim, kodo, tmp_path):
    sim.set_faults(Faults(replication_lag_ms=LAG_MS, replication_model="session"))
    onboard_and_check(sim, kodo, tmp_path)
    # Dependent writes (SP for the new app, assignments and grants on the new SP) all went through
    # first time: read-your-writes within the delegated session.
    assert lag_errors(sim) == []


def test_session_model_with_affinity_loss_and_random_lag_converges(sim, kodo, tmp_path):
    sim.set_faults(Faults(replication_lag_ms=LAG_MS, replication_lag_random=True, replication_model="session",
                          affinity_loss_rate=0.5, seed=4))
    onboard_and_check(sim, kodo, tmp_path)


def test_global_model_dependent_writes_wait_and_still_converge(sim, kodo, tmp_path):
    sim.set_faults(Faults(replication_lag_ms=LAG_MS, replication_model="global"))
    onboard_and_check(sim, kodo, tmp_path)
    assert lag_errors(sim), "the global model makes dependent writes wait for replication"


@pytest.mark.parametrize("model", ["session", "global"])
def test_a_new_secret_not_yet_usable_still_verifies(sim, kodo, tmp_path, model):
    """The secret's own usability delay applies on top of replication (graph-facts §11.2). The delay
    is well beyond the replication waits between addPassword and the first app-only token (about
    3 x 0.5 s in the global model), so that token request meets it even on a loaded machine."""
    sim.set_faults(Faults(replication_lag_ms=500, replication_model=model, new_secret_delay_ms=5000))
    onboard_and_check(sim, kodo, tmp_path)
    assert [r for r in sim.request_log if r.kind == "login" and r.error_code and "7000215" in r.error_code]
