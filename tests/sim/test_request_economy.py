"""Issue 7: request economy is part of the contract. Counts come from the simulator's log of
what crossed the wire (sub-requests inside a $batch are not separate round trips)."""

from __future__ import annotations

from .conftest import CONTOSO, kodo_apps


def graph_requests(sim, since: int) -> list:
    return [r for r in sim.request_log[since:] if r.kind == "graph" and not r.in_batch]


def test_fresh_tenant_and_rerun_request_counts(sim, kodo):
    kodo("onboard", "--yes")
    fresh = graph_requests(sim, 0)
    # $batch(preflight + reads), upsert, SP || addPassword, $batch(grants), $batch(read-back)
    assert len(fresh) <= 6, [(r.method, r.path) for r in fresh]
    mark = len(sim.request_log)
    kodo("onboard", "--yes")
    rerun = graph_requests(sim, mark)
    assert len(rerun) <= 2, [(r.method, r.path) for r in rerun]
    assert all(r.method == "POST" and r.path.endswith("$batch") for r in rerun)


def test_drift_repair_touches_only_what_drifted(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    state = sim.tenant(CONTOSO).dump()
    ours = {sp["id"] for sp in state["servicePrincipals"] if sp["appId"] == kodo_apps(state)[0]["appId"]}
    victim = next(a for a in state["appRoleAssignments"] if a["principalId"] in ours)  # not the scenario's own
    sim.tenant(CONTOSO).delete_app_role_assignment(victim["id"])
    mark = len(sim.request_log)
    kodo("onboard", "--yes")
    writes = [r for r in sim.request_log[mark:] if r.kind == "graph" and r.in_batch and r.method != "GET"]
    assert [(r.method, r.route) for r in writes] == [("POST", "appRoleAssignedTo.create")]
