"""The fleet status page (output/fleet_status.py): customer-controlled text is escaped, states and expiry
are derived from the health report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from kodo_provision.bulk.report import FAILED, SUCCEEDED, TenantOutcome
from kodo_provision.output.fleet_status import render_status_html, status_payload

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _outcome(tenant: str, name: str, expires_in_days: int | None, probes: list[dict]) -> TenantOutcome:
    expires = (NOW + timedelta(days=expires_in_days)).isoformat() if expires_in_days is not None else None
    health = {"checks": [{"name": "app", "status": "pass", "message": "ok"}], "probes": probes,
              "credential_expires_at": expires}
    return TenantOutcome(tenant, 1, SUCCEEDED, tenant_name=name, health=health)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes |= {name for name, _ in attrs}


def test_customer_text_is_escaped_and_nothing_is_loaded_from_elsewhere():
    evil = '<script>alert("x")</script>" onmouseover="alert(1)'
    tenant = "a.onmicrosoft.com\" onclick=\"alert(2)"
    probe = {"name": "mail", "api": "Microsoft Graph", "state": "blocked", "detail": evil, "action": evil}
    page = render_status_html(status_payload([_outcome(tenant, evil, 200, [probe])], now=NOW,
                                             manifest_version="1", source="t.csv"))
    elements = _Elements()
    elements.feed(page)
    assert "script" not in elements.tags
    assert not elements.attributes & {"onmouseover", "onclick"}, "no attribute breakout"
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def test_states_follow_expiry_failures_and_reachability():
    ok = {"name": "directory", "api": "Microsoft Graph", "state": "ok", "detail": "", "action": ""}
    unreachable = TenantOutcome("c.onmicrosoft.com", 3, FAILED, error="no credentials file", hint="onboard it")
    payload = status_payload([_outcome("a.onmicrosoft.com", "A", 200, [ok]), _outcome("b.onmicrosoft.com", "B", 10,
                              [ok]), unreachable], now=NOW, manifest_version="1", source="t.csv")
    assert [t["state"] for t in payload["tenants"]] == ["healthy", "attention", "unreachable"]
    assert payload["tenants"][1]["credential"]["days_left"] == 10
    assert payload["summary"] == {"total": 3, "healthy": 1, "attention": 1, "unreachable": 1}
    page = render_status_html(payload)
    assert 'data-tenant="b.onmicrosoft.com" data-state="attention" data-expires="2026-12-17"' in page
    assert "no credentials file" in page and "onboard it" in page
