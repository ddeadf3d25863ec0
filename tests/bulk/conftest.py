"""Fixtures for `kodo-provision bulk`: many-tenant scenarios built from dicts, the CLI run in-process.

The scenario: one MSP partner tenant whose admin holds delegated admin (GDAP-like) roles in some
customer tenants; every customer also has its own Global Administrator (for per-tenant sign-in).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kodo_provision.cli.main import main
from kodo_provision.simulator import Faults, Scenario, Simulator
from tests.cli_processes import CliProcess
from tests.virtual_time import virtual_time

PARTNER = "msp-partner.onmicrosoft.com"
PARTNER_UPN = f"partner.admin@{PARTNER}"


def customer(i: int) -> str:
    return f"customer{i:03d}.onmicrosoft.com"


def customer_id(i: int) -> str:
    return f"7e1c4b1e-2a57-4c43-9d1e-{i:012d}"


def many_tenants(n: int, access: int | None = None, *, roles: dict[int, list[str]] | None = None,
                 sign_in: dict[str, Any] | None = None) -> Scenario:
    """n customers; the partner admin has Global Administrator in the first `access` (default all),
    or the roles `roles[i]` in customer i."""
    access = n if access is None else access
    roles = roles or {}
    tenants: list[dict[str, Any]] = [{
        "id": "7e1c4b1e-2a57-4c43-9d1e-ffffffffffff", "domain": PARTNER, "display_name": "MSP Partner",
        "sign_in_user": PARTNER_UPN,
        # A CSP partner: every customer is in its Partner Center list; GDAP roles are per user below.
        "partner_center": {"customers": [customer(i) for i in range(n)]},
        "users": [{"upn": PARTNER_UPN, "roles": ["Global Administrator"],
                   "partner_access": [{"tenant": customer(i), "roles": roles.get(i, ["Global Administrator"])}
                                      for i in range(access)]}],
    }]
    for i in range(n):
        admin = f"admin@{customer(i)}"
        tenants.append({"id": customer_id(i), "domain": customer(i), "display_name": f"Customer {i:03d}",
                        "sign_in_user": admin, "users": [{"upn": admin, "roles": ["Global Administrator"]}]})
    return Scenario.model_validate({"tenants": tenants,
                                    "sign_in": {"interval": 0, "default_tenant": PARTNER, **(sign_in or {})}})


def write_tenants_csv(path: Path, tenants: list[str], extra: str = "") -> Path:
    path.write_text("tenant" + extra + "\n" + "".join(f"{t}\n" for t in tenants), encoding="utf-8")
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def bulk_run(capfd, tmp_path, monkeypatch):
    """Run `kodo-provision bulk ARGS` in-process against `sim`; fail on an unexpected exit status."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the remembered partner app: per test
    for var in ("HTTPS_PROXY", "https_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "KODO_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)

    def run(sim: Simulator, *args: str, expect: int = 0, real_time: bool = False) -> Run:
        argv = ["bulk", *args, "--authority-host", sim.url, "--graph-endpoint", sim.url,
                "--partner-center-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path),
                "--ca-bundle-only"]  # the simulator's CA alone: see CA_ONLY in tests/sim/conftest.py
        capfd.readouterr()
        # Virtual time (tests/virtual_time.py) unless the test is about how waits overlap in real time.
        code = main(argv, environment=None if real_time else virtual_time())
        captured = capfd.readouterr()
        result = Run(int(code), captured.out, captured.err)
        assert result.code == expect, f"exit {result.code} != {expect}\nstdout:\n{result.out}\nstderr:\n{result.err}"
        return result

    return run


def start(scenario: Scenario, faults: Faults | None = None) -> Simulator:
    return Simulator(scenario=scenario, faults=faults or Faults()).start()


def report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


def journal_events(path: Path) -> list[dict[str, Any]]:
    """The journal's records (a torn last line is skipped, as --resume does)."""
    events = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def sigkill_bulk_when(sim, tmp_path: Path, args: list[str], out: Path,
                      ready: Callable[[list[dict[str, Any]]], bool], budget_s: float = 90,
                      signum: int = signal.SIGKILL) -> tuple[int, str]:
    """Run `kodo-provision bulk ARGS --out OUT` as a real process against `sim` (the remembered partner
    app under tmp_path/config, as bulk_run's) and send it `signum` once `ready(journal events)` holds.
    Returns its exit status and stderr. The process is forked from a parent that has the CLI imported
    (tests/cli_processes.py)."""
    argv = ["bulk", *args, "--out", str(out), "--yes", "--concurrency", "4", "--authority-host", sim.url,
            "--graph-endpoint", sim.url, "--partner-center-endpoint", sim.url, "--ca-bundle",
            str(sim.ca_bundle_path), "--ca-bundle-only"]
    env = {k: v for k, v in os.environ.items() if k not in ("HTTPS_PROXY", "https_proxy")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    proc = CliProcess(argv, cwd=Path(__file__).parents[2], env=env)
    _out, err = proc.signal_when(lambda: ready(journal_events(out / "journal.jsonl")), signum, budget_s=budget_s)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    return proc.returncode, err
