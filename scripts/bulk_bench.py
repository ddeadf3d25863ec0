"""`make bench` (second part): `kodo-provision bulk` over many simulated tenants (not a test).

Onboards N simulated customer tenants (default 100 and 500) from one partner sign-in at
concurrency 16 and 50, with 50 ms latency injected on every Graph request. Reports tenants per
minute, Graph requests per tenant (from the simulator's request log: what crossed the wire),
CPU seconds per tenant and the process's peak RSS. The simulator runs in a separate process, so
CPU and RSS are the tool's own.

    python -m scripts.bulk_bench [--tenants 100 500] [--concurrency 16 50] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kodo_provision.cli.main import main
from kodo_provision.simulator import Scenario

PARTNER = "msp-partner.onmicrosoft.com"


def scenario(n: int, propagation_s: float = 0.0) -> Scenario:
    """A CSP partner whose admin holds GDAP Global Administrator in n customers; the sign-in app is consented
    in none of them (Partner Center consent, `propagation_s` until it reaches each customer's sign-ins)."""
    upn = f"partner.admin@{PARTNER}"
    tenants = [{"id": "7e1c4b1e-2a57-4c43-9d1e-ffffffffffff", "domain": PARTNER, "sign_in_user": upn,
                "partner_center": {"customers": [f"bench{i:04d}.onmicrosoft.com" for i in range(n)]},
                "users": [{"upn": upn, "roles": ["Global Administrator"],
                           # Explicit roles: the short form (a bare domain) leaves the role *name* unconverted.
                           "partner_access": [{"tenant": f"bench{i:04d}.onmicrosoft.com",
                                               "roles": ["Global Administrator"]} for i in range(n)]}]}]
    tenants += [{"id": f"7e1c4b1e-2a57-4c43-9d1e-{i:012d}", "domain": f"bench{i:04d}.onmicrosoft.com",
                 "consent_propagation_s": propagation_s,
                 "users": [{"upn": f"admin@bench{i:04d}.onmicrosoft.com", "roles": ["Global Administrator"]}]}
                for i in range(n)]
    return Scenario.model_validate({"tenants": tenants, "sign_in": {"interval": 0, "default_tenant": PARTNER}})


@contextlib.contextmanager
def simulator_process(n: int, latency_ms: int, workdir: Path, extra: tuple[str, ...] = (),
                      propagation_s: float = 0.0):
    """The simulator in its own process (`kodo-provision simulate`), as in a real deployment where
    Graph is elsewhere: the tool's figures then don't include the simulator's CPU or its GIL."""
    scenario_file = workdir / "scenario.json"
    scenario_file.write_text(scenario(n, propagation_s).model_dump_json())
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "kodo_provision.cli.main", "simulate", "--scenario", str(scenario_file),
         "--replace-default", "--json", "--no-proxy", "--latency-ms", str(latency_ms), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        yield info
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def request_log(info: dict) -> list[dict]:
    with httpx.Client(verify=ssl.create_default_context(cafile=info["ca_bundle_path"]), timeout=60) as client:
        data = client.get(info["control_url"] + "requests").json()
    return data["requests"] if isinstance(data, dict) else data


def bench(n: int, concurrency: int, latency_ms: int, extra: tuple[str, ...] = (), propagation_s: float = 0.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp, simulator_process(n, latency_ms, Path(tmp), extra,
                                                                 propagation_s) as info:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")  # the partner sign-in app is remembered here
        tenants_file = Path(tmp) / "tenants.csv"
        tenants_file.write_text("tenant\n" + "".join(f"bench{i:04d}.onmicrosoft.com\n" for i in range(n)))
        argv = ["bulk", str(tenants_file), "--out", str(Path(tmp) / "out"), "--yes", "--concurrency",
                str(concurrency), "--output", "json", *info["bulk_flags"]]
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
            code = main(argv)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        summary = json.loads(out.getvalue())["summary"]
        records = request_log(info)
        graph = [r for r in records if r["kind"] == "graph" and not r["in_batch"]]
        logins = [r for r in records if r["kind"] == "login"]
        partner = [r for r in records if r["kind"] == "partner"]
    return {"tenants": n, "concurrency": concurrency, "latency_ms": latency_ms, "exit": int(code),
            "succeeded": summary["succeeded"], "wall_s": round(wall, 1),
            "tenants_per_min": round(summary["succeeded"] / wall * 60, 1),
            "graph_requests_per_tenant": round(len(graph) / n, 1),
            "login_requests_per_tenant": round(len(logins) / n, 1),
            "partner_center_requests_per_tenant": round(len(partner) / n, 2),
            "cpu_s_per_tenant": round(cpu / n, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 50])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--replication-lag-ms", type=int, default=0,
                        help="Replication lag (token service included) for every new object.")
    parser.add_argument("--replication-model", choices=["global", "session"], default="global")
    parser.add_argument("--consent-propagation-s", type=float, default=0.0,
                        help="How long a Partner Center consent takes to reach each customer's sign-ins.")
    args = parser.parse_args(argv)
    extra = ("--replication-lag-ms", str(args.replication_lag_ms), "--replication-model", args.replication_model)
    header = ("tenants", "concurrency", "succeeded", "wall_s", "tenants_per_min", "graph_requests_per_tenant",
              "login_requests_per_tenant", "partner_center_requests_per_tenant", "cpu_s_per_tenant", "peak_rss_mb")
    print(f"bulk bench (a CSP partner's first run; latency {args.latency_ms} ms, replication lag "
          f"{args.replication_lag_ms} ms ({args.replication_model}), consent propagation "
          f"{args.consent_propagation_s} s; peak RSS is the process maximum so far)")
    print("  ".join(header))
    worst = 0
    walls: dict[tuple[int, int], float] = {}
    for n in args.tenants:
        for c in args.concurrency:
            figures = bench(n, c, args.latency_ms, extra, args.consent_propagation_s)
            print("  ".join(str(figures[k]) for k in header), flush=True)
            worst = max(worst, figures["exit"])
            walls[n, c] = figures["wall_s"]
    # Issue 7: time should grow linearly with the tenant count (target: 2N tenants <= 2.2x the time of N).
    small, large = min(args.tenants), max(args.tenants)
    if large > small:
        for c in args.concurrency:
            print(f"time ratio {large}/{small} tenants at concurrency {c}: "
                  f"{walls[large, c] / walls[small, c]:.2f} (tenant ratio {large / small:.2f})")
    return worst


if __name__ == "__main__":
    sys.exit(run())
