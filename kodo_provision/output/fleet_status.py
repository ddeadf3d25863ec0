"""The fleet status of `bulk --status`: per tenant the credential's expiry, drift against the manifest and the
data-access probes, as status.json (for scripts) and status.html (one self-contained page: no script, no CDN,
no external font or image; a table and a credential-expiry timeline)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from ..credentials.store import write_private_file
from ..flows.verify import EXPIRY_WARNING

STATUS_JSON, STATUS_HTML = "status.json", "status.html"
DRIFT_CHECKS = ("required_resource_access", "service_principal", "application_permission", "delegated_scope",
                "resource_service_principal", "extra_permission", "app")
HEALTHY, ATTENTION, UNREACHABLE = "healthy", "attention", "unreachable"
SOON = EXPIRY_WARNING  # verify's: WARN inside 30 days


def tenant_status(outcome: Any, now: datetime) -> dict[str, Any]:
    """One tenant's entry, from its bulk outcome (health report or error)."""
    health = outcome.health or {}
    checks = health.get("checks") or []
    expires = health.get("credential_expires_at")
    days_left = (datetime.fromisoformat(expires) - now).days if expires else None
    probes = health.get("probes") or []
    drift = [c["message"] for c in checks if c["name"] in DRIFT_CHECKS and c["status"] != "pass"]
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    state = UNREACHABLE if not health else (HEALTHY if not failed and not drift and (
        days_left is None or days_left > SOON.days) else ATTENTION)
    return {"tenant": outcome.tenant, "tenant_id": outcome.tenant_id, "tenant_name": outcome.tenant_name,
            "client_id": outcome.client_id, "state": state,
            "credential": {"expires_at": expires, "days_left": days_left}, "drift": drift, "probes": probes,
            "failed_checks": sorted(set(failed)), "error": None if health else outcome.error,
            "hint": None if health else outcome.hint}


def status_payload(outcomes: list[Any], *, now: datetime, manifest_version: str, source: str) -> dict[str, Any]:
    """status.json: every tenant of the file, in the file's order."""
    tenants = [tenant_status(o, now) for o in outcomes]
    counts = {s: sum(t["state"] == s for t in tenants) for s in (HEALTHY, ATTENTION, UNREACHABLE)}
    return {"schema_version": 1, "generated_at": now.isoformat(), "manifest_version": manifest_version,
            "tenants_file": source, "summary": {"total": len(tenants), **counts}, "tenants": tenants}


def write_status(out_dir: Path, payload: dict[str, Any]) -> tuple[Path, Path]:
    """status.json and status.html in `out_dir`, each replaced atomically (0600: they name the tenants)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / STATUS_JSON, out_dir / STATUS_HTML
    write_private_file(paths[0], (json.dumps(payload, indent=2, default=str) + "\n").encode("utf-8"))
    write_private_file(paths[1], render_status_html(payload).encode("utf-8"))
    return paths


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #ccc;padding:.35rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f3f3f3}.state-healthy{color:#0a6b2d}
.state-attention{color:#9a5b00}.state-unreachable{color:#a4262c}.probe{display:inline-block;margin:.1rem;
padding:.05rem .4rem;border-radius:.6rem;font-size:.8rem}.probe-ok{background:#dff6dd}.probe-blocked,
.probe-missing,.probe-error{background:#fde7e9}.probe-not_probed{background:#fff4ce}.soon{color:#a4262c;
font-weight:600}small{color:#555}"""
_PROBE_LABEL = {"ok": "ok", "blocked": "blocked", "missing": "missing", "not_probed": "not probed",
                "error": "error"}


def render_status_html(payload: dict[str, Any]) -> str:
    """The whole page; every value from the tenants is HTML-escaped (display names come from customers)."""
    summary = payload["summary"]
    head = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>KODO fleet status</title>"
            f"<style>{_CSS}</style></head><body><h1>KODO fleet status</h1>"
            f"<p>Generated {escape(payload['generated_at'][:16].replace('T', ' '))} UTC · manifest "
            f"{escape(payload['manifest_version'])} · {summary['total']} tenant(s): {summary['healthy']} healthy, "
            f"{summary['attention']} need attention, {summary['unreachable']} unreachable</p>")
    rows = "".join(_row(t) for t in payload["tenants"])
    table = ("<h2>Tenants</h2><table id=\"tenants\"><thead><tr><th>Tenant</th><th>State</th><th>Credential "
             "expires</th><th>Drift</th><th>Data access (probes)</th></tr></thead><tbody>" + rows + "</tbody></table>")
    now = datetime.fromisoformat(payload["generated_at"])
    return head + table + "<h2>Credential expiry</h2>" + _timeline(payload["tenants"], now) + "</body></html>\n"


def _row(t: dict[str, Any]) -> str:
    cred = t["credential"]
    expires = (cred["expires_at"] or "")[:10]
    days = cred["days_left"]
    soon = " class=\"soon\"" if days is not None and days <= SOON.days else ""
    when = f"<span{soon}>{escape(expires)}</span> <small>({days} days)</small>" if expires else "—"
    drift = "<br>".join(escape(d) for d in t["drift"]) or "none"
    probes = " ".join(_probe_badge(p) for p in t["probes"])
    if t["error"]:
        probes = f"<small>{escape(t['error'])}{' — ' + escape(t['hint']) if t['hint'] else ''}</small>"
    name = escape(t["tenant_name"] or t["tenant"])
    return (f"<tr data-tenant=\"{escape(t['tenant'])}\" data-state=\"{t['state']}\" data-expires=\"{escape(expires)}\">"
            f"<td>{name}<br><small>{escape(t['tenant'])}<br>{escape(t['tenant_id'] or '')}</small></td>"
            f"<td class=\"state-{t['state']}\">{t['state']}</td><td>{when}</td><td>{drift}</td><td>{probes}</td></tr>")


def _probe_badge(p: dict[str, Any]) -> str:
    """A probe's state; its detail and the admin's fix in the tooltip."""
    tip = p["detail"] + (f" -> {p['action']}" if p.get("action") else "")
    return (f"<span class=\"probe probe-{escape(p['state'])}\" data-probe=\"{escape(p['name'])}\" "
            f"data-state=\"{escape(p['state'])}\" title=\"{escape(tip)}\">"
            f"{escape(p['name'])}: {_PROBE_LABEL.get(p['state'], escape(p['state']))}</span>")


def _timeline(tenants: list[dict[str, Any]], now: datetime) -> str:
    """An inline SVG: one bar per tenant from today to its credential's expiry, ticks every month."""
    dated = sorted(((datetime.fromisoformat(t["credential"]["expires_at"]), t) for t in tenants
                    if t["credential"]["expires_at"]), key=lambda pair: pair[0])
    if not dated:
        return "<p>No credential expiry dates known.</p>"
    span_days = max(365, (dated[-1][0] - now).days + 30)
    width, left, row = 900, 260, 18

    def x(when: datetime) -> float:
        return left + max(0.0, (when - now).days) * (width - left - 10) / span_days

    ticks = "".join(
        f"<line x1=\"{x(m):.1f}\" y1=\"0\" x2=\"{x(m):.1f}\" y2=\"{len(dated) * row + 4}\" stroke=\"#ddd\"/>"
        f"<text x=\"{x(m) + 2:.1f}\" y=\"{len(dated) * row + 16}\" font-size=\"10\">{m:%Y-%m}</text>"
        for m in _month_starts(now, now + timedelta(days=span_days)))
    bars = "".join(
        f"<g data-tenant=\"{escape(t['tenant'])}\" data-expires=\"{when:%Y-%m-%d}\"><text x=\"0\" y=\"{i * row + 13}\" "
        f"font-size=\"11\">{escape(t['tenant'][:38])}</text><rect x=\"{left}\" y=\"{i * row + 3}\" "
        f"width=\"{max(1.0, x(when) - left):.1f}\" height=\"12\" fill=\"{_colour(t['credential']['days_left'])}\">"
        f"<title>{escape(t['tenant'])}: expires {when:%Y-%m-%d}</title></rect></g>"
        for i, (when, t) in enumerate(dated))
    height = len(dated) * row + 24
    return (f"<svg id=\"expiry-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" "
            f"role=\"img\" aria-label=\"credential expiry per tenant\">{ticks}{bars}</svg>")


def _month_starts(start: datetime, end: datetime) -> list[datetime]:
    """The first day of each month after `start` up to `end`: one tick and label per month."""
    months: list[datetime] = []
    year, month = start.year, start.month
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        first = start.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
        if first > end:
            return months
        months.append(first)


def _colour(days_left: int | None) -> str:
    if days_left is None or days_left > 90:
        return "#5b9e4d"
    return "#d28c00" if days_left > SOON.days else "#c4314b"
