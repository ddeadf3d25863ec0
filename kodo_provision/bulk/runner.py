"""Run the per-tenant onboarding flow for many tenants at once.

Each tenant is one unit of work: `flows.onboard.onboard_tenant` (the same flow as `onboard`), run
under a semaphore so N tenants are in flight. A tenant's own steps stay in order, its throttling
is absorbed by that tenant's retry policies (graph/retry.py), and any failure is caught at the
tenant boundary and reported, so one slow or failing tenant never stalls or stops the others.

Crash safety: before a tenant's first change the journal records the run ID that names any
secret the attempt adds; the credentials file is written as soon as a secret exists (the flow does
that). After a crash, the next attempt for that tenant converges (the flow is idempotent) and
then removes the secrets that interrupted attempts added but never handed off.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import secrets as pysecrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import environment
from ..apply.secret import MARKER_PREFIX
from ..auth import ADMIN_SCOPES, SignedInUser
from ..credentials.store import default_credentials_path, read_credentials
from ..errors import KodoError, SignInError, UsageError, clip
from ..flows.onboard import onboard_tenant
from ..flows.options import OnboardOptions, OnboardResult
from ..flows.session import ConnectionSettings, open_session_with_credential
from ..manifest.model import Manifest
from ..output.logging import get_logger, redact_text
from ..partner.route import PROBE_SETS, NoRelationship, NotACustomer, PartnerRoute
from ..partner.signin_app import PartnerApp, forget, remembered
from .journal import Journal, JournalState
from .partner_setup import GDAP_SCOPE, open_partner_route, read_gdap_roles
from .report import FAILED, PLANNED, SUCCEEDED, TenantOutcome
from .signin import AutomationAppAccess, OperatorSignIn, TenantAccess
from .tenants import TenantRow

log = get_logger("kodo_provision.bulk")
DEVICE_CODE, PER_TENANT_DEVICE_CODE = "device-code", "per-tenant-device-code"
APP_METHODS = ("client-secret", "certificate")  # the operator's automation app


@dataclass(frozen=True)
class BulkOptions:
    """Choices that apply to every tenant of the run."""

    out_dir: Path
    manifest: Manifest
    concurrency: int = 16
    auth: str = DEVICE_CODE
    home_tenant: str = "organizations"
    plan_only: bool = False
    verify_budget_s: float = 180.0
    credential_type: str = "secret"  # a row's `credential` column overrides it
    pfx_password: str | None = field(default=None, repr=False)  # certificates: also write a PFX
    all_customers: bool = False  # the rows are the partner's customers (Partner Center), not a file
    partner_center: bool = True  # a CSP partner's customers are reached through Partner Center consent
    # Revoke what the manifest does not list (a fleet moving to another profile, issue 18).
    prune: bool = False
    # A new pass over a folder whose earlier run finished: its credentials files are reused (journal.py).
    new_pass: bool = False
    # --status: read-only; per tenant the health report with probes (credentials from out_dir).
    status_only: bool = False
    @property
    def read_only(self) -> bool:
        """--plan and --status change nothing: no partner app set-up, no consent push, no onboarding."""
        return self.plan_only or self.status_only

    # Which of the resolved rows run (--resume / --only-failed); None: all.
    select_rows: Callable[[list[TenantRow]], list[TenantRow]] | None = field(default=None, compare=False)


class Reporter:
    """What the runner tells the presentation layer (progress display)."""

    def __init__(self, started: Callable[[str], None], finished: Callable[[TenantOutcome], None],
                 prompt_stream: Callable[[str | None], Any], total: Callable[[int], None] = lambda n: None,
                 signed_in: Callable[[], None] = lambda: None) -> None:
        self.started, self.finished, self.prompt_stream = started, finished, prompt_stream
        self.total = total  # how many tenants run, once known
        self.signed_in = signed_in  # the operator signed in: changes (e.g. the partner sign-in app) may follow


def _fill_from_result(outcome: TenantOutcome, result: OnboardResult) -> None:
    outcome.tenant_id = result.tenant_id
    outcome.tenant_name = result.tenant_name
    outcome.signed_in_as = result.signed_in_as
    outcome.client_id = result.client_id
    outcome.app_object_id = result.app_object_id
    outcome.service_principal_id = result.service_principal_id
    outcome.credentials_file = str(result.credentials_path) if result.credentials_path else None
    outcome.secret_created = result.secret_created
    outcome.secret_key_id = result.secret_key_id
    outcome.credential_type = result.credential_type
    outcome.certificate_thumbprint = result.certificate_thumbprint
    outcome.changes = list(result.applied)
    outcome.already_present = len(result.already_present)
    outcome.notes = [*outcome.notes, *result.notes]
    if result.verification is not None:
        outcome.verification = "passed" if result.verification.ok else "failed"
        outcome.verification_detail = result.verification.to_dict()


SETUP_STEP = "+ create the partner sign-in app in the partner tenant (once for every customer)"
CONSENT_STEP = "+ consent the partner sign-in app in this customer through Partner Center (your GDAP role)"
LATER_STEP = "then onboarding: its plan is shown once the app is consented here (run without --plan first)"


class ConsentPlanned(Exception):
    """--plan of a partner customer that the sign-in app cannot reach yet: what would happen first."""

    def __init__(self, *steps: str) -> None:
        super().__init__(steps)
        self.steps = list(steps)


def _fail(outcome: TenantOutcome, exc: KodoError) -> None:
    outcome.status = FAILED
    outcome.error = exc.summary + (f" ({exc.detail})" if exc.detail else "")
    outcome.hint = exc.hint
    outcome.error_type = type(exc).__name__
    outcome.exit_status = int(exc.exit_status)


class BulkRunner:
    """One bulk run over a list of tenants."""

    def __init__(self, settings: ConnectionSettings, options: BulkOptions, reporter: Reporter,
                 journal: Journal | None, previous: JournalState | None = None) -> None:
        self.settings = settings
        self.options = options
        self.reporter = reporter
        self.journal = journal
        self.previous = previous or JournalState()
        self._tenant_ids: dict[str, str] = {}  # resolved tenant ID -> the row that claimed it
        self._cleaned: dict[str, list[str]] = {}  # tenant -> interrupted run IDs cleaned up this run
        self.partner: PartnerRoute | None = None
        self._remembered: PartnerApp | None = None
        self._first_partner_plan = False  # --plan of a partner whose sign-in app is not set up yet
        self.rows: list[TenantRow] = []  # every row of the run (the file's, or the partner's customers)
        self.operator: OperatorSignIn | AutomationAppAccess
        if settings.auth.app_identity:
            self.operator = AutomationAppAccess(settings)
        else:
            self._remembered = remembered(settings.cloud.authority_host, options.home_tenant) \
                if options.partner_center else None
            self.operator = self._operator(self._remembered.client_id, self._remembered.tenant_id) \
                if self._remembered else self._operator(None)

    def _operator(self, client_id: str | None, home_tenant: str | None = None) -> OperatorSignIn:
        """The operator's sign-in (the partner's own sign-in app when one is known). The app signs in at
        its own tenant: at 'organizations' a user of another tenant would be asked to consent it there."""
        return OperatorSignIn(
            self.settings, home_tenant or self.options.home_tenant, prompt=self.reporter.prompt_stream(None),
            prompt_for=self.reporter.prompt_stream if self.options.auth == PER_TENANT_DEVICE_CODE else None,
            client_id=client_id, extra_scopes=(GDAP_SCOPE,) if self.options.partner_center else ())

    def _record(self, event: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.append(event, **fields)

    async def run(self, rows: list[TenantRow]) -> list[TenantOutcome]:
        """Sign the operator in once (a failure here raises: nothing was touched), then every tenant."""
        loop = asyncio.get_running_loop()
        # Sign-in, token refreshes and app-token checks run in threads; give each tenant in flight one.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=max(32, 2 * self.options.concurrency + 4),
                                                     thread_name_prefix="kodo-bulk"))
        user = await self._start()
        self.reporter.signed_in()
        if isinstance(self.operator, OperatorSignIn) and self.options.partner_center and self.options.read_only \
                and remembered(self.settings.cloud.authority_host, self.options.home_tenant) is None:
            # --plan/--status before the partner sign-in app exists: setting it up would be a change.
            self._first_partner_plan = bool(await read_gdap_roles(self.settings, self.operator, user))
        elif isinstance(self.operator, OperatorSignIn) and self.options.partner_center:
            self.partner, self.operator = await open_partner_route(
                self.settings, self.operator, user, home_tenant=self.options.home_tenant,
                all_customers=self.options.all_customers, budget_s=self.options.verify_budget_s,
                make_operator=lambda client_id: self._operator(client_id, user.tenant_id))
        if self.options.all_customers:
            if self.partner is None:
                raise UsageError("--all-customers --plan lists customers with the partner sign-in app, which is not "
                                 "set up yet", hint="run the same command without --plan first (it sets the app "
                                                    "up), or list the tenants in a file")
            rows = [TenantRow(i, c.domain or c.tenant_id) for i, c in enumerate(self.partner.customers, 1)]
        self.rows = rows
        if self.options.select_rows is not None:
            rows = self.options.select_rows(rows)
        self.reporter.total(len(rows))
        self._record("run_started", signed_in_as=user.username, home_tenant_id=user.tenant_id,
                     tenants=len(rows), auth=self.options.auth, plan_only=self.options.plan_only,
                     new_pass=self.options.new_pass, prune=self.options.prune,
                     manifest_version=self.options.manifest.manifest_version,
                     partner_app=self.partner.app.client_id if self.partner else None)
        limit = asyncio.Semaphore(self.options.concurrency)
        try:
            return list(await asyncio.gather(*(self._one(row, limit) for row in rows)))
        finally:
            if self.partner is not None:
                await self.partner.center.aclose()

    async def _start(self) -> SignedInUser:
        """The operator's sign-in. A remembered partner sign-in app that Entra no longer knows (deleted in
        the admin center: AADSTS700016) is forgotten, and the run signs in as on a partner's first run."""
        try:
            return await self.operator.start()
        except SignInError as exc:
            stale = self._remembered
            if stale is None or "700016" not in exc.one_line():
                raise
        forget(self.settings.cloud.authority_host, stale.tenant_id)
        log.warning("bulk.partner_app_forgotten", client_id=stale.client_id)
        self._remembered = None
        self.operator = self._operator(None)
        return await self.operator.start()

    async def _one(self, row: TenantRow, limit: asyncio.Semaphore) -> TenantOutcome:
        outcome = TenantOutcome(tenant=row.tenant, line=row.line)
        started = environment.clock().monotonic()
        try:
            access: TenantAccess | None = None
            async with limit:
                self.reporter.started(row.tenant)
                if self._first_partner_plan:
                    raise ConsentPlanned(SETUP_STEP, CONSENT_STEP)
                access = await self._reach(row, outcome)
                if access is not None:
                    await self._work(row, access, outcome)
            if access is None:
                # Wait for the interactive sign-in outside the semaphore: others keep running meanwhile.
                access = await self.operator.interactive_access(row.tenant)
                async with limit:
                    await self._work(row, access, outcome)
        except ConsentPlanned as planned:
            outcome.status, outcome.plan = PLANNED, [*planned.steps, LATER_STEP]
            if self.options.status_only:  # not reachable without a change: say which, change nothing
                outcome.status, outcome.plan = FAILED, None
                outcome.error = "the partner sign-in app is not consented in this customer: " + "; ".join(planned.steps)
                outcome.hint = "run the same bulk command without --status first (it consents the app)"
        except KodoError as exc:
            _fail(outcome, exc)
            result: OnboardResult | None = getattr(exc, "result", None)
            if result is not None:
                _fill_from_result(outcome, result)
                if outcome.changes and outcome.status == FAILED:
                    outcome.hint = (f"{outcome.hint + '; ' if outcome.hint else ''}already done in this tenant: "
                                    f"{'; '.join(outcome.changes)} - re-run with --only-failed (or --resume after a "
                                    "crash): it continues from there")
        except Exception as exc:  # the tenant boundary: a bug in one tenant must not stop the batch
            outcome.status = FAILED
            outcome.error = f"unexpected {type(exc).__name__}: {clip(redact_text(str(exc)))}"
            outcome.hint = "re-run with --resume; if it persists, report it with --log-level debug"
            outcome.error_type = type(exc).__name__
            log.exception("bulk.tenant_crashed", tenant=row.tenant)
        outcome.duration_s = round(environment.clock().monotonic() - started, 3)
        if not self.options.plan_only:
            self._record("tenant_finished", tenant=row.tenant, run_id=outcome.run_id,
                         cleaned_run_ids=self._cleaned.get(row.tenant, []),
                         outcome=outcome.to_dict())
        self.reporter.finished(outcome)
        return outcome

    async def _reach(self, row: TenantRow, outcome: TenantOutcome) -> TenantAccess | None:
        """The operator's access to the row's tenant, or None when the tenant gets a sign-in of its own
        (--auth per-tenant-device-code)."""
        try:
            return await self._access(row, outcome)
        except (SignInError, NoRelationship, NotACustomer) as exc:
            if self.settings.auth.app_identity:
                raise  # its own words: e.g. the app is not consented in this tenant
            if self.options.auth != PER_TENANT_DEVICE_CODE:
                raise self._unreachable(row, outcome, exc) from None
            outcome.notes.append(f"operator sign-in cannot reach this tenant ({exc.detail or exc.summary})"
                                 "; signed in to it separately")
            return None

    def _unreachable(self, row: TenantRow, outcome: TenantOutcome, exc: KodoError) -> KodoError:
        """Why the operator's sign-in cannot reach a tenant, with what to do about it."""
        if not isinstance(exc, SignInError):  # a partner's customer check: it says why; one more way out
            exc.hint = (exc.hint or "") + "; or run with --auth per-tenant-device-code (the customer's admin signs in)"
            return exc
        code = re.search(r"AADSTS\d+", exc.summary)
        if code and code.group() == "AADSTS65001" and self.partner is None:
            return self._needs_admin_consent(row, outcome)
        return SignInError("the operator's sign-in cannot reach this tenant" + (f" ({code.group()})" if code else ""),
                           detail=exc.detail, hint=(exc.hint or "") + "; or run with --auth per-tenant-device-code")

    async def _access(self, row: TenantRow, outcome: TenantOutcome) -> TenantAccess:
        """The operator's token for the row's tenant; through a partner, after consenting the partner's
        sign-in app there (Partner Center), which no change precedes: customer and roles are checked first."""
        if self.partner is None:
            return await self.operator.operator_access(row.tenant)
        customer = self.partner.customer(row.tenant)
        outcome.tenant_id = customer.tenant_id
        self.partner.check_roles(customer)
        if self.options.read_only:
            # Read-only: a silent token tells whether the app is consented there; no push.
            if not await asyncio.to_thread(self.partner.probe.reached, customer.tenant_id, PROBE_SETS[0]):
                raise ConsentPlanned(CONSENT_STEP)
            return await self.operator.operator_access(customer.tenant_id)
        known = self.previous.consented.get(row.tenant) == self.partner.app.client_id
        state = await self.partner.consent(customer, known_present=known)
        if not known:
            self._record("partner_consent", tenant=row.tenant, tenant_id=customer.tenant_id,
                         client_id=self.partner.app.client_id, state=state)
        outcome.partner_consent = self.partner.app.client_id
        return await self.operator.operator_access(customer.tenant_id)

    def _needs_admin_consent(self, row: TenantRow, outcome: TenantOutcome) -> SignInError:
        """AADSTS65001 without a Partner Center route: a tenant admin must consent the sign-in client
        once; the report carries the URL for that tenant and client."""
        assert isinstance(self.operator, OperatorSignIn)
        outcome.admin_consent_url = admin_consent_url(self.settings.cloud, row.tenant, self.operator.client_id)
        return SignInError(f"the sign-in app ({self.operator.client_id}) is not consented in this tenant (AADSTS65001)",
                           hint="a Global Administrator of the tenant opens admin_consent_url (report.json) once, "
                                "then run again with --only-failed")

    async def _work(self, row: TenantRow, access: TenantAccess, outcome: TenantOutcome) -> None:
        outcome.signed_in_via = access.via
        outcome.tenant_id = access.tenant_id or None
        other = self._tenant_ids.setdefault(access.tenant_id, row.tenant) if access.tenant_id else row.tenant
        if other != row.tenant:
            raise SignInError(f"{row.tenant} is the same tenant as {other} (tenant ID {access.tenant_id})",
                              hint="list each tenant once in the tenants file")
        options = OnboardOptions(
            tenant=row.tenant, manifest=row.manifest or self.options.manifest,
            credentials_path=default_credentials_path(row.tenant, self.options.out_dir, app_name=row.app_name),
            app_name=row.app_name, secret_lifetime=row.secret_lifetime,
            verify_budget_s=self.options.verify_budget_s, plan_only=self.options.plan_only,
            prune=self.options.prune, credential_type=row.credential_type or self.options.credential_type,
            pfx_password=self.options.pfx_password,
            run_id=None if self.options.plan_only or self.options.status_only else pysecrets.token_hex(4))
        outcome.run_id = options.run_id
        if options.run_id:
            # On disk before the first change: names the secret this attempt may add.
            self._record("tenant_started", tenant=row.tenant, run_id=options.run_id, via=access.via)
        async with open_session_with_credential(self.settings, access.credential, access.scopes,
                                                access.username) as session:
            if access.app_caller is not None:
                session.app_caller = access.app_caller  # preflight checks the app's roles, not a user's
            else:
                session.token_roles = frozenset(str(w).lower() for w in access.claims.get("wids") or ())
            if self.options.status_only:
                await self._status(session, options, outcome)
                return
            try:
                result = await onboard_tenant(session, options)
            except KodoError as exc:
                partial: OnboardResult | None = getattr(exc, "result", None)
                if partial is not None:
                    await self._remove_orphans(row, session, options, outcome)
                raise
            _fill_from_result(outcome, result)
            if self.options.plan_only:
                outcome.status = PLANNED
                outcome.plan = [s.describe() for s in result.plan.steps]
                return
            await self._remove_orphans(row, session, options, outcome)
            outcome.status = SUCCEEDED

    async def _status(self, session: Any, options: OnboardOptions, outcome: TenantOutcome) -> None:
        """bulk --status: the tenant's health report, probes included, with the credentials file in --out."""
        from ..flows.verify import verify_tenant

        if not options.credentials_path.exists():
            raise UsageError(f"no credentials file for this tenant in {self.options.out_dir}",
                             hint="onboard it first (bulk without --status), or pass the --out of that run")
        report = await verify_tenant(session, options, credentials_path=options.credentials_path,
                                     token_budget_s=min(self.options.verify_budget_s, 30),
                                     now=environment.clock().now(), probe=True)
        outcome.health = report.to_dict()
        outcome.tenant_id, outcome.tenant_name = report.tenant_id, report.tenant_name
        outcome.client_id, outcome.credentials_file = report.app.client_id, str(options.credentials_path)
        outcome.verification = "passed" if report.ok else "failed"
        outcome.status = SUCCEEDED if report.ok else FAILED
        if not report.ok:
            outcome.error = f"{len(report.failed)} check(s) failed: " + ", ".join(sorted({c.name for c in
                                                                                           report.failed}))

    async def _remove_orphans(self, row: TenantRow, session: Any, options: OnboardOptions,
                              outcome: TenantOutcome) -> None:
        """Remove secrets that interrupted attempts added but never wrote to the credentials file."""
        interrupted = self.previous.interrupted.get(row.tenant, [])
        if not interrupted:
            return
        markers = tuple(f"({MARKER_PREFIX}{run_id})" for run_id in interrupted)
        held = str((read_credentials(options.credentials_path) or {}).get("secret_key_id") or "").lower()
        _desired, actual = await session.read(options.manifest, options)
        app = actual.application
        for cred in app.password_credentials if app else ():
            if cred.display_name and cred.display_name.endswith(markers) and cred.key_id.lower() != held:
                await session.gateway.remove_password(app.id, cred.key_id)
                outcome.orphan_secrets_removed.append(cred.key_id)
                log.warning("bulk.orphan_secret_removed", tenant=row.tenant, key_id=cred.key_id)
        self._cleaned[row.tenant] = list(interrupted)
        if outcome.orphan_secrets_removed:
            outcome.notes.append(f"removed {len(outcome.orphan_secrets_removed)} secret(s) an interrupted run "
                                 "added but never handed off")


def admin_consent_url(cloud: Any, tenant: str, client_id: str) -> str:
    """The v2 admin-consent URL for the sign-in client's delegated scopes in one tenant. The v1 form
    (/adminconsent?client_id=) consents only the app's own configured permissions, which a public client
    like Graph CLI Tools has none of; v2 takes the scopes.
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent"""
    from urllib.parse import urlencode

    query = urlencode({"client_id": client_id, "scope": " ".join(cloud.graph_scope(s) for s in ADMIN_SCOPES),
                       "redirect_uri": "https://login.microsoftonline.com/common/oauth2/nativeclient"})
    return f"{cloud.authority_host}/{tenant}/v2.0/adminconsent?{query}"


def run_bulk(settings: ConnectionSettings, options: BulkOptions, rows: list[TenantRow], reporter: Reporter,
             journal: Journal | None, previous: JournalState | None = None) -> list[TenantOutcome]:
    """The synchronous entry point (one event loop for the whole run)."""
    runner = BulkRunner(settings, options, reporter, journal, previous)
    # Everything alive now (imported modules, the SDK's generated classes, the manifest) lives as
    # long as the run: keep it out of the cyclic collector's full passes, which otherwise walk it
    # again and again and grow with the tenant count (measured: 1000 tenants took 2.3x the time
    # of 500). https://docs.python.org/3/library/gc.html#gc.freeze
    # No gc.collect() first: that walks the whole heap once more (~0.1 s in a large process) to spare
    # freezing what little garbage exists now; unfrozen at the end, the collector frees it then.
    gc.freeze()
    try:
        outcomes = asyncio.run(runner.run(rows))
    finally:
        gc.unfreeze()
        rows[:] = runner.rows or rows  # the caller's list names every row of the run (--all-customers)
    return outcomes


def remove_stale_temp_files(out_dir: Path) -> list[Path]:
    """Temp files of a credentials write that a kill interrupted; their secret is an orphan that the
    tenant's next attempt removes from Entra, so the file must not linger with it."""
    removed = []
    for path in out_dir.glob(".kodo-credentials-*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
