"""Text rendering for the lifecycle commands (verify, rotate-secret, offboard)."""

from __future__ import annotations

from typing import Any

_MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


def render_identity(tenant_name: str, tenant_id: str, app: Any) -> list[str]:
    """The header every lifecycle command prints: which tenant, which app (matched by uniqueName)."""
    lines = [f"Tenant        {tenant_name} ({tenant_id})",
             f"App           {app.display_name!r} (uniqueName {app.unique_name})"]
    if app.client_id:
        lines += [f"Client ID     {app.client_id}", f"App object    {app.app_object_id}",
                  f"Service princ {app.service_principal_id or '(none)'}"]
    else:
        lines.append("              not present in the tenant")
    return lines


def render_health(report: Any) -> str:
    lines = render_identity(report.tenant_name, report.tenant_id, report.app)
    if report.credentials_path:
        lines.append(f"Credentials   {report.credentials_path}")
    lines.append("Checks")
    lines += [f"  {_MARK[c.status]}  {c.name}: {c.message}" for c in report.checks]
    warnings = sum(c.status == "warn" for c in report.checks)
    summary = "passed" if report.ok else f"FAILED ({len(report.failed)} failed)"
    lines.append(f"Verification  {summary}" + (f", {warnings} warning(s)" if warnings else ""))
    return "\n".join(lines) + "\n"
