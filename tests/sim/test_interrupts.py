"""Issue 14: Ctrl-C / SIGTERM while nothing can have changed yet (waiting for the device-code approval)
ends the process at once: one line, exit 130 (143), no traceback, and the tenant untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CONTOSO, kodo_apps, tenant_state

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_signal_at_the_approval_wait_ends_the_process(sim, tmp_path, signum, code):
    sim.set_sign_in(tenant=CONTOSO, manual=True)  # nobody approves: the CLI waits at the device code
    env = {k: v for k, v in os.environ.items() if k not in ("HTTPS_PROXY", "https_proxy")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kodo_provision.cli.main", "onboard", "--yes", "--tenant", CONTOSO,
         "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path),
         "--credentials-out", str(tmp_path / "c.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=env)
    try:
        deadline = time.monotonic() + 60
        while not sim.pending_device_codes() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)  # the CLI is now polling the token endpoint from its worker thread
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)  # a bound, not a speed test: it used to wait for the code
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code
    after_prompt = err.split("To sign in", 1)[1].splitlines()[1:]  # (the manifest's lint warnings come before)
    assert [line for line in after_prompt if line.strip()] == [
        f"interrupted ({'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'}) before any change; nothing was changed"]
    assert "Traceback" not in err and out == ""
    assert kodo_apps(tenant_state(sim)) == []


def test_one_ctrl_c_mid_apply_records_what_changed_and_how_to_continue(sim, kodo, tmp_path):
    """Once the tenant is being changed, Ctrl-C unwinds the flow: the audit record names what was done,
    one line says so with the command to continue, exit 130; running that command converges."""
    import json

    from kodo_provision.simulator import Faults

    from .conftest import assert_converged

    sim.set_faults(Faults(latency_ms=400))  # an apply of several seconds: time to press Ctrl-C in it
    creds = tmp_path / "c.json"
    env = {k: v for k, v in os.environ.items() if k not in ("HTTPS_PROXY", "https_proxy")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kodo_provision.cli.main", "onboard", "--yes", "--tenant", CONTOSO,
         "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path),
         "--credentials-out", str(creds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [r for r in sim.request_log if r.route == "applications.upsert"]:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert "change(s) confirmed in Contoso" in line and "kodo-provision onboard --yes --tenant" in line
    assert "Traceback" not in err
    (audit,) = tmp_path.glob("kodo-audit-*.json")
    record = json.loads(audit.read_text())
    assert record["status"] == "failed" and "interrupted" in record["error"]
    apps = kodo_apps(tenant_state(sim))  # the upsert was sent, so the app may exist: then the record names it
    assert record["app"]["client_id"] == (apps[0]["appId"] if apps else None)
    sim.set_faults(Faults())
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    assert_converged(sim, CONTOSO, creds)


def test_one_ctrl_c_mid_offboard_then_the_same_command_finishes(sim, kodo, tmp_path):
    """Offboarding is level-based: interrupted after its first removal (exit 130, one line naming the
    command), the same command removes the rest."""
    from kodo_provision.simulator import Faults

    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    sim.set_faults(Faults(latency_ms=300))
    env = {k: v for k, v in os.environ.items() if k not in ("HTTPS_PROXY", "https_proxy")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kodo_provision.cli.main", "offboard", "--yes", "--tenant", CONTOSO,
         "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [r for r in sim.request_log if r.method == "DELETE"]:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert "kodo-provision offboard --yes --tenant" in line and "Traceback" not in err
    assert kodo_apps(tenant_state(sim)), "interrupted before the app itself was removed"
    sim.set_faults(Faults())
    kodo("offboard", "--yes")
    state = tenant_state(sim)
    assert kodo_apps(state) == [] and not [a for a in state["appRoleAssignments"]
                                           if a["principalDisplayName"] == "KODO for Microsoft 365"]
