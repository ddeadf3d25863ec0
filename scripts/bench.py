"""`make bench`: request economy and wall time of onboarding against the simulator.

Counts come from the simulator's request log (what actually crossed the wire), never from
the product's own bookkeeping. Sequential round trips: Graph requests that overlap in time
count once (the critical path). Wall time excludes nothing but is printed, never asserted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kodo_provision.cli.main import main
from kodo_provision.simulator import Faults, Scenario, Simulator

TENANT = "contoso.onmicrosoft.com"


@dataclass
class Figures:
    scenario: str
    graph_requests: int
    token_requests: int
    round_trips: int
    wall_s: float
    exit_code: int


def sequential_round_trips(records: list) -> int:
    """Number of groups of time-overlapping requests, in start order."""
    groups = 0
    horizon = float("-inf")
    for record in sorted(records, key=lambda r: r.start):
        if record.start >= horizon:
            groups += 1
            horizon = record.end
        else:
            horizon = max(horizon, record.end)
    return groups


def onboard(sim: Simulator, creds: Path, name: str) -> Figures:
    first = len(sim.request_log)
    argv = ["onboard", "--yes", "--tenant", TENANT, "--output", "json", "--credentials-out", str(creds),
            "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path)]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    wall = time.perf_counter() - started
    records = [r for r in sim.request_log[first:] if not r.in_batch]
    graph = [r for r in records if r.kind == "graph"]
    tokens = [r for r in records if r.kind == "login" and r.path.endswith("/token")]
    return Figures(name, len(graph), len(tokens), sequential_round_trips(graph), wall, int(code))


def run_single(latency_ms: int, lag_ms: int, model: str = "global") -> list[Figures]:
    """Onboard a fresh tenant (and, without lag, re-run and repair drift).

    `model` is the simulator's replication model: "session" is Entra's documented behaviour for a
    delegated caller (its logical session reads its own writes; the token service sees them after
    the lag: https://learn.microsoft.com/en-us/entra/architecture/architecture), "global" the worst
    case where every request lands on a lagging replica.
    """
    figures = []
    faults = Faults(latency_ms=latency_ms, replication_lag_ms=lag_ms, replication_model=model)
    with tempfile.TemporaryDirectory() as tmp, Simulator(scenario=Scenario.default(), faults=faults) as sim:
        creds = Path(tmp) / "creds.json"
        suffix = f" (lag {lag_ms / 1000:.0f} s, {model})" if lag_ms else ""
        figures.append(onboard(sim, creds, "fresh tenant" + suffix))
        if lag_ms:
            return figures
        figures.append(onboard(sim, creds, "re-run, nothing to do"))
        state = sim.tenant(TENANT).dump()
        app_id = json.loads(creds.read_text())["service_principal_id"]
        victim = next(a for a in state["appRoleAssignments"] if a["principalId"] == app_id)
        sim.tenant(TENANT).delete_app_role_assignment(victim["id"])
        figures.append(onboard(sim, creds, "drift repair (1 grant)"))
    return figures


def main_bench() -> int:
    latency = int(os.environ.get("KODO_BENCH_LATENCY_MS", "50"))
    print(f"kodo_provision benchmark — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores — "
          f"simulated latency {latency} ms per request")
    lag_ms = 5000
    session = run_single(latency, lag_ms, "session")
    rows = run_single(latency, 0) + session + run_single(latency, lag_ms, "global")
    header = f"{'scenario':<36} {'graph req':>9} {'token req':>9} {'round trips':>11} {'wall s':>7} {'exit':>4}"
    print(header)
    print("-" * len(header))
    for f in rows:
        print(f"{f.scenario:<36} {f.graph_requests:>9} {f.token_requests:>9} {f.round_trips:>11} "
              f"{f.wall_s:>7.2f} {f.exit_code:>4}")
    # Issue 7 target, against Entra's documented (session) behaviour: end-to-end <= L + 3 s.
    target = lag_ms / 1000 + 3
    verdict = "met" if session[0].wall_s <= target else "NOT met"
    print(f"target with lag L = {lag_ms / 1000:.0f} s: <= L + 3 s = {target:.0f} s (session model): "
          f"{session[0].wall_s:.2f} s, {verdict}")
    return 0 if all(f.exit_code == 0 for f in rows) else 1


if __name__ == "__main__":
    sys.exit(main_bench())
