"""`simulate` runs in the foreground, prints what to use, and answers on the printed endpoints."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys

import httpx
from click.testing import CliRunner

from kodo_provision.cli.simulate import simulate


def test_simulate_foreground_json_and_control(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kodo_provision.cli.simulate import simulate; simulate()",
         "--json", "--throttle-rate", "1", "--retry-after", "4", "--replication-model", "session",
         "--affinity-loss-rate", "0.25", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["flags"][:2] == ["--authority-host", info["url"]]
        assert info["env"]["KODO_CA_BUNDLE"] == str(tmp_path / "ca.pem")
        assert info["proxy_env"]["HTTPS_PROXY"] == info["proxy_url"]
        ctx = ssl.create_default_context(cafile=info["ca_bundle_path"])
        faults = httpx.get(info["url"] + "/_sim/faults", verify=ctx).json()
        assert faults["throttle_rate"] == 1 and faults["retry_after_s"] == 4
        assert faults["replication_model"] == "session" and faults["affinity_loss_rate"] == 0.25
        assert {t["domain"] for t in info["tenants"]} >= {"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_simulate_help_and_bad_scenario(tmp_path):
    runner = CliRunner()
    assert "--replication-lag-ms" in runner.invoke(simulate, ["--help"]).output
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants: [{id: x}]\n")
    result = runner.invoke(simulate, ["--scenario", str(bad)])
    assert result.exit_code == 1 and "Invalid scenario" in result.output and "domain" in result.output


def test_human_output_names_flags_env_and_proxy():
    from kodo_provision.cli.simulate import _render, describe
    from kodo_provision.simulator import Simulator

    with Simulator() as sim:
        text = _render(describe(sim))
        assert f"--authority-host {sim.url} --graph-endpoint {sim.url} --ca-bundle {sim.ca_bundle_path}" in text
        assert f"export KODO_AUTHORITY_HOST={sim.url};" in text and "export HTTPS_PROXY=" in text
        assert "export REQUESTS_CA_BUNDLE=" in text and "export SSL_CERT_FILE=" in text


def test_a_port_in_use_is_one_line_naming_it(capsys):
    """Issue 16: the port that is taken and the fix (--port 0), exit 2."""
    import socket

    from kodo_provision.cli.main import main

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["simulate", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: cannot start the simulator: --port {port} is already in use — pick another port, "
                   "or --port 0 --proxy-port 0 for free ones\n")


def test_background_needs_a_workdir_and_stop_needs_a_running_one(capsys, tmp_path):
    from kodo_provision.cli.main import main

    assert main(["simulate", "--background"]) == 2
    assert "--background needs --workdir DIR" in capsys.readouterr().err
    assert main(["simulate", "--stop", "--workdir", str(tmp_path)]) == 2
    assert f"no simulator running from {tmp_path}" in capsys.readouterr().err
