"""National clouds and custom endpoints.

Sources: https://learn.microsoft.com/en-us/graph/deployments and
https://learn.microsoft.com/en-us/graph/sdks/national-clouds. App registrations exist per
cloud; the Graph *resource* (the scope prefix) is the cloud's Graph host even when requests
go elsewhere (a proxy, the simulator), so the two are kept apart here.
"""

from __future__ import annotations

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
                    "https://graph.microsoft.com", partner_center_endpoint="https://api.partnercenter.microsoft.com"),
    "usgov": Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us",
                   "https://graph.microsoft.us"),
    "usgov-dod": Cloud("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                       "https://dod-graph.microsoft.us"),
    "china": Cloud("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
                   "https://microsoftgraph.chinacloudapi.cn"),
}


def _https_url(value: str, flag: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname:
        raise UsageError(
            f"{flag} must be an https URL, got {value!r}",
            hint=f"use e.g. {flag} https://login.example.test (Entra ID and MSAL accept https only)",
        )
    return value.rstrip("/")


def resolve_cloud(name: str = "global", *, authority_host: str | None = None,
                  graph_endpoint: str | None = None, partner_center_endpoint: str | None = None) -> Cloud:
    """The cloud to use: a named national cloud, optionally with custom endpoints."""
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
    return cloud
