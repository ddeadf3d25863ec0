"""Issue 15: the admin's token goes only to Microsoft's hosts or this machine, unless the user names another
host with --allow-endpoint. The stand-in for a foreign host is graph.windows.net: the simulator's proxy
tunnels it to the simulator (so a request there would show in its request log, Authorization header and
all), but it is not the Graph endpoint of any cloud, so the tool must treat it as a stranger."""

from __future__ import annotations

import pytest

from kodo_provision.cloud import check_token_destinations, resolve_cloud
from kodo_provision.errors import ExitStatus, UsageError

FOREIGN = "graph.windows.net"


@pytest.fixture
def through_proxy(sim, monkeypatch, tmp_path):
    """The default cloud under its real host names, as users run it (simulator behind its proxy)."""
    monkeypatch.setenv("HTTPS_PROXY", sim.proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_bundle_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "home").mkdir()


def requests_to(sim, host: str) -> list:
    return [r for r in sim.request_log if r.host.split(":")[0] == host]


def assert_refused(run, flag: str) -> None:
    (line,) = [x for x in run.err.splitlines() if x.strip()][-1:]
    assert line.startswith(f"error: refusing to send your Microsoft sign-in tokens to {FOREIGN} ({flag})"), run.err
    assert f"--allow-endpoint {FOREIGN}" in line


@pytest.mark.parametrize("how", ["env", "flag"])
def test_a_foreign_graph_endpoint_is_refused_before_any_request(sim, kodo, through_proxy, monkeypatch, how):
    sim.clear_request_log()
    args = ["plan"]
    if how == "env":
        monkeypatch.setenv("KODO_GRAPH_ENDPOINT", f"https://{FOREIGN}")
    else:
        args += ["--graph-endpoint", f"https://{FOREIGN}"]
    run = kodo(*args, endpoints=False, expect=ExitStatus.USAGE)
    assert_refused(run, "--graph-endpoint")
    assert sim.request_log == [], "refused before sign-in: nothing was sent anywhere"


def test_a_saved_login_does_not_follow_a_foreign_endpoint(sim, kodo, through_proxy, monkeypatch):
    kodo("login", "--allow-unencrypted-cache", endpoints=False)
    sim.clear_request_log()
    monkeypatch.setenv("KODO_GRAPH_ENDPOINT", f"https://{FOREIGN}")
    run = kodo("plan", endpoints=False, expect=ExitStatus.USAGE)
    assert_refused(run, "--graph-endpoint")
    assert requests_to(sim, FOREIGN) == [] and sim.request_log == []


def test_a_foreign_authority_is_refused_too(sim, kodo, through_proxy):
    run = kodo("plan", "--authority-host", f"https://{FOREIGN}", endpoints=False, expect=ExitStatus.USAGE)
    assert_refused(run, "--authority-host")
    assert sim.request_log == []


def test_naming_the_host_lets_it_through_and_says_so_before_sign_in(sim, kodo, through_proxy):
    sim.clear_request_log()
    run = kodo("plan", "--graph-endpoint", f"https://{FOREIGN}", "--allow-endpoint", FOREIGN, endpoints=False)
    note = f"note: your sign-in tokens will be sent to {FOREIGN} (--allow-endpoint)"
    assert note in run.err and run.err.index(note) < run.err.index("To sign in")
    assert requests_to(sim, FOREIGN), "the named host got the Graph requests"


def test_microsoft_hosts_and_loopback_need_no_flag():
    for cloud in ("global", "usgov", "usgov-dod", "china"):
        assert check_token_destinations(resolve_cloud(cloud), frozenset()) == []
    local = resolve_cloud("global", authority_host="https://127.0.0.1:8443", graph_endpoint="https://[::1]:9443",
                          partner_center_endpoint="https://localhost:7443")
    assert check_token_destinations(local, frozenset()) == []
    with pytest.raises(UsageError, match="elsewhere.example"):
        resolve_cloud("global", graph_endpoint="https://elsewhere.example")
    with pytest.raises(UsageError, match="api.elsewhere.example"):
        resolve_cloud("global", partner_center_endpoint="https://api.elsewhere.example")
    assert resolve_cloud("global", graph_endpoint="https://elsewhere.example",
                         allow_endpoints=frozenset({"elsewhere.example"})).graph_host == "elsewhere.example"


def test_a_saved_login_is_bound_to_its_graph_endpoint(sim, kodo, tmp_path, monkeypatch):
    """A login made for one Graph endpoint is not resumed for another: the new endpoint gets a sign-in of
    its own (a device code), not the saved tokens."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "home").mkdir()
    kodo("login", "--allow-unencrypted-cache")
    sim.clear_request_log()
    kodo("plan")
    assert not [r for r in sim.request_log if r.path.endswith("/devicecode")], "same endpoints: resumed"
    other = sim.url.replace("127.0.0.1", "localhost")  # the same simulator under another (loopback) name
    run = kodo("plan", "--authority-host", sim.url, "--graph-endpoint", other, "--ca-bundle", str(sim.ca_bundle_path),
               endpoints=False)
    assert "To sign in, open" in run.err
    assert [r for r in sim.request_log if r.path.endswith("/devicecode")]
