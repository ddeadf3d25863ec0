"""Issue 18: a fleet onboarded with the seed profile moves to the Graph-only profile (bulk --manifest
kodo-graph --prune): planned first, killed mid-way, resumed, converged, credentials unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from kodo_provision.auth import AppOnlyTokens
from kodo_provision.cloud import resolve_cloud

from ..sim.conftest import assert_converged
from .conftest import customer, journal_events, many_tenants, report, sigkill_bulk_when, start, write_tenants_csv

GRAPH = "00000003-0000-0000-c000-000000000000"
N = 30


def _apis_held(sim, tenant: str, creds: dict) -> tuple[set[str], set[str], set[str]]:
    """The resource APIs of the KODO app's requiredResourceAccess, app role assignments and grants."""
    state = sim.tenant(tenant).dump()
    resources = {s["id"]: s["appId"] for s in state["servicePrincipals"]}
    app = next(a for a in state["applications"] if a["appId"] == creds["client_id"])
    sp = creds["service_principal_id"]
    return ({r["resourceAppId"] for r in app["requiredResourceAccess"]},
            {resources[a["resourceId"]] for a in state["appRoleAssignments"] if a["principalId"] == sp},
            {resources[g["resourceId"]] for g in state["oauth2PermissionGrants"] if g["clientId"] == sp})


def test_a_fleet_of_30_moves_to_the_graph_profile_through_a_kill_and_a_resume(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(N)]
    with start(many_tenants(N)) as sim:
        tenants_file = str(write_tenants_csv(tmp_path / "t.csv", tenants))
        out = tmp_path / "out"
        bulk_run(sim, tenants_file, "--out", "out", "--yes", "--concurrency", "16")
        before = {t: json.loads((out / f"kodo-credentials-{t}.json").read_text()) for t in tenants}

        # The plan first: per tenant, the update, the three mailbox-export grants and the three removals.
        planned = bulk_run(sim, tenants_file, "--out", "out", "--manifest", "kodo-graph", "--prune", "--plan",
                           "--output", "json").out
        plans = {t["tenant"]: t["plan"] for t in json.loads(planned)["tenants"]}
        assert all(len(steps) == 7 for steps in plans.values()), plans[tenants[0]]
        assert all(_apis_held(sim, t, before[t])[1] != {GRAPH} for t in tenants), "--plan changed nothing"

        sim.set_faults(latency_ms=40)

        def some_moved_one_moving(events: list[dict]) -> bool:
            migration = [e for e in events if e.get("new_pass")]
            if not migration:
                return False
            after = events[events.index(migration[-1]):]
            finished = {e["tenant"] for e in after if e["event"] == "tenant_finished"}
            started = {e["tenant"] for e in after if e["event"] == "tenant_started"}
            return len(finished) >= 3 and bool(started - finished)

        sigkill_bulk_when(sim, tmp_path, [tenants_file, "--manifest", "kodo-graph", "--prune"], out,
                          some_moved_one_moving)
        moved_before_kill = sum(_apis_held(sim, t, before[t])[1] == {GRAPH} for t in tenants)
        assert 3 <= moved_before_kill < N
        sim.set_faults(latency_ms=0)

        bulk_run(sim, tenants_file, "--out", "out", "--manifest", "kodo-graph", "--prune", "--yes", "--resume",
                 "--concurrency", "16")
        data = report(out)
        assert data["summary"]["succeeded"] == N, data["summary"]
        for tenant in tenants:
            creds_path = out / f"kodo-credentials-{tenant}.json"
            result = assert_converged(sim, tenant, creds_path)
            # Azure AD Graph and full_access_as_app are gone from all three places; the secret is the same.
            assert _apis_held(sim, tenant, result["creds"]) == ({GRAPH}, {GRAPH}, {GRAPH}), tenant
            assert result["creds"]["secret_key_id"] == before[tenant]["secret_key_id"]
            assert [c["keyId"] for c in result["app"]["passwordCredentials"]] == [before[tenant]["secret_key_id"]]
        cloud = resolve_cloud("global", authority_host=sim.url, graph_endpoint=sim.url)
        passes = [e for e in journal_events(out / "journal.jsonl") if e["event"] == "run_started"]
        assert [bool(e.get("new_pass")) for e in passes] == [False, True, False]

        # Afterwards the fleet plan is empty, and every credentials file still gets an app-only token.
        replanned = json.loads(bulk_run(sim, tenants_file, "--out", "out", "--manifest", "kodo-graph", "--plan",
                                        "--output", "json").out)
        assert {len(t["plan"]) for t in replanned["tenants"]} == {0}
        for tenant in tenants:  # the credentials file's secret still gets a token with the profile's roles
            creds = json.loads((out / f"kodo-credentials-{tenant}.json").read_text())
            tokens = AppOnlyTokens(cloud, creds["tenant_id"], creds["client_id"], creds["client_secret"],
                                   ca_bundle=str(sim.ca_bundle_path))
            try:
                roles = set(tokens.claims("https://graph.microsoft.com").get("roles") or ())
            finally:
                tokens.close()
            assert {"MailboxItem.Export.All", "Mail.ReadWrite"} <= roles, tenant
        assert not list(Path(out).glob(".kodo-credentials-*.tmp"))


def test_a_folder_whose_pass_did_not_finish_takes_only_the_same_pass(bulk_run, tmp_path):
    """A pass killed mid-way: a plain run is refused, --resume with another manifest or without --prune is
    refused, --only-failed is refused; all before any sign-in."""
    tenants = [customer(i) for i in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"event": "pass_started", "manifest_version": "2026.12.1-graph", "prune": True},
        {"event": "run_started", "tenants": 2},
        {"event": "tenant_started", "tenant": tenants[0], "run_id": "r1"})))
    (out / "report.json").write_text(json.dumps({"tenants": [{"tenant": t, "line": 1, "status": "failed"}
                                                             for t in tenants]}))
    with start(many_tenants(2)) as sim:
        tenants_file = str(write_tenants_csv(tmp_path / "t.csv", tenants))
        plain = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--manifest", "kodo-graph", "--prune", expect=2)
        assert "did not finish" in plain.err and "--resume" in plain.err
        seed = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--resume", expect=2)
        assert "applies manifest 2026.12.1-graph with --prune" in seed.err, seed.err
        unpruned = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--resume", "--manifest", "kodo-graph",
                            expect=2)
        assert "with --prune" in unpruned.err
        failed_only = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--only-failed", "--manifest",
                               "kodo-graph", "--prune", expect=2)
        assert "did not finish" in failed_only.err
        assert not [r for r in sim.request_log if r.kind == "login"], "refused before any sign-in"
