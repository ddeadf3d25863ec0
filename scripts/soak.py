"""`make soak`: the long fault run of issue 6 (not a test; bounded, loopback only).

Scenarios, each ending with the invariants checked against the simulator's state:
- onboard-kill: `onboard` SIGKILLed at a random moment, then run again to completion (N runs),
  under random replication lag and throttling;
- bulk-kill: `bulk` over T tenants SIGKILLed K times at random moments, then `--resume`d;
- long-lag: one onboarding with random replication lag up to L seconds and 20% throttling;
- rotate-kill: `rotate-secret` SIGKILLed while it proves its new secret (or before), then `onboard`
  from another folder: the secret nobody recorded is gone (issue 14);
- cert-kill: `onboard --credential certificate` SIGKILLed at a random moment, then run again:
  exactly the certificate the credentials file holds stays (issue 14);
- strict-cloud: onboarding of contoso and fabrikam (no Exchange SP) under 6 s and 30 s replication
  lag with stale lookups, 10% lost responses and 10% 503/504 after commit (issue 14).

Columns: runs, converged, duplicates (apps/SPs/assignments/grants beyond one), orphan secrets
(secrets on the app other than the one in the credentials file), leaked secrets (a secret's
text in any stdout/stderr). All but the first two must be zero.

    python -m scripts.soak [--runs 20] [--tenants 50] [--kills 20] [--max-lag-s 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kodo_provision.simulator import Faults, Scenario, Simulator

from .bulk_bench import scenario as bulk_scenario

CONTOSO = "contoso.onmicrosoft.com"
UNIQUE = "kodo-cloud-backup"


@dataclass
class Row:
    scenario: str
    runs: int = 0
    converged: int = 0
    duplicates: int = 0
    orphan_secrets: int = 0
    leaked_secrets: int = 0
    notes: list[str] = field(default_factory=list)


def cli(sim: Simulator, *args: str, cwd: Path, user_dir: Path | None = None) -> subprocess.Popen:
    """The CLI as a process; `user_dir` (default `cwd`) stands for the user's home: its per-user state
    (pending credentials, the remembered partner app) is the same from any working directory."""
    argv = [sys.executable, "-m", "kodo_provision.cli.main", *args, "--authority-host", sim.url,
            "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path)]
    if args[0] == "bulk":  # a CSP partner's customers: Partner Center on the simulator's port
        argv += ["--partner-center-endpoint", sim.url]
    # Per-user state (pending credentials, the remembered partner app) kept with the run, not in $HOME.
    home = user_dir or cwd
    env = {**os.environ, "XDG_STATE_HOME": str(home / ".state"), "XDG_CONFIG_HOME": str(home / ".config")}
    return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603 - our CLI
                            stderr=subprocess.PIPE, text=True, env=env)


def check_tenant(sim: Simulator, tenant: str, creds_path: Path, outputs: str, row: Row) -> bool:
    state = sim.tenant(tenant).dump()
    apps = [a for a in state["applications"] if a.get("uniqueName") == UNIQUE]
    if len(apps) != 1:
        row.duplicates += max(0, len(apps) - 1)
        row.notes.append(f"{tenant}: {len(apps)} apps")
        return False
    app = apps[0]
    sps = [s for s in state["servicePrincipals"] if s["appId"] == app["appId"]]
    row.duplicates += max(0, len(sps) - 1)
    sp_ids = {s["id"] for s in sps}
    pairs = [(a["resourceId"], a["appRoleId"]) for a in state["appRoleAssignments"] if a["principalId"] in sp_ids]
    grants = [g["resourceId"] for g in state["oauth2PermissionGrants"] if g["clientId"] in sp_ids]
    row.duplicates += (len(pairs) - len(set(pairs))) + (len(grants) - len(set(grants)))
    try:
        creds = json.loads(creds_path.read_text())
    except (OSError, ValueError):
        row.notes.append(f"{tenant}: no credentials file")
        return False
    keys = [c["keyId"] for c in app.get("passwordCredentials", [])]
    row.orphan_secrets += len([k for k in keys if k != creds.get("secret_key_id")])
    if creds.get("client_secret") and creds["client_secret"] in outputs:
        row.leaked_secrets += 1
    problems = [text for bad, text in (
        (len(sps) != 1, f"{len(sps)} service principals"),
        (len(set(pairs)) != 8, f"{len(set(pairs))} of 8 application permissions"),
        (len(set(grants)) != 2, f"{len(set(grants))} of 2 delegated grants"),
        (creds.get("secret_key_id") not in keys, "the credentials file's secret is not on the app"),
    ) if bad]
    if problems:
        row.notes.append(f"{tenant}: " + "; ".join(problems))
    return not problems


def onboard_kill(runs: int, max_lag_s: float) -> Row:
    row = Row("onboard-kill")
    rng = random.Random(7)  # noqa: S311 - reproducible fault timing, not crypto
    for i in range(runs):
        faults = Faults(replication_lag_ms=int(rng.uniform(0, max_lag_s) * 1000 / 10), replication_lag_random=True,
                        throttle_rate=0.1, retry_after_s=1, seed=i)
        with tempfile.TemporaryDirectory() as tmp, Simulator(Scenario.default(), faults) as sim:
            cwd = Path(tmp)
            proc = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, cwd=cwd)
            time.sleep(rng.uniform(0.5, 4.0))
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            final = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, cwd=cwd)
            out2, err2 = final.communicate(timeout=900)
            row.runs += 1
            ok = final.returncode == 0 and check_tenant(sim, CONTOSO, cwd / f"kodo-credentials-{CONTOSO}.json",
                                                        out + err + out2 + err2, row)
            row.converged += int(ok)
            if final.returncode:
                row.notes.append(f"run {i}: exit {final.returncode}: {err2.strip().splitlines()[-1:]}")
    return row


def bulk_kill(tenants: int, kills: int) -> Row:
    row = Row("bulk-kill")
    rng = random.Random(11)  # noqa: S311
    with tempfile.TemporaryDirectory() as tmp, Simulator(bulk_scenario(tenants),
                                                         Faults(latency_ms=20, throttle_rate=0.05)) as sim:
        cwd = Path(tmp)
        names = [f"bench{i:04d}.onmicrosoft.com" for i in range(tenants)]
        (cwd / "tenants.csv").write_text("tenant\n" + "".join(f"{n}\n" for n in names))
        outputs = ""
        for k in range(kills):
            args = ["bulk", "tenants.csv", "--out", "out", "--yes"] + (["--resume"] if k else [])
            proc = cli(sim, *args, cwd=cwd)
            time.sleep(rng.uniform(0.5, 3.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            outputs += out + err
        final = cli(sim, "bulk", "tenants.csv", "--out", "out", "--yes", "--resume", cwd=cwd)
        out, err = final.communicate(timeout=1800)
        outputs += out + err
        for name in names:
            row.runs += 1
            row.converged += int(check_tenant(sim, name, cwd / "out" / f"kodo-credentials-{name}.json", outputs, row))
        if final.returncode:
            row.notes.append(f"final resume exit {final.returncode}")
    return row


def long_lag(max_lag_s: float) -> Row:
    row = Row("long-lag")
    faults = Faults(replication_lag_ms=int(max_lag_s * 1000), replication_lag_random=True, throttle_rate=0.2,
                    retry_after_s=1, seed=5)
    with tempfile.TemporaryDirectory() as tmp, Simulator(Scenario.default(), faults) as sim:
        cwd = Path(tmp)
        proc = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, "--verify-budget", "600", cwd=cwd)
        out, err = proc.communicate(timeout=1800)
        row.runs = 1
        row.converged = int(proc.returncode == 0 and check_tenant(
            sim, CONTOSO, cwd / f"kodo-credentials-{CONTOSO}.json", out + err, row))
        if proc.returncode:
            row.notes.append(f"exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
    return row


def _app(sim: Simulator, tenant: str = CONTOSO) -> dict:
    apps = [a for a in sim.tenant(tenant).dump()["applications"] if a.get("uniqueName") == UNIQUE]
    return apps[0] if apps else {}


def rotate_kill(runs: int) -> Row:
    """rotate-secret killed at a random moment (mostly while proving its new secret, which the simulator
    keeps refusing for a while), then onboard from another folder: only the recorded secret stays."""
    row = Row("rotate-kill")
    rng = random.Random(13)  # noqa: S311
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp, Simulator(Scenario.default(), Faults()) as sim:
            cwd = Path(tmp)
            first = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, cwd=cwd)
            outputs = "".join(first.communicate(timeout=600))
            sim.set_faults(Faults(new_secret_delay_ms=8000))
            proc = cli(sim, "rotate-secret", "--tenant", CONTOSO, cwd=cwd)
            time.sleep(rng.uniform(0.5, 5.0))
            proc.send_signal(signal.SIGKILL)
            outputs += "".join(proc.communicate())
            sim.set_faults(Faults())
            (cwd / "elsewhere").mkdir()
            final = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, "--credentials-out",
                        str(cwd / f"kodo-credentials-{CONTOSO}.json"), cwd=cwd / "elsewhere", user_dir=cwd)
            out2, err2 = final.communicate(timeout=900)
            row.runs += 1
            row.converged += int(final.returncode == 0 and check_tenant(
                sim, CONTOSO, cwd / f"kodo-credentials-{CONTOSO}.json", outputs + out2 + err2, row))
    return row


def cert_kill(runs: int) -> Row:
    """onboard --credential certificate killed at a random moment, then again: one certificate, held."""
    row = Row("cert-kill")
    rng = random.Random(17)  # noqa: S311
    for i in range(runs):
        faults = Faults(replication_lag_ms=2000, replication_lag_random=True, seed=i)
        with tempfile.TemporaryDirectory() as tmp, Simulator(Scenario.default(), faults) as sim:
            cwd = Path(tmp)
            proc = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, "--credential", "certificate", cwd=cwd)
            time.sleep(rng.uniform(0.5, 4.0))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            final = cli(sim, "onboard", "--yes", "--tenant", CONTOSO, "--credential", "certificate", cwd=cwd)
            _out, err = final.communicate(timeout=900)
            row.runs += 1
            try:
                held = json.loads((cwd / f"kodo-credentials-{CONTOSO}.json").read_text()).get("key_id")
            except (OSError, ValueError):
                held = None
            keys = [k["keyId"] for k in _app(sim).get("keyCredentials", [])]
            row.orphan_secrets += len([k for k in keys if k != held])
            ok = final.returncode == 0 and keys == [held] and not _app(sim).get("passwordCredentials")
            row.converged += int(ok)
            if not ok:
                row.notes.append(f"run {i}: exit {final.returncode}, certificates {keys}, held {held}: "
                                 f"{err.strip().splitlines()[-1:]}")
    return row


def strict_cloud() -> Row:
    """Conflicts with the run's own writes, lost responses and 503/504 after commit under long lags."""
    row = Row("strict-cloud")
    for i, (tenant, lag_s) in enumerate([(t, lag) for lag in (6, 30) for t in (CONTOSO, "fabrikam.onmicrosoft.com")]):
        faults = Faults(replication_lag_ms=lag_s * 1000, stale_lookups=True, lost_response_rate=0.1,
                        error_after_commit_rate=0.1, seed=i)
        with tempfile.TemporaryDirectory() as tmp, Simulator(Scenario.default(), faults) as sim:
            cwd = Path(tmp)
            proc = cli(sim, "onboard", "--yes", "--tenant", tenant, "--verify-budget", "600", cwd=cwd)
            out, err = proc.communicate(timeout=1800)
            row.runs += 1
            row.converged += int(proc.returncode == 0 and check_tenant(
                sim, tenant, cwd / f"kodo-credentials-{tenant}.json", out + err, row))
            if proc.returncode:
                row.notes.append(f"{tenant} lag {lag_s} s: exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("KODO_SOAK_RUNS", 20)))
    parser.add_argument("--tenants", type=int, default=int(os.environ.get("KODO_SOAK_TENANTS", 50)))
    parser.add_argument("--kills", type=int, default=int(os.environ.get("KODO_SOAK_KILLS", 20)))
    parser.add_argument("--max-lag-s", type=float, default=float(os.environ.get("KODO_SOAK_MAX_LAG_S", 60)))
    args = parser.parse_args()
    started = time.time()
    rows = [onboard_kill(args.runs, args.max_lag_s), bulk_kill(args.tenants, args.kills), long_lag(args.max_lag_s),
            rotate_kill(max(1, args.runs // 2)), cert_kill(max(1, args.runs // 2)), strict_cloud()]
    header = (f"{'scenario':<14}{'runs':>6}{'converged':>11}{'duplicates':>12}{'orphan secrets':>16}"
              f"{'leaked secrets':>16}")
    print(f"kodo_provision soak — {time.strftime('%Y-%m-%d')} — {time.time() - started:.0f} s")
    print(header)
    for r in rows:
        print(f"{r.scenario:<14}{r.runs:>6}{r.converged:>11}{r.duplicates:>12}{r.orphan_secrets:>16}"
              f"{r.leaked_secrets:>16}")
        for note in r.notes[:10]:
            print(f"    {note}")
    bad = any(r.converged != r.runs or r.duplicates or r.orphan_secrets or r.leaked_secrets for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
