"""National clouds, custom endpoints, and the named retry policies' decisions."""

from __future__ import annotations

import asyncio

import pytest

from kodo_provision.cloud import resolve_cloud
from kodo_provision.errors import UsageError
from kodo_provision.graph.errors import (
    GraphBadRequest,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    parse_retry_after,
)
from kodo_provision.graph.retry import Policy, RetrySettings, run_with_policy


def test_national_clouds():
    assert resolve_cloud("usgov-dod").graph_scope("User.Read") == "https://dod-graph.microsoft.us/User.Read"
    assert resolve_cloud("china").authority_host == "https://login.chinacloudapi.cn"
    assert resolve_cloud("global").graph_base_url == "https://graph.microsoft.com/v1.0"


def test_custom_endpoints_keep_the_graph_resource():
    cloud = resolve_cloud("global", authority_host="https://127.0.0.1:8443/", graph_endpoint="https://127.0.0.1:8443")
    assert cloud.graph_base_url == "https://127.0.0.1:8443/v1.0"
    assert cloud.graph_scope("User.Read") == "https://graph.microsoft.com/User.Read"
    assert cloud.known_authority is False


@pytest.mark.parametrize("bad", ["http://x", "ftp://x", "nohost"])
def test_custom_endpoints_must_be_https(bad):
    with pytest.raises(UsageError, match="https"):
        resolve_cloud("global", authority_host=bad)


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


class Script:
    """A call that fails with the given errors, then succeeds; records requested sleeps."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0
        self.sleeps: list[float] = []

    async def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"

    async def sleep(self, seconds):
        self.sleeps.append(seconds)


def run(policy, script, settings=RetrySettings()):
    return asyncio.run(run_with_policy("op", policy, script, settings, sleep=script.sleep))


def test_throttling_waits_retry_after():
    script = Script(GraphThrottled("op", 429, "TooManyRequests", "slow down", retry_after=7.0))
    assert run(Policy.THROTTLING, script) == "ok"
    assert script.sleeps == [7.0]


def test_replication_lag_only_where_the_policy_names_it():
    lag = GraphNotFound("op", 404, "Request_ResourceNotFound", "does not exist")
    with pytest.raises(GraphNotFound):
        run(Policy.THROTTLING, Script(lag))
    script = Script(lag, GraphBadRequest("op", 400, "Request_BadRequest",
                                         "The appId 'x' of the service principal does not reference a valid "
                                         "application object."))
    assert run(Policy.AFTER_CREATE, script) == "ok" and script.calls == 3
    assert all(0 < s <= RetrySettings().backoff_max_s for s in script.sleeps)


def test_other_errors_are_never_retried():
    script = Script(GraphForbidden("op", 403, "Authorization_RequestDenied", "Insufficient privileges"))
    with pytest.raises(GraphForbidden):
        run(Policy.AFTER_CREATE | Policy.IDEMPOTENT, script)
    assert script.calls == 1


def test_budget_ends_retries():
    errors = [GraphThrottled("op", 429, "x", "y", retry_after=1.0) for _ in range(50)]
    script = Script(*errors)
    with pytest.raises(GraphThrottled):
        run(Policy.THROTTLING, script, RetrySettings(throttling_budget_s=0.0))
    assert script.calls == 1


def test_alternate_key_builders_do_not_share_parameters():
    """Regression: msgraph's alternate-key builders mutate a shared dict (see gateway)."""
    from azure.core.credentials import AccessToken

    from kodo_provision.cloud import resolve_cloud
    from kodo_provision.graph.client import build_graph_client
    from kodo_provision.graph.gateway import GraphGateway

    class NoToken:
        def get_token(self, *scopes, **kwargs):
            return AccessToken("x", 0)

    client, http = build_graph_client(resolve_cloud("global"), NoToken(), ("https://graph.microsoft.com/.default",))
    gateway = GraphGateway(client)
    first, second = gateway.sp_builder("a"), gateway.sp_builder("b")
    assert first.path_parameters["appId"] == "a" and second.path_parameters["appId"] == "b"
    asyncio.run(http.aclose())


def test_ca_bundle_adds_to_the_default_trust_unless_only(tmp_path, monkeypatch):
    """Issue 15: --ca-bundle adds its CAs to the default trust (certifi's, which requests and httpx use);
    --ca-bundle-only trusts that file alone; the environment variables keep their usual (whole-trust) meaning."""
    import os
    import stat
    from pathlib import Path

    import certifi
    import trustme

    from kodo_provision.flows.session import resolve_ca_bundle

    extra = tmp_path / "proxy-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(extra))
    combined = resolve_ca_bundle(str(extra))
    assert combined != str(extra)
    text = Path(combined).read_text(encoding="utf-8")
    assert extra.read_text() in text and Path(certifi.where()).read_text(encoding="utf-8").strip() in text
    assert stat.S_IMODE(os.stat(combined).st_mode) == 0o600
    assert resolve_ca_bundle(str(extra), only=True) == str(extra)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(extra))
    assert resolve_ca_bundle(None) == str(extra)


def test_backoff_cap_grows_with_a_long_wait_but_not_a_short_one():
    """Past the cap, each wait may grow by a tenth of the time already waited (fewer polls of a lag that has
    lasted a while); the first ~10 s stay at the cap, so a short lag's overshoot does not grow."""
    from kodo_provision.graph.retry import jittered

    for _ in range(200):
        assert all(jittered(0.25, 1.0, a) <= 1.0 for a in range(1, 17))  # ~10 s
        assert jittered(0.25, 1.0, 60) >= 1.5  # ~43 s waited at the cap: ceiling ~4.3 s, at least half of it

    def polls_until(total_s: float) -> int:
        waited, polls = 0.0, 0
        while waited < total_s:
            polls += 1
            waited += jittered(0.25, 1.0, polls)
        return polls

    assert max(polls_until(90) for _ in range(50)) < 80  # a fixed 1 s cap: ~120 polls


def test_ews_goes_only_where_the_cloud_or_the_operator_says():
    from kodo_provision.cloud import resolve_cloud

    assert resolve_cloud("global").exchange_endpoint == "https://outlook.office365.com"
    assert resolve_cloud("usgov").exchange_endpoint is None  # no EWS host is assumed for another cloud
    # A custom authority's tokens are not for Microsoft's EWS host: no EWS unless its endpoint is named too.
    assert resolve_cloud("global", authority_host="https://127.0.0.1:9").exchange_endpoint is None
    named = resolve_cloud("global", authority_host="https://127.0.0.1:9", exchange_endpoint="https://127.0.0.1:9")
    assert named.exchange_endpoint == "https://127.0.0.1:9" and named.exchange_resource == "https://outlook.office365.com"
