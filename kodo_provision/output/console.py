"""Human-readable rendering of plans and results (plain text; stable for tests and logs)."""

from __future__ import annotations

from ..flows.options import OnboardResult
from ..plan.model import Plan, Step

_SYMBOL = {"already present": "="}


def render_plan(plan: Plan, tenant_label: str) -> str:
    """The plan as a numbered list, or a one-line 'nothing to do'."""
    if plan.is_empty:
        return f"Plan for {tenant_label}: nothing to change; the tenant matches the manifest.\n"
    lines = [f"Plan for {tenant_label}: {len(plan.steps)} change(s)"]
    lines += [f"  {i:>2}. {step.marker} {step.describe()}" for i, step in enumerate(plan.steps, 1)]
    lines += [f"  note: {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


def render_step(step: Step, status: str) -> str:
    """An applied step: its change marker (+ ~ -) when done, "=" when it was already there."""
    symbol = step.marker if status == "done" else _SYMBOL.get(status, "*")
    return f"  {symbol} {step.describe()}" + ("" if status == "done" else f" ({status})")


_PROBE_MARK = {"ok": "ok", "not_probed": "WARN"}


def render_result(result: OnboardResult, *, show_secret: str | None = None) -> str:
    """The hand-off summary: the three strings KODO needs (secret only on request)."""
    verification = result.verification
    lines = [
        "",
        f"Tenant        {result.tenant_name} ({result.tenant_id})",
        f"Signed in as  {result.signed_in_as}",
        f"Client ID     {result.client_id}",
        f"App object    {result.app_object_id}",
        f"Service princ {result.service_principal_id}",
    ]
    if getattr(result, "credential_type", "secret") == "certificate":  # issue 8: no secret, a key file
        state = "new" if result.secret_created else "unchanged"
        lines.append(f"Certificate   {state}, thumbprint {result.certificate_thumbprint}, key {result.secret_key_id}, "
                     f"expires {result.secret_expires_at}")
    elif result.secret_created:
        lines.append(f"Secret        new, key {result.secret_key_id}, expires {result.secret_expires_at}")
    elif result.secret_key_id:
        lines.append(f"Secret        unchanged, key {result.secret_key_id}, expires {result.secret_expires_at}")
    if show_secret:
        lines.append(f"Client secret {show_secret}")
    lines.append(f"Credentials   {result.credentials_path} (mode 0600)")
    if getattr(result, "audit_path", None):  # issue 8: who changed what, no secrets
        lines.append(f"Audit record  {result.audit_path} (mode 0600)")
    if verification is not None:
        lines.append("Verification  " + ("passed" if verification.ok else "FAILED"))
        lines.append(f"  {'ok' if verification.replan.is_empty else 'FAIL'}  re-plan is empty")
        for check in verification.permissions:
            lines.append(f"  {'ok' if check.granted else 'FAIL'}  {check.resource} / {check.permission} "
                         "(in the app-only token's roles)")
        lines += [f"  FAIL  {e}" for e in verification.token_errors]
        lines += [f"  {_PROBE_MARK.get(p.state, 'FAIL')}  probe {p.name}: {p.api}: {p.detail}"
                  + (f" -> {p.action}" if p.action and p.state != "ok" else "") for p in verification.probes]
    lines += [f"Note          {n}" for n in result.notes]
    return "\n".join(lines) + "\n"
