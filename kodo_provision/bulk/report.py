"""Per-tenant outcomes and the report files (report.json, report.csv). They never hold a secret."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..credentials.store import write_private_file

REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
SUCCEEDED, FAILED, PLANNED, PENDING = "succeeded", "failed", "planned", "pending"
CSV_COLUMNS = ("tenant", "status", "tenant_id", "tenant_name", "client_id", "changes", "verification", "error",
               "hint", "duration_s", "signed_in_via", "credential_type", "credentials_file")


@dataclass
class TenantOutcome:
    """What happened to one tenant of the file."""

    tenant: str
    line: int
    status: str = PENDING
    tenant_id: str | None = None
    tenant_name: str | None = None
    client_id: str | None = None
    app_object_id: str | None = None
    service_principal_id: str | None = None
    credentials_file: str | None = None
    secret_created: bool = False
    secret_key_id: str | None = None
    credential_type: str | None = None  # secret | certificate
    certificate_thumbprint: str | None = None
    changes: list[str] = field(default_factory=list)
    already_present: int = 0
    verification: str | None = None  # passed | failed | None (not reached)
    verification_detail: dict[str, Any] | None = None
    plan: list[str] | None = None
    error: str | None = None
    hint: str | None = None
    error_type: str | None = None
    exit_status: int | None = None
    duration_s: float | None = None
    signed_in_via: str | None = None  # operator | per-tenant sign-in
    signed_in_as: str | None = None
    run_id: str | None = None
    orphan_secrets_removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The partner's sign-in app consented in this customer through Partner Center (its client ID): left
    # there by the tool; `kodo-provision partner-app remove-consent --tenant T` removes it.
    partner_consent: str | None = None
    # Where the sign-in client is not consented (AADSTS65001) and no Partner Center route exists: the URL a
    # tenant admin opens once to consent.
    admin_consent_url: str | None = None
    # bulk --status: the tenant's health report (flows/verify.HealthReport.to_dict(), probes included).
    health: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TenantOutcome:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def csv_row(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant, "status": self.status, "tenant_id": self.tenant_id or "",
            "tenant_name": self.tenant_name or "", "client_id": self.client_id or "",
            "changes": "; ".join(self.changes), "verification": self.verification or "",
            "error": self.error or "", "hint": self.hint or "",
            "duration_s": "" if self.duration_s is None else f"{self.duration_s:.1f}",
            "signed_in_via": self.signed_in_via or "", "credential_type": self.credential_type or "",
            "credentials_file": self.credentials_file or "",
        }


def summarize(outcomes: list[TenantOutcome]) -> dict[str, int]:
    counts = {"total": len(outcomes), SUCCEEDED: 0, FAILED: 0, PLANNED: 0, PENDING: 0}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def _atomic_write(path: Path, text: str) -> None:
    # Reports hold no secret, but they are written the same safe way (0600, atomic, fsync).
    write_private_file(path, text.encode("utf-8"))


def report_payload(outcomes: list[TenantOutcome], *, tenants_file: str, mode: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "generated_at": datetime.now(UTC).isoformat(),
        "tenants_file": tenants_file,
        "mode": mode,
        "summary": summarize(outcomes),
        "tenants": [o.to_dict() for o in outcomes],
    }


# A cell a spreadsheet would evaluate as a formula (OWASP "CSV Injection"): tenant display names and
# error texts come from the customer's directory. https://owasp.org/www-community/attacks/CSV_Injection
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell starting like a formula gets a leading apostrophe, which spreadsheets show as text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_reports(out_dir: Path, outcomes: list[TenantOutcome], *, tenants_file: str, mode: str = "apply") -> None:
    """report.json (everything) and report.csv (one line per tenant), each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = report_payload(outcomes, tenants_file=tenants_file, mode=mode)
    _atomic_write(out_dir / REPORT_JSON, json.dumps(payload, indent=2, default=str) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow({k: spreadsheet_safe(v) for k, v in outcome.csv_row().items()})
    _atomic_write(out_dir / REPORT_CSV, buffer.getvalue())


def read_report(out_dir: Path) -> dict[str, TenantOutcome]:
    """The previous report's outcomes by tenant ({} when there is none)."""
    try:
        data = json.loads((out_dir / REPORT_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {t["tenant"]: TenantOutcome.from_dict(t) for t in data.get("tenants", [])}
