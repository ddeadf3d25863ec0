"""`make bench-m365` (issue 7): kodo-provision onboard vs CLI for Microsoft 365 doing the same work.

Both tools run as the user runs them - a fresh process per command, device-code sign-in
(approved by the simulator), the real host names login.microsoftonline.com / graph.microsoft.com
reached through the simulator's CONNECT proxy with its CA trusted - against one simulator with the
same injected Graph latency, each against a fresh tenant state:

- CLI for Microsoft 365 (`@pnp/cli-microsoft365`, pinned by scripts/m365/package-lock.json, installed
  with `npm ci` into .cache/m365-cli/<version>/ once): `m365 login --authType deviceCode` then
  `m365 entra app add --apisApplication ... --apisDelegated ... --grantAdminConsent --withSecret`
  with the permissions of manifests/kodo.yaml.
  How it reaches the simulator: all of its HTTP (Graph and msal-node, through its MsalNetworkClient)
  goes through axios, and axios >= 1.20 tunnels https targets through HTTPS_PROXY with CONNECT
  (lib/adapters/http.js setProxy); NODE_EXTRA_CA_CERTS trusts the simulator CA. No preload needed.
- kodo-provision: `kodo-provision onboard --yes` with HTTPS_PROXY / REQUESTS_CA_BUNDLE (the
  simulator's documented proxy settings).

Counts come from the simulator's request log; sequential round trips as scripts/bench.py derives
them. Convergence is read from the simulator's state (app, service principal, secret, every
application and delegated grant of the manifest) and the secret must yield an app-only token.
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python scripts/m365_compare.py`
    sys.path.insert(0, str(REPO))

from kodo_provision.manifest.load import load_manifest  # noqa: E402
from kodo_provision.manifest.model import Manifest  # noqa: E402
from kodo_provision.simulator import Faults, Scenario, Simulator  # noqa: E402
from scripts.bench import sequential_round_trips  # noqa: E402

PIN_DIR = REPO / "scripts" / "m365"
PACKAGE = "@pnp/cli-microsoft365"
TENANT = "contoso.onmicrosoft.com"
# Both tools sign in with the same public client (Microsoft Graph Command Line Tools, kodo's default);
# m365 >= 7 has no built-in app and needs --appId (or `m365 setup`).
CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
TARGET_RATIO = 1.5
_PROXY_VARS = {"https_proxy", "http_proxy", "all_proxy", "no_proxy", "node_options", "node_extra_ca_certs"}


# --- installing the pinned CLI for Microsoft 365 ---------------------------------------------------
def pinned_version() -> str:
    """The version scripts/m365/package.json pins."""
    return json.loads((PIN_DIR / "package.json").read_text())["dependencies"][PACKAGE]


def cache_root() -> Path:
    """KODO_M365_CACHE, else .cache/m365-cli/ in the repository (git-ignored)."""
    return Path(os.environ.get("KODO_M365_CACHE") or REPO / ".cache" / "m365-cli")


def _installed_version(prefix: Path, package: str) -> str | None:
    meta = prefix / "node_modules" / package / "package.json"
    return json.loads(meta.read_text())["version"] if meta.is_file() else None


def ensure_m365() -> tuple[Path, dict[str, str]]:
    """Install the pinned CLI for Microsoft 365 once (npm ci from our lockfile); its entry point and versions."""
    version = pinned_version()
    prefix = cache_root() / version
    if _installed_version(prefix, PACKAGE) != version:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("error: npm not found (Node.js 20+ is needed to run CLI for Microsoft 365)")
        prefix.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PIN_DIR / name, prefix / name)
        print(f"installing {PACKAGE}@{version} into {prefix} ...", flush=True)
        subprocess.run(  # noqa: S603 - npm ci of our own lockfile
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], cwd=prefix, check=True)
        if _installed_version(prefix, PACKAGE) != version:
            raise SystemExit(f"error: npm ci did not install {PACKAGE}@{version} into {prefix}")
    node = shutil.which("node")
    if node is None:
        raise SystemExit("error: node not found")
    versions = {
        "m365": version,
        "node": subprocess.run([node, "--version"], capture_output=True, text=True,  # noqa: S603 - node itself
                               check=True).stdout.strip(),
        "axios": _installed_version(prefix, "axios") or "?",
        "msal-node": _installed_version(prefix, "@azure/msal-node") or "?",
    }
    return prefix / "node_modules" / PACKAGE / "dist" / "index.js", versions


# --- one measured run ----------------------------------------------------------------------------
@dataclass
class Run:
    """Figures of one tool's run against a fresh tenant."""

    tool: str
    sign_in_s: float
    provision_s: float
    graph_requests: int = 0
    token_requests: int = 0
    round_trips: int = 0
    exit_code: int = 0
    missing: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    output: str = ""
    phases: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        """Sign-in plus provisioning."""
        return self.sign_in_s + self.provision_s

    @property
    def converged(self) -> bool:
        """Exit 0 and nothing missing in the tenant."""
        return self.exit_code == 0 and not self.missing


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
    return env


def _count(sim: Simulator, first: int, run: Run) -> None:
    records = [r for r in sim.request_log[first:] if not r.in_batch]
    graph = [r for r in records if r.kind == "graph"]
    run.graph_requests = len(graph)
    run.token_requests = sum(1 for r in records if r.kind == "login" and r.path.endswith("/token"))
    run.round_trips = sequential_round_trips(graph)
    run.failed_requests = [f"{r.method} {r.host}{r.path} -> {r.status} {r.error_code or ''}".rstrip()
                           for r in records if r.status >= 400]


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, spawn time (epoch, comparable with the request log) and the finished process."""
    spawned, started = time.time(), time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True,  # noqa: S603 - m365 / our CLI
                          timeout=300, check=False)
    return time.perf_counter() - started, spawned, done


def _phase(sim: Simulator, first: int, name: str, spawned: float, wall: float) -> str:
    """Where one process spent its time: first request, first Graph request, last response, exit."""
    records = [r for r in sim.request_log[first:] if not r.in_batch and spawned <= r.start <= spawned + wall]
    if not records:
        return f"{name}: no request, exit +{wall:.2f} s"
    graph = [r for r in records if r.kind == "graph"]
    first_graph = f", first Graph request +{min(r.start for r in graph) - spawned:.2f} s" if graph else ""
    return (f"{name}: first request +{min(r.start for r in records) - spawned:.2f} s{first_graph}, "
            f"last response +{max(r.end for r in records) - spawned:.2f} s, exit +{wall:.2f} s")


def permission_args(manifest: Manifest, state: dict[str, Any]) -> tuple[str, str]:
    """--apisApplication / --apisDelegated: `<resource URI>/<permission>` for every manifest permission.

    m365 finds the resource service principal whose servicePrincipalNames hold the URI; we use the
    resource's own https:// name (https://graph.microsoft.com, https://graph.windows.net,
    https://outlook.office365.com) as users type it.
    """
    def uri(app_id: str) -> str:
        sp = next(s for s in state["servicePrincipals"] if s["appId"] == app_id)
        return next(n for n in sp["servicePrincipalNames"] if n.startswith("https://") and not n.endswith("/"))

    application = [f"{uri(r.app_id)}/{p}" for r in manifest.resources for p in r.application]
    delegated = [f"{uri(r.app_id)}/{p}" for r in manifest.resources for p in r.delegated]
    return ",".join(application), ",".join(delegated)


def run_m365(sim: Simulator, entry: Path, manifest: Manifest, work: Path) -> tuple[Run, str | None, str | None]:
    """`m365 login` + `m365 entra app add`; the run and the (appId, secret) it printed."""
    home = work / "m365-home"
    (home / ".config" / "configstore").mkdir(parents=True)
    # Settings as `m365 cli config set` writes them: no telemetry (it would try the internet),
    # JSON output, no browser, no clipboard, never prompt.
    (home / ".config" / "configstore" / "cli-m365-config.json").write_text(json.dumps({
        "disableTelemetry": True, "output": "json", "autoOpenLinksInBrowser": False,
        "copyDeviceCodeToClipboard": False, "printErrorsAsPlainText": True, "prompt": False}))
    env = _base_env(home) | {
        "HTTPS_PROXY": sim.proxy_url, "HTTP_PROXY": sim.proxy_url, "NO_PROXY": "",
        "NODE_EXTRA_CA_CERTS": str(sim.ca_bundle_path),
        "CLIMICROSOFT365_NOUPDATE": "1", "APPLICATION_INSIGHTS_NO_STATSBEAT": "1",
    }
    node = shutil.which("node") or "node"
    tenant_id = sim.tenant(TENANT).id
    first = len(sim.request_log)
    sign_in_s, spawned, login = _timed([node, str(entry), "login", "--authType", "deviceCode", "--tenant", tenant_id,
                                        "--appId", CLIENT_ID, "--output", "json"], env)
    run = Run("CLI for Microsoft 365", sign_in_s, 0.0, exit_code=login.returncode,
              output=(login.stdout + login.stderr)[-2000:])
    run.phases.append(_phase(sim, first, "m365 login", spawned, sign_in_s))
    app_id = secret = None
    if login.returncode == 0:
        application, delegated = permission_args(manifest, sim.tenant(TENANT).dump())
        run.provision_s, spawned, add = _timed([node, str(entry), "entra", "app", "add", "--name",
                                                manifest.app.display_name, "--apisApplication", application,
                                                "--apisDelegated", delegated, "--grantAdminConsent", "--withSecret",
                                                "--output", "json"], env)
        run.phases.append(_phase(sim, first, "m365 entra app add", spawned, run.provision_s))
        run.exit_code, run.output = add.returncode, (add.stdout + add.stderr)[-2000:]
        if add.returncode == 0:
            printed = json.loads(add.stdout)
            app_id = printed["appId"]
            secret = (printed.get("secrets") or [{}])[0].get("value")
    _count(sim, first, run)
    return run, app_id, secret


def kodo_command() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point via -c."""
    script = Path(sys.executable).with_name("kodo-provision")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from kodo_provision.cli.main import main; sys.exit(main())"]


def run_kodo(sim: Simulator, work: Path) -> tuple[Run, str | None, str | None]:
    """`kodo-provision onboard` in its own process; sign-in ends when the device-code token is issued."""
    home = work / "kodo-home"
    home.mkdir()
    creds = work / "kodo-credentials.json"
    env = _base_env(home) | {"HTTPS_PROXY": sim.proxy_url, "NO_PROXY": "",
                             "REQUESTS_CA_BUNDLE": str(sim.ca_bundle_path), "SSL_CERT_FILE": str(sim.ca_bundle_path)}
    first = len(sim.request_log)
    wall, spawned, done = _timed([*kodo_command(), "onboard", "--yes", "--tenant", TENANT, "--output", "json",
                         "--credentials-out", str(creds)], env)
    records = sim.request_log[first:]
    code = next((r for r in records if r.kind == "login" and r.path.endswith("/devicecode")), None)
    token = next((r for r in records if code and r.kind == "login" and r.path.endswith("/token")
                  and r.start >= code.start and r.status == 200), None)
    sign_in = min(wall, token.end - spawned) if token else wall
    run = Run("kodo-provision", sign_in, wall - sign_in, exit_code=done.returncode,
              output=(done.stdout + done.stderr)[-2000:])
    run.phases.append(_phase(sim, first, "kodo-provision onboard", spawned, wall)
                      + (f" (device-code token +{token.end - spawned:.2f} s)" if token else ""))
    _count(sim, first, run)
    if done.returncode != 0 or not creds.is_file():
        return run, None, None
    data = json.loads(creds.read_text())
    return run, data["client_id"], data["client_secret"]


# --- convergence ---------------------------------------------------------------------------------
def missing_in_tenant(state: dict[str, Any], manifest: Manifest, app_id: str | None) -> list[str]:
    """What of app + service principal + secret + every manifest grant is absent from the tenant."""
    app = next((a for a in state["applications"] if a["appId"] == app_id), None) if app_id else None
    if app is None:
        return ["application"]
    missing = [] if app.get("passwordCredentials") else ["secret"]
    sp = next((s for s in state["servicePrincipals"] if s["appId"] == app_id), None)
    if sp is None:
        return [*missing, "service principal"]
    for res in manifest.resources:
        rsp = next(s for s in state["servicePrincipals"] if s["appId"] == res.app_id)
        role_ids = {r["value"]: r["id"].lower() for r in rsp.get("appRoles", [])}
        held = {a["appRoleId"].lower() for a in state["appRoleAssignments"]
                if a["principalId"] == sp["id"] and a["resourceId"] == rsp["id"]}
        missing += [f"{p} (application, {res.name})" for p in res.application if role_ids.get(p) not in held]
        scopes = {s for g in state["oauth2PermissionGrants"]
                  if g["clientId"] == sp["id"] and g["resourceId"] == rsp["id"] and g["consentType"] == "AllPrincipals"
                  for s in g["scope"].split()}
        missing += [f"{p} (delegated, {res.name})" for p in res.delegated if p not in scopes]
    return missing


def secret_problem(sim: Simulator, manifest: Manifest, app_id: str | None, secret: str | None) -> str | None:
    """None if the secret yields an app-only Microsoft Graph token with every Graph application role."""
    if not app_id or not secret:
        return "no secret printed"
    tenant_id = sim.tenant(TENANT).id
    resp = httpx.post(f"{sim.url}/{tenant_id}/oauth2/v2.0/token",
                      data={"grant_type": "client_credentials", "client_id": app_id, "client_secret": secret,
                            "scope": "https://graph.microsoft.com/.default"},
                      verify=ssl.create_default_context(cafile=str(sim.ca_bundle_path)), timeout=30)
    if resp.status_code != 200:
        return f"app-only token refused: {resp.json().get('error')}"
    roles = set(jwt.decode(resp.json()["access_token"], options={"verify_signature": False}).get("roles", []))
    graph = next(r for r in manifest.resources if r.app_id == "00000003-0000-0000-c000-000000000000")
    lacking = sorted(set(graph.application) - roles)
    return f"app-only token lacks {', '.join(lacking)}" if lacking else None


def check(sim: Simulator, manifest: Manifest, run: Run, app_id: str | None, secret: str | None) -> None:
    """Fill run.missing from the simulator state and an app-only token request (after counting)."""
    if run.exit_code != 0:
        run.missing = ["(command failed)"]
        return
    run.missing = missing_in_tenant(sim.tenant(TENANT).dump(), manifest, app_id)
    problem = secret_problem(sim, manifest, app_id, secret)
    if problem:
        run.missing.append(problem)


# --- report --------------------------------------------------------------------------------------
def median_run(runs: list[Run]) -> Run:
    """The run with the median total (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.total_s)
    return ordered[(len(ordered) - 1) // 2]


def table(rows: list[Run], reference: Run) -> list[str]:
    """Lines of the comparison table; ratio = the m365 total / the row's total."""
    header = (f"{'tool':<22} {'sign-in s':>9} {'provision s':>11} {'total s':>7} {'graph req':>9} "
              f"{'token req':>9} {'round trips':>11} {'ratio':>6}  converged")
    lines = [header, "-" * len(header)]
    for r in rows:
        ratio = reference.total_s / r.total_s if r.total_s else 0.0
        conv = "yes" if r.converged else "NO: " + "; ".join(r.missing)
        lines.append(f"{r.tool:<22} {r.sign_in_s:>9.2f} {r.provision_s:>11.2f} {r.total_s:>7.2f} "
                     f"{r.graph_requests:>9} {r.token_requests:>9} {r.round_trips:>11} {ratio:>5.2f}x  {conv}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Install (once), measure both tools `--runs` times, print the table of the median runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (m365 then kodo, fresh tenant each); "
                        "the table shows each tool's median run")
    parser.add_argument("--latency-ms", type=int, default=int(os.environ.get("KODO_BENCH_LATENCY_MS", "50")))
    parser.add_argument("--approval-delay-ms", type=int, default=0,
                        help="the simulated admin approves the device code this long after it is issued")
    parser.add_argument("--replication-lag-ms", type=int, default=0,
                        help="new objects stay invisible this long (the simulator's replication_lag_ms)")
    args = parser.parse_args(argv)
    entry, versions = ensure_m365()
    manifest = load_manifest(REPO / "manifests" / "kodo.yaml")
    scenario = Scenario.default() | Scenario.model_validate({"sign_in": {"delay_ms": args.approval_delay_ms}})
    print(f"kodo-provision vs CLI for Microsoft 365 — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores — "
          f"simulated latency {args.latency_ms} ms per Graph request, device-code approval after "
          f"{args.approval_delay_ms} ms, replication lag {args.replication_lag_ms} ms")
    print(f"CLI for Microsoft 365 {versions['m365']} (node {versions['node']}, axios {versions['axios']}, "
          f"msal-node {versions['msal-node']}) from {entry.parents[4]}")
    m365_runs: list[Run] = []
    kodo_runs: list[Run] = []
    with Simulator(scenario=scenario, faults=Faults(latency_ms=args.latency_ms,
                                                               replication_lag_ms=args.replication_lag_ms)) as sim:
        for _ in range(args.runs):
            for runner, into in ((lambda w: run_m365(sim, entry, manifest, w), m365_runs),
                                 (lambda w: run_kodo(sim, w), kodo_runs)):
                sim.reset()
                with tempfile.TemporaryDirectory(prefix="kodo-m365-") as tmp:
                    run, app_id, secret = runner(Path(tmp))
                check(sim, manifest, run, app_id, secret)
                into.append(run)
    m365, kodo = median_run(m365_runs), median_run(kodo_runs)
    print(f"median of {args.runs} run(s) each; ratio = CLI for Microsoft 365 total / tool total")
    print("\n".join(table([m365, kodo], m365)))
    print(f"all totals (s): m365 {' '.join(f'{r.total_s:.2f}' for r in m365_runs)}; "
          f"kodo {' '.join(f'{r.total_s:.2f}' for r in kodo_runs)}")
    print(f"latency floor of the Graph work alone: kodo {kodo.round_trips} round trips x {args.latency_ms} ms = "
          f"{kodo.round_trips * args.latency_ms / 1000:.2f} s; m365 {m365.round_trips} x {args.latency_ms} ms = "
          f"{m365.round_trips * args.latency_ms / 1000:.2f} s")
    print("where the time goes (median runs, seconds after each process started):")
    for line in (*m365.phases, *kodo.phases):
        print(f"  {line}")
    ratio = m365.total_s / kodo.total_s if kodo.total_s else 0.0
    if not (m365.converged and kodo.converged):
        verdict = "not comparable: " + " and ".join(r.tool for r in (m365, kodo) if not r.converged) + \
            " did not converge"
    else:
        verdict = f"{'met' if ratio >= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)"
    print(f"issue 7 target (kodo >= {TARGET_RATIO}x faster end to end): {verdict}")
    for r in (*m365_runs, *kodo_runs):
        if not r.converged:
            print(f"\n{r.tool} failed (exit {r.exit_code}); failed requests: {r.failed_requests or 'none'}\n"
                  f"{r.output}", file=sys.stderr)
    return 0 if all(r.converged for r in (*m365_runs, *kodo_runs)) else 1


if __name__ == "__main__":
    sys.exit(main())
