"""End-to-end fixtures: a simulator per test, and the real CLI run in-process through main().

The CLI reaches the simulator the way users reach Microsoft: through its configured endpoints
(--authority-host/--graph-endpoint/--ca-bundle) or, in the proxy tests, through HTTPS_PROXY
under the real host names. Assertions are on exit codes, output and the simulator's state.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kodo_provision.cli.main import main
from kodo_provision.simulator import Faults, Scenario, Simulator
from tests.virtual_time import virtual_time

CONTOSO = "contoso.onmicrosoft.com"
FABRIKAM = "fabrikam.onmicrosoft.com"
UNIQUE_NAME = "kodo-cloud-backup"
# The tool's public client. An admin's first interactive sign-in records Entra's consent for it in the
# tenant (its service principal and a delegated grant): Entra's objects, not the tool's.
GRAPH_CLI_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


# The simulator's CA alone (--ca-bundle-only): with certifi's ~140 CAs added, requests loads the whole bundle
# on every new TLS connection (~18 ms of CPU each, a quarter of an in-process onboarding). The tests that
# pass --ca-bundle themselves keep the combined trust (the default of --ca-bundle).
CA_ONLY = ("--ca-bundle-only",)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


@pytest.fixture(scope="session")
def shared_sim():
    """One simulator (TLS server, proxy, keys) for the session: starting one costs more than most tests."""
    with Simulator(scenario=Scenario.default(), faults=Faults()) as simulator:
        yield simulator


@pytest.fixture
def sim(shared_sim):
    """The shared simulator, back at the default scenario's initial state (tenants, faults, log, sign-ins)."""
    shared_sim.reset()
    return shared_sim


@pytest.fixture
def kodo(sim, capfd, tmp_path, monkeypatch):
    """Run `kodo-provision ARGS` in-process; fail on any exit status not expected."""
    monkeypatch.chdir(tmp_path)
    for var in ("HTTPS_PROXY", "https_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "KODO_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, expect: int = 0, endpoints: bool = True, tenant: str | None = CONTOSO) -> Run:
        argv = list(args)
        if tenant is not None and "--tenant" not in argv:
            argv += ["--tenant", tenant]
        if endpoints:
            argv += ["--authority-host", sim.url, "--graph-endpoint", sim.url,
                     "--ca-bundle", str(sim.ca_bundle_path), *CA_ONLY]
        capfd.readouterr()
        code = main(argv, environment=virtual_time())
        captured = capfd.readouterr()
        result = Run(int(code), captured.out, captured.err)
        assert result.code == expect, f"exit {result.code} != {expect}\nstdout:\n{result.out}\nstderr:\n{result.err}"
        return result

    return run


def tenant_state(sim, tenant: str = CONTOSO) -> dict[str, Any]:
    return sim.tenant(tenant).dump()


def without_sign_in_consent(state: dict[str, Any]) -> dict[str, Any]:
    """The tenant's state less the consent an interactive sign-in records for the tool's public client."""
    client_sps = {s["id"] for s in state["servicePrincipals"] if s["appId"] == GRAPH_CLI_TOOLS}
    return {**state,
            "servicePrincipals": [s for s in state["servicePrincipals"] if s["id"] not in client_sps],
            "oauth2PermissionGrants": [g for g in state["oauth2PermissionGrants"] if g["clientId"] not in client_sps]}


def tool_grants(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Delegated grants other than Entra's consent record of the sign-in client."""
    return without_sign_in_consent(state)["oauth2PermissionGrants"]


def consent_sign_in_client(sim, tenant: str = CONTOSO) -> None:
    """An admin consented the tool's public client in `tenant` before (common: Graph PowerShell and the
    Graph CLI share it), so a user who may not consent still gets a token and meets the tool's preflight."""
    from kodo_provision.auth.common import ADMIN_SCOPES

    sim.grant_consent(tenant, GRAPH_CLI_TOOLS, list(ADMIN_SCOPES))


def kodo_apps(state: dict[str, Any], unique_name: str = UNIQUE_NAME) -> list[dict[str, Any]]:
    return [a for a in state["applications"] if a.get("uniqueName") == unique_name]


def assert_converged(sim, tenant: str, creds_path: Path, unique_name: str = UNIQUE_NAME) -> dict[str, Any]:
    """The invariants after any successful onboarding."""
    state = tenant_state(sim, tenant)
    apps = kodo_apps(state, unique_name)
    assert len(apps) == 1, apps
    app = apps[0]
    sps = [s for s in state["servicePrincipals"] if s["appId"] == app["appId"]]
    assert len(sps) == 1
    sp_id = sps[0]["id"]
    assignments = [a for a in state["appRoleAssignments"] if a["principalId"] == sp_id]
    pairs = [(a["resourceId"], a["appRoleId"]) for a in assignments]
    assert len(pairs) == len(set(pairs)), "duplicate assignment"
    grants = [g for g in state["oauth2PermissionGrants"] if g["clientId"] == sp_id]
    assert len({g["resourceId"] for g in grants}) == len(grants), "duplicate grant"
    assert stat.S_IMODE(os.stat(creds_path).st_mode) == 0o600
    creds = json.loads(creds_path.read_text())
    assert creds["client_id"] == app["appId"] and creds["app_object_id"] == app["id"]
    assert creds["service_principal_id"] == sp_id
    key_ids = [c["keyId"] for c in app.get("passwordCredentials", [])]
    assert creds["secret_key_id"] in key_ids
    return {"app": app, "sp_id": sp_id, "assignments": assignments, "grants": grants, "creds": creds,
            "state": state}


def signal_cli_when(sim, args: list[str], ready, signum: int, *, settle_s: float = 0.0,
                    budget_s: float = 60, answer_within_s: float = 60, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run `kodo-provision ARGS` as a real process against `sim` (configured endpoints), in `cwd` (default: the
    repository), send it `signum` once `ready()` holds (then `settle_s` later); return exit status, stdout, stderr.
    The process is forked from a parent that has the CLI imported (tests/cli_processes.py)."""
    import signal as signals

    from tests.cli_processes import CliProcess

    env = {k: v for k, v in os.environ.items() if k not in ("HTTPS_PROXY", "https_proxy")}
    proc = CliProcess([*args, "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle",
                       str(sim.ca_bundle_path), *CA_ONLY], cwd=cwd or Path(__file__).parents[2], env=env)
    out, err = proc.signal_when(ready, signum, budget_s=budget_s, settle_s=settle_s, answer_within_s=answer_within_s)
    if signum == signals.SIGKILL:
        assert proc.returncode == -signals.SIGKILL
    return proc.returncode, out, err
