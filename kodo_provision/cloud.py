"""National clouds and custom endpoints.

Sources: https://learn.microsoft.com/en-us/graph/deployments and
https://learn.microsoft.com/en-us/graph/sdks/national-clouds. App registrations exist per
cloud; the Graph *resource* (the scope prefix) is the cloud's Graph host even when requests
go elsewhere (a proxy, the simulator), so the two are kept apart here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from urllib.parse import urlparse

from .errors import UsageError


@dataclass(frozen=True)
class Cloud:
    """Where to sign in and where Graph lives, for one national cloud."""

    name: str
    authority_host: str
    graph_endpoint: str
    graph_resource: str
    # MSAL skips instance discovery only for hosts it knows; a custom authority (the
    # simulator, a test proxy) must switch discovery off or MSAL calls the public cloud.
    known_authority: bool = True
    # Partner Center's API (CSP partners); the global cloud's only.
    # https://learn.microsoft.com/en-us/partner-center/developer/partner-center-rest-api-reference
    partner_center_endpoint: str | None = None
    # Exchange Online's EWS host (`verify --probe`); the global cloud's only: no other is assumed.
    # https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-authenticate-an-ews-application-by-using-oauth
    exchange_endpoint: str | None = None
    # The resource URI of Exchange Online's tokens (their `aud`), apart from where requests go, like Graph's.
    exchange_resource: str | None = None

    @property
    def graph_base_url(self) -> str:
        """Graph v1.0 root, without a trailing slash (kiota would double it)."""
        return self.graph_endpoint.rstrip("/") + "/v1.0"

    @property
    def graph_host(self) -> str:
        return urlparse(self.graph_endpoint).hostname or ""

    def graph_scope(self, name: str) -> str:
        """A fully qualified delegated Graph scope, e.g. https://graph.microsoft.us/User.Read."""
        return f"{self.graph_resource.rstrip('/')}/{name}"


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://login.microsoftonline.com", "https://graph.microsoft.com",
                    "https://graph.microsoft.com", partner_center_endpoint="https://api.partnercenter.microsoft.com",
                    exchange_endpoint="https://outlook.office365.com", exchange_resource="https://outlook.office365.com"),
    "usgov": Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us",
                   "https://graph.microsoft.us"),
    "usgov-dod": Cloud("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                       "https://dod-graph.microsoft.us"),
    "china": Cloud("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
                   "https://microsoftgraph.chinacloudapi.cn"),
}


def microsoft_hosts() -> frozenset[str]:
    """The sign-in, Graph and Partner Center hosts Microsoft documents for its clouds (the pages above)."""
    urls = [u for c in CLOUDS.values()
            for u in (c.authority_host, c.graph_endpoint, c.partner_center_endpoint, c.exchange_endpoint) if u]
    return frozenset(urlparse(u).hostname or "" for u in urls)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: this machine (the simulator)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token_destinations(cloud: Cloud, allowed: frozenset[str]) -> list[str]:
    """Refuse, before any request, an endpoint that would receive the admin's tokens unless it is one
    of Microsoft's documented hosts, loopback, or named with --allow-endpoint. Returns the hosts that
    only the allow list lets through (for the CLI to show before sign-in)."""
    opted_in = []
    for flag, url in (("--authority-host", cloud.authority_host), ("--graph-endpoint", cloud.graph_endpoint),
                      ("--partner-center-endpoint", cloud.partner_center_endpoint),
                      ("--exchange-endpoint", cloud.exchange_endpoint)):
        host = (urlparse(url).hostname or "").lower() if url else ""
        if not host or host in microsoft_hosts() or is_loopback(host):
            continue
        if host not in allowed:
            raise UsageError(
                f"refusing to send your Microsoft sign-in tokens to {host} ({flag}): it is not a Microsoft "
                "sign-in, Graph, Exchange or Partner Center host, nor this machine",
                hint=f"if you trust {host} with your admin token (e.g. your own TLS-inspecting gateway), name it: "
                     f"--allow-endpoint {host}")
        opted_in.append(host)
    return sorted(set(opted_in))


def _https_url(value: str, flag: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname:
        raise UsageError(
            f"{flag} must be an https URL, got {value!r}",
            hint=f"use e.g. {flag} https://login.example.test (Entra ID and MSAL accept https only)",
        )
    return value.rstrip("/")


def resolve_cloud(name: str = "global", *, authority_host: str | None = None,
                  graph_endpoint: str | None = None, partner_center_endpoint: str | None = None,
                  exchange_endpoint: str | None = None, allow_endpoints: frozenset[str] = frozenset()) -> Cloud:
    """The cloud to use: a named national cloud, optionally with custom endpoints, each of which must be
    Microsoft's, loopback or in `allow_endpoints` (check_token_destinations)."""
    try:
        cloud = CLOUDS[name]
    except KeyError:
        raise UsageError(f"unknown cloud {name!r}", hint=f"choose one of: {', '.join(CLOUDS)}") from None
    if authority_host:
        host = _https_url(authority_host, "--authority-host")
        cloud = replace(cloud, authority_host=host,
                        known_authority=host == cloud.authority_host)
    if graph_endpoint:
        cloud = replace(cloud, graph_endpoint=_https_url(graph_endpoint, "--graph-endpoint"))
    if partner_center_endpoint:
        cloud = replace(cloud, partner_center_endpoint=_https_url(partner_center_endpoint,
                                                                   "--partner-center-endpoint"))
    if exchange_endpoint:
        cloud = replace(cloud, exchange_endpoint=_https_url(exchange_endpoint, "--exchange-endpoint"))
    elif not cloud.known_authority:
        # Tokens of a custom authority (a simulator, a gateway) are not for Microsoft's EWS host: no EWS
        # request unless its endpoint is named too.
        cloud = replace(cloud, exchange_endpoint=None)
    check_token_destinations(cloud, frozenset(h.lower() for h in allow_endpoints))
    return cloud
