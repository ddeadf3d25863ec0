"""Convergence under Entra's real failure modes, and the default cloud through a proxy."""

from __future__ import annotations

import json

from kodo_provision.simulator import Faults

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state


def test_replication_lag_and_throttling(sim, kodo, tmp_path):
    sim.set_faults(Faults(replication_lag_ms=3000, throttle_rate=0.2, retry_after_s=1, seed=11))
    kodo("onboard", "--yes")
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    statuses = [r.status for r in sim.request_log if r.kind == "graph"]
    assert 429 in statuses, "the fault knob must have throttled something"


def test_default_cloud_through_https_proxy(sim, kodo, tmp_path, monkeypatch):
    """No custom endpoints: login.microsoftonline.com and graph.microsoft.com, as users run it."""
    monkeypatch.setenv("HTTPS_PROXY", sim.proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_bundle_path))
    kodo("onboard", "--yes", endpoints=False)
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    hosts = {r.host.split(":")[0] for r in sim.request_log}
    assert {"login.microsoftonline.com", "graph.microsoft.com"} <= hosts


def test_lost_add_password_response_leaves_no_orphan(sim, kodo, tmp_path):
    sim.lose_next_response("addPassword")
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    creds = result["app"]["passwordCredentials"]
    assert len(creds) == 1, creds
    assert json.loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text())["secret_key_id"] == \
        creds[0]["keyId"]


def test_lost_service_principal_response_creates_one_sp(sim, kodo, tmp_path):
    sim.lose_next_response("createServicePrincipal")
    kodo("onboard", "--yes")
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    assert len(kodo_apps(tenant_state(sim))) == 1
