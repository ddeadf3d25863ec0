"""What every lifecycle command shares: the app it addresses, and one read of the tenant."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import environment
from ..auth import AUTOMATION_APP_ROLES
from ..errors import note_interruption
from ..graph.gateway import Organization
from ..manifest.resolve import DesiredState
from ..output.logging import get_logger
from ..state.model import TenantState
from .journal import RunJournal, settle_abandoned_runs
from .options import OnboardOptions
from .record import AuditTrail, audit_path, begin_journal
from .roles import check_app_roles
from .session import TenantSession

log = get_logger("kodo_provision.flows")


@dataclass(frozen=True)
class AppIdentity:
    """The matched app's IDs, shown in every command's output (None where it does not exist)."""

    unique_name: str
    display_name: str
    client_id: str | None = None
    app_object_id: str | None = None
    service_principal_id: str | None = None

    @classmethod
    def of(cls, desired: DesiredState, actual: TenantState) -> AppIdentity:
        app, sp = actual.application, actual.service_principal
        return cls(desired.unique_name, app.display_name if app else desired.display_name,
                   app.app_id if app else None, app.id if app else None, sp.id if sp else None)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TenantView:
    """One read of a tenant: who it is, what the manifest wants, what it holds."""

    org: Organization
    desired: DesiredState
    actual: TenantState

    @property
    def identity(self) -> AppIdentity:
        return AppIdentity.of(self.desired, self.actual)


# What the operator's automation app needs, per command that changes the tenant (checked from its
# token before any request; a user's admin role is checked by Graph itself on the first write).
ROTATE_APP_ROLES = ("Application.ReadWrite.All", "Organization.Read.All")
OFFBOARD_APP_ROLES = AUTOMATION_APP_ROLES


async def read_view(session: TenantSession, options: OnboardOptions, *,
                    app_roles: tuple[str, ...] = ()) -> TenantView:
    """One read of the tenant; with the operator's automation app, first check `app_roles`."""
    if session.app_caller is not None and app_roles:
        check_app_roles(session.app_caller, app_roles)
    org = await session.gateway.organization()
    desired, actual = await session.read(options.manifest, options)
    return TenantView(org, desired, actual)


def begin_record(session: TenantSession, view: TenantView, options: OnboardOptions, *, command: str, run_id: str,
                 started: datetime, near: Path) -> RunJournal:
    """The audit record of a lifecycle run that is about to change the tenant: on disk (status running,
    run_journal.py) before its first change, next to `near` (the credentials file)."""
    trail = AuditTrail(run_id, started, [])
    trail.signed_in_upn = session.signed_in_as
    for settled in settle_abandoned_runs(run_id):
        log.info("audit.settled_interrupted_run", path=str(settled))
    return begin_journal(trail, record=f"kodo-provision {command}", tenant=options.tenant, tenant_id=view.org.id,
                         tenant_name=view.org.display_name, app=view.identity.to_dict(),
                         path=audit_path(near, options.tenant, started, run_id))


@contextlib.contextmanager
def recorded(journal: RunJournal) -> Iterator[RunJournal]:
    """Finish `journal` with the run's outcome: succeeded, failed (with the error) or interrupted."""
    try:
        yield journal
    except (asyncio.CancelledError, KeyboardInterrupt):
        journal.finish(_final(journal, "interrupted", "interrupted by the operator"))
        note_interruption(f"audit record {journal.path}")
        raise
    except Exception as exc:
        one_line = getattr(exc, "one_line", None)
        journal.finish(_final(journal, "failed", one_line() if callable(one_line) else type(exc).__name__))
        raise
    journal.finish(_final(journal, "succeeded", None))


def _final(journal: RunJournal, status: str, error: str | None) -> dict[str, Any]:
    record = {**journal.record, "status": status, "finished_at": environment.clock().now().isoformat()}
    record.pop("updated_at", None)
    if error is not None:
        record["error"] = error
    return record
