"""The CONNECT proxy: the real stacks on their default cloud configuration, under the real host names."""

from __future__ import annotations

import socket
import ssl

import httpx
from azure.identity import DeviceCodeCredential
from conftest import ADMIN_SCOPES, CONTOSO, GRAPH_CLI_TOOLS, graph_client, run
from msgraph.generated.models.application import Application


def test_default_cloud_through_https_proxy(sim, monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", sim.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_bundle_path)  # azure-identity (requests)
    # No authority, no disable_instance_discovery, no connection_verify: the defaults users run with.
    cred = DeviceCodeCredential(client_id=GRAPH_CLI_TOOLS, tenant_id=CONTOSO, prompt_callback=lambda *a: None)
    record = cred.authenticate(scopes=ADMIN_SCOPES, enable_cae=True)
    assert record.authority == "login.microsoftonline.com"

    c = graph_client(sim, cred, base_url="https://graph.microsoft.com/v1.0")
    app = run(c.applications.post(Application(display_name="via proxy")))
    assert app.app_id
    hosts = {r.host for r in sim.request_log}
    assert hosts == {"login.microsoftonline.com", "graph.microsoft.com"}
    # id_token issuer (and so the AuthenticationRecord) names the real host.
    config = httpx.get("https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
                       verify=ssl.create_default_context(cafile=sim.ca_bundle_path)).json()
    assert config["token_endpoint"] == "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    assert config["msgraph_host"] == "graph.microsoft.com"


def _connect(sim, target: str) -> bytes:
    port = int(sim.proxy_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return s.recv(200)


def test_proxy_refuses_other_hosts(sim):
    assert _connect(sim, "example.com:443").startswith(b"HTTP/1.1 403")
    assert _connect(sim, "graph.microsoft.com:80").startswith(b"HTTP/1.1 403")
    assert _connect(sim, "graph.microsoft.us:443").startswith(b"HTTP/1.1 200")
    port = int(sim.proxy_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 405")
