"""Issue 18: `bulk --status` reports per tenant credential expiry, drift and data-access probes as status.json
and a self-contained status.html, parsed here like a browser would."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from .conftest import PARTNER, customer, many_tenants, start

REPO = Path(__file__).parents[2]


class StatusPage(HTMLParser):
    """Rows (data-tenant, data-state, data-expires), their probe badges, the timeline bars, and any URL."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.bars: dict[str, str] = {}
        self.urls: list[str] = []
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag in ("script", "link", "img", "iframe"):
            self.urls.append(f"<{tag}>")
        if tag == "tr" and a.get("data-tenant"):
            self._row = a["data-tenant"]
            self.rows[self._row] = {"state": a["data-state"], "expires": a["data-expires"], "probes": {}}
        elif tag == "span" and a.get("data-probe") and self._row:
            self.rows[self._row]["probes"][a["data-probe"]] = a["data-state"]
        elif tag == "g" and a.get("data-tenant"):
            self.bars[a["data-tenant"]] = a["data-expires"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None


def test_fleet_status_page_shows_expiry_and_probe_states_per_tenant(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(6)]
    tenants_file = tmp_path / "t.csv"
    # customer000 keeps the seed profile (EWS: blocked by default); customer003's secret expires in 20 days.
    rows = {0: f",{REPO / 'manifests' / 'kodo.yaml'},", 3: ",,20d"}
    tenants_file.write_text("tenant,manifest,secret_lifetime\n" + "".join(
        f"{t}{rows.get(i, ',,')}\n" for i, t in enumerate(tenants)))
    with start(many_tenants(6)) as sim:
        bulk_run(sim, str(tenants_file), "--out", "out", "--yes", "--manifest", "kodo-graph")
        out = tmp_path / "out"
        sim.update_tenant(tenants[1], sharepoint=False)
        sim.update_tenant(tenants[2], exchange={"app_scope_excludes": [f"admin@{tenants[2]}"]})
        (out / f"kodo-credentials-{tenants[4]}.json").unlink()
        state = sim.tenant(tenants[5]).dump()
        mail_role = next(r["id"] for s in state["servicePrincipals"] if s["displayName"] == "Microsoft Graph"
                         for r in s["appRoles"] if r["value"] == "Mail.ReadWrite")
        sim.tenant(tenants[5]).delete_app_role_assignment(
            next(a["id"] for a in state["appRoleAssignments"] if a["appRoleId"] == mail_role))

        sim.clear_request_log()
        run = bulk_run(sim, str(tenants_file), "--out", "out", "--manifest", "kodo-graph", "--status",
                       "--exchange-endpoint", sim.url, expect=8)
        assert "status.html" in run.out
        writes = [f"{r.method} {r.path}" for r in sim.request_log if r.kind in ("graph", "partner")
                  and r.method in ("POST", "PATCH", "DELETE", "PUT") and "$batch" not in r.path]
        assert writes == [], "--status changes nothing"

    page = StatusPage()
    page.feed((out / "status.html").read_text())
    assert page.urls == [], "self-contained: no script, stylesheet, image or link"
    assert set(page.rows) == set(tenants)
    expires = {t: json.loads((out / f"kodo-credentials-{t}.json").read_text())["secret_expires_at"][:10]
               for t in tenants if t != tenants[4]}
    for tenant, day in expires.items():
        assert page.rows[tenant]["expires"] == day == page.bars[tenant], tenant
    assert tenants[4] not in page.bars and page.rows[tenants[4]]["state"] == "unreachable"
    graph_ok = {"directory": "ok", "mail": "ok", "mailbox_export": "ok", "onedrive": "ok", "sharepoint": "ok"}
    assert page.rows[tenants[0]]["probes"] == {"directory": "ok", "mail": "ok", "onedrive": "ok", "sharepoint": "ok",
                                               "ews": "blocked", "azure_ad_graph": "not_probed"}
    assert page.rows[tenants[1]]["probes"] == graph_ok | {"onedrive": "blocked", "sharepoint": "blocked"}
    assert page.rows[tenants[2]]["probes"] == graph_ok | {"mail": "blocked", "mailbox_export": "blocked"}
    assert page.rows[tenants[3]]["probes"] == graph_ok and page.rows[tenants[3]]["state"] == "attention"
    assert page.rows[tenants[5]]["probes"] == graph_ok | {"mail": "missing"}
    status = json.loads((out / "status.json").read_text())
    by_tenant = {t["tenant"]: t for t in status["tenants"]}
    assert any("Mail.ReadWrite" in d for d in by_tenant[tenants[5]]["drift"])
    assert by_tenant[tenants[3]]["credential"]["days_left"] in (19, 20)
    assert status["summary"] == {"total": 6, "healthy": 0, "attention": 5, "unreachable": 1}


def test_status_of_a_partner_without_its_sign_in_app_changes_nothing_and_says_why(bulk_run, tmp_path):
    """--status is read-only on the partner route too: no sign-in app is set up, no consent pushed."""
    tenants = [customer(i) for i in range(2)]
    tenants_file = tmp_path / "t.csv"
    tenants_file.write_text("tenant\n" + "".join(f"{t}\n" for t in tenants))
    with start(many_tenants(2)) as sim:
        bulk_run(sim, str(tenants_file), "--out", "out", "--yes")
        (tmp_path / "config" / "kodo-provision" / "partner-sign-in.json").unlink()  # another admin's machine
        partner_app = next(a for a in sim.tenant(PARTNER).dump()["applications"]
                           if a.get("uniqueName") == "kodo-provisioning-partner-signin")
        sim.tenant(PARTNER).delete_application(partner_app["id"])  # and nobody set the app up yet
        sim.clear_request_log()
        run = bulk_run(sim, str(tenants_file), "--out", "out", "--status", "--output", "json", expect=8)
        writes = [f"{r.kind} {r.method} {r.path}" for r in sim.request_log if r.kind in ("graph", "partner")
                  and r.method in ("POST", "PATCH", "DELETE", "PUT") and "$batch" not in r.path]
        assert writes == []
    status = json.loads(run.out)
    assert [t["state"] for t in status["tenants"]] == ["unreachable", "unreachable"]
    assert "not consented in this customer" in status["tenants"][0]["error"]
