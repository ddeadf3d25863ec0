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


def test_onboarding_parses_graph_json_not_sdk_models(sim, tmp_path):
    """A real process onboards a tenant without the Exchange Online service principal (it creates one).
    Parsing one directory object into an msgraph SDK model imports ~1,300 model modules (1.5 s of CPU, paid by
    every such onboarding until the new resource SP was read as JSON, json_state): the process loads only the
    few models the writes serialise."""
    import os
    import subprocess
    import sys

    from .conftest import FABRIKAM, assert_converged

    code = ("import sys\nfrom kodo_provision.cli.main import main\nstatus = main(sys.argv[1:])\n"
            "print(status, sum(m.startswith('msgraph.generated.models.') for m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code, "onboard", "--yes", "--tenant", FABRIKAM, "--authority-host",
                          sim.url, "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HOME": str(tmp_path)})
    status, models = map(int, run.stdout.split()[-2:])
    assert status == 0, run.stderr
    assert_converged(sim, FABRIKAM, tmp_path / f"kodo-credentials-{FABRIKAM}.json")
    assert models < 50, f"{models} SDK model modules imported"
