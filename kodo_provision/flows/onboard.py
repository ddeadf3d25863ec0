"""The onboarding flow for one tenant, in phases: preflight -> plan -> apply -> hand-off -> verify -> record.

The CLI and bulk call `onboard_tenant`; interaction (showing the plan, asking for confirmation, progress)
comes in through `OnboardUI`, so this module neither prints nor reads. Each phase is a function of the
run's context (`OnboardRun`); `OnboardRun.replan` is the one place that diffs desired against actual.
"""

from __future__ import annotations

import asyncio
import secrets as pysecrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import environment
from ..apply.executor import ApplyOutcome, apply_plan
from ..apply.probe import BLOCKED, ERROR, MISSING, probe_data_access
from ..apply.revoke import apply_revocations
from ..apply.secret import remove_unhanded_secrets
from ..apply.secret_policy import blocked_note, clamp_to_policy, refuse_if_blocked
from ..apply.verify import VerificationReport, check_app_token, poll_until_empty
from ..credentials.certificate import GeneratedCertificate, generate_certificate
from ..credentials.store import (
    certificate_file_paths,
    check_owner,
    check_same_app,
    clear_pending_runs,
    held_certificate,
    held_secret,
    mark_pending_runs,
    read_credentials,
    read_pending_runs,
    write_credentials,
    write_private_file,
)
from ..errors import Interrupted, KodoError, UsageError, VerificationError, note_interruption
from ..graph.batched import BatchedReads
from ..graph.gateway import Organization
from ..graph.request_ids import start_collecting
from ..manifest.resolve import DesiredState
from ..output.logging import bind_log_context, get_logger, register_secret
from ..plan.diff import diff
from ..plan.model import AddCertificate, AddSecret, Plan, RemoveOrphanCertificate, RemoveOrphanSecret
from ..state.model import HeldCertificate, HeldSecret, ResourceServicePrincipal, TenantState
from ..state.policy import SecretPolicy, effective_policy
from ..state.read import read_resource_service_principals, read_tenant_state
from .handoff import certificate_record, credentials_record, remove_key_command, switched_secret
from .journal import RunJournal, settle_abandoned_runs
from .options import OnboardOptions, OnboardResult, OnboardUI
from .record import AuditTrail, audit_path, begin_journal, record_failed_run, record_run, recording
from .roles import check_app_roles, check_roles
from .session import TenantSession, desired_state, desired_unique_name

log = get_logger("kodo_provision.onboard")

MAX_RECONCILE_ROUNDS = 3


@dataclass
class OnboardRun:
    """One onboarding run's context, as the phases fill it in."""

    session: TenantSession
    options: OnboardOptions
    ui: OnboardUI
    run_id: str
    trail: AuditTrail
    existing: dict[str, Any] | None
    org: Organization = field(default_factory=lambda: Organization("", "", ""))
    unique_name: str = ""
    resource_sps: dict[str, ResourceServicePrincipal | None] = field(default_factory=dict)
    desired: DesiredState | None = None
    actual: TenantState = field(default_factory=TenantState)
    plan: Plan = field(default_factory=Plan)
    held: HeldSecret | None = None
    held_cert: HeldCertificate | None = None
    interrupted: frozenset[str] = frozenset()
    secret_policy: SecretPolicy | None = None
    now: datetime = field(default_factory=lambda: environment.clock().now())
    written: dict[str, Any] | None = None  # the credentials file's content as this run leaves it
    cert_files: dict[str, Path] = field(default_factory=dict)
    app_id: str | None = None
    journal: RunJournal | None = None
    result: OnboardResult | None = None

    def replan(self) -> Plan:
        """The plan from desired to actual as they stand (pure: no I/O)."""
        assert self.desired is not None
        self.plan = diff(self.desired, self.actual, held_secret=self.held, now=self.now, prune=self.options.prune,
                         interrupted_runs=self.interrupted, held_certificate=self.held_cert)
        return self.plan

    async def reread(self) -> Plan:
        """Read the tenant again (one batched request) and re-plan."""
        self.desired, self.actual = await self.session.read(self.options.manifest, self.options,
                                                            resource_sps=self.resource_sps, app_id=self.app_id)
        return self.replan()

    @property
    def outcome(self) -> OnboardResult:
        assert self.result is not None
        return self.result


async def onboard_tenant(session: TenantSession, options: OnboardOptions, ui: OnboardUI | None = None
                         ) -> OnboardResult:
    """Run the whole flow for one tenant; raises KodoError subclasses with exit statuses."""
    run_id = options.run_id or pysecrets.token_hex(4)
    bind_log_context(tenant=options.tenant, run_id=run_id)
    run = OnboardRun(session, options, ui or OnboardUI(), run_id,
                     AuditTrail(run_id, environment.clock().now(), start_collecting()),  # the audit record
                     read_credentials(options.credentials_path))
    notes = await _preflight(run)
    await _plan(run, notes)
    if options.plan_only:
        return _planned(run)
    refuse_if_blocked(run.plan, run.secret_policy)  # before anything is created
    for settled in settle_abandoned_runs(run_id):  # audit records of killed runs (journal.py)
        run.outcome.notes.append(f"marked the audit record of an interrupted run as interrupted: {settled}")
    run.ui.show_plan(run.plan, run.org)
    if not run.plan.is_empty and not run.ui.confirm(run.plan, run.org):
        raise UsageError("cancelled; nothing was changed", hint="answer 'y' or pass --yes to apply the plan")
    applied_anything = not run.plan.is_empty
    await _apply(run)
    await _verify(run, applied_anything)
    return _record(run)


async def _preflight(run: OnboardRun) -> list[str]:
    """Who is signed in, whether they may do this, and what the tenant has: one batched round trip."""
    run.ui.on_phase("preflight")
    session, options, manifest = run.session, run.options, run.options.manifest
    caller = session.app_caller
    if caller is not None:  # the operator's automation app: its token says what it may do
        check_app_roles(caller)
    run.unique_name = desired_unique_name(manifest, options)
    overview = await BatchedReads(session.gateway).overview(
        run.unique_name, [r.app_id for r in manifest.resources], signed_in_user=caller is None)
    run.org, me = overview.organization, overview.me
    run.trail.signed_in_upn = me.user_principal_name or session.signed_in_as
    run.trail.signed_in_object_id = me.id or (caller.object_id if caller else "")
    check_owner(options.credentials_path, run.existing, {run.org.id})
    notes: list[str] = []
    if caller is None:
        # The token's `wids` when it has them (a GDAP partner admin's too: the roles of the relationship);
        # else the directory roles read with /me/memberOf.
        roles = session.token_roles if session.token_roles is not None else overview.role_template_ids
        notes = check_roles(roles, manifest, me.user_principal_name or session.signed_in_as)
    run.held, run.held_cert = held_secret(run.existing), held_certificate(run.existing)
    run.interrupted = read_pending_runs(run.org.id, run.unique_name, legacy=options.credentials_path)
    run.resource_sps = overview.resource_sps
    run.secret_policy = overview.secret_policy
    run.actual = await read_tenant_state(session.gateway, run.unique_name, run.resource_sps,
                                         application=overview.application)
    check_same_app(options.credentials_path, run.existing,
                   run.actual.application.app_id if run.actual.application else None)
    run.result = OnboardResult(run.org.id, run.org.display_name, run.trail.signed_in_upn, Plan(), notes=notes)
    return notes


async def _plan(run: OnboardRun, notes: list[str]) -> None:
    """Desired state within the tenant's secret rules, and the plan to reach it."""
    desired, policy_notes = clamp_to_policy(desired_state(run.options.manifest, run.resource_sps, run.options),
                                            run.secret_policy)
    run.desired = desired
    run.replan()
    if run.plan.of_kind(AddSecret) and run.actual.application is not None:
        # An existing app may have its own app-management policy, which replaces the tenant
        # default for it (appmanagementpolicy-post-appliesto). One read, only when a secret is due.
        app_policy = await run.session.gateway.app_secret_policy(run.actual.application.id)
        effective = effective_policy(run.secret_policy, app_policy)
        if effective is not run.secret_policy:
            run.secret_policy = effective
            run.desired, policy_notes = clamp_to_policy(
                desired_state(run.options.manifest, run.resource_sps, run.options), effective)
            run.replan()
    run.outcome.plan = run.plan
    run.outcome.notes = notes + list(run.plan.notes) + policy_notes + blocked_note(run.plan, run.secret_policy)
    run.app_id = run.actual.application.app_id if run.actual.application else None


def _planned(run: OnboardRun) -> OnboardResult:
    """plan: the result shows which app was matched (by uniqueName), and nothing changes."""
    result, actual = run.outcome, run.actual
    if actual.application is not None:
        result.client_id, result.app_object_id = actual.application.app_id, actual.application.id
    result.service_principal_id = actual.service_principal.id if actual.service_principal else None
    return result


async def _apply(run: OnboardRun) -> None:
    """Apply the plan in rounds (a created resource service principal makes more steps resolvable)."""
    run.ui.on_phase("apply")
    if run.plan.is_empty:
        return
    run.journal = begin_journal(
        run.trail, record="kodo-provision onboard", tenant=run.options.tenant, tenant_id=run.org.id,
        tenant_name=run.org.display_name, app={"unique_name": run.unique_name, "client_id": run.app_id},
        path=audit_path(run.options.credentials_path, run.options.tenant, run.trail.started_at, run.run_id))
    if run.plan.of_kind(AddSecret) or run.plan.of_kind(AddCertificate):
        # On disk before addPassword / the certificate upload: if this run dies before the hand-off, the
        # next one knows the credential it finds with this run's marker is an orphan and removes it.
        mark_pending_runs(run.org.id, run.unique_name, run.interrupted | {run.run_id})
    for _round in range(MAX_RECONCILE_ROUNDS):
        if run.plan.is_empty:
            break
        step_outcome = await _apply_round(run)
        if not step_outcome.created_resources:
            break
        # A resource SP was created: its permission names can only be resolved now.
        run.resource_sps = await read_resource_service_principals(
            run.session.gateway, [r.app_id for r in run.options.manifest.resources])
        await run.reread()


async def _apply_round(run: OnboardRun) -> ApplyOutcome:
    """One apply of the current plan; a failure or an interruption is recorded with what exists now."""
    assert run.desired is not None
    result = run.outcome
    try:
        step_outcome = await apply_plan(
            run.session.gateway, run.plan, run.desired, run.actual, run_id=run.run_id, now=run.now,
            on_step=recording(run.trail, run.ui.on_step, run.journal), on_secret=lambda o: _hand_off(run, o),
            secret_policy=run.secret_policy, make_certificate=lambda: _make_certificate(run))
    except KodoError as exc:  # the tenant may hold some of our objects now: record them (record.py)
        result.audit_path = await _record_failure(run, exc)
        if getattr(exc, "result", None) is None:
            exc.result = result  # type: ignore[attr-defined]  # what exists now (bulk's report row)
        raise
    except (asyncio.CancelledError, KeyboardInterrupt):  # Ctrl-C / SIGTERM mid-apply (cli/interrupts.py)
        result.audit_path = await _record_failure(run, Interrupted("interrupted by the operator"), always=True)
        note_interruption(f"{len(result.applied)} change(s) confirmed in {run.org.display_name} (one more may "
                          "have been in flight)" + (f"; audit record {result.audit_path}" if result.audit_path
                                                    else ""))
        raise
    result.notes.extend(step_outcome.notes)
    run.app_id = step_outcome.application.app_id if step_outcome.application else run.app_id
    if step_outcome.service_principal is not None:  # --prune: revoke what the manifest drops
        revoked, _gone = await apply_revocations(run.session.gateway, run.plan, step_outcome.service_principal.id,
                                                 run.ui.on_step)
        step_outcome.done.extend(revoked)
    result.applied.extend(s.describe() for s in step_outcome.done)
    run.trail.steps.extend(step_outcome.done)
    result.already_present.extend(s.describe() for s in step_outcome.already_present)
    return step_outcome


async def _record_failure(run: OnboardRun, error: Exception, *, always: bool = False) -> Path | None:
    async def reread() -> tuple[DesiredState, TenantState]:
        return await run.session.read(run.options.manifest, run.options, resource_sps=run.resource_sps)

    assert run.desired is not None
    return await record_failed_run(run.trail, run.outcome, run.options, run.desired.unique_name, error, reread,
                                   always=always)


def _make_certificate(run: OnboardRun) -> GeneratedCertificate:
    """A new key pair; the private key is on disk (0600) before the public certificate is uploaded."""
    assert run.desired is not None
    cert = generate_certificate(run.desired.display_name, now=environment.clock().now(),
                                lifetime=run.desired.secret_lifetime)
    pem, pfx = certificate_file_paths(run.options.credentials_path, cert.thumbprint)
    write_private_file(pem, cert.pem_bundle())
    run.cert_files["pem"] = pem
    if run.options.pfx_password:
        register_secret(run.options.pfx_password)
        write_private_file(pfx, cert.pfx(run.options.pfx_password.encode()))
        run.cert_files["pfx"] = pfx
    return cert


def _hand_off(run: OnboardRun, outcome: ApplyOutcome) -> None:
    """Write the credentials file before anything else can fail: a secret nobody holds is lost."""
    options, result = run.options, run.outcome
    if outcome.new_certificate is not None:
        record = certificate_record(run.org, options, outcome, run.cert_files)
        if switched := switched_secret(run.held, run.actual.application):
            # secret -> certificate: the secret stays on the app (KODO may still use it), and
            # this file is the only place that still names it.
            record["previous_secret_key_id"] = switched
            result.notes.append(f"the previous client secret {switched} is still on the app (KODO may still "
                                "use it); once nothing uses it, remove it with: "
                                + remove_key_command(options, options.credentials_path, switched))
        write_credentials(options.credentials_path, record)
        run.written, run.held_cert = record, held_certificate(record)
        result.secret_created, result.secret_key_id = True, outcome.new_certificate.key_id
        return
    assert outcome.new_secret is not None
    run.written = credentials_record(run.org, options, outcome)
    write_credentials(options.credentials_path, run.written)
    run.held = held_secret(run.written)
    result.secret_created, result.secret_key_id = True, outcome.new_secret.key_id


async def _verify(run: OnboardRun, applied_anything: bool) -> None:
    """Re-plan until empty (replication), sweep lost secrets, then prove the credential with a token."""
    run.ui.on_phase("verify")
    # Nothing applied: the state just read is the verification read; don't read it twice.
    remaining = await poll_until_empty(run.reread, run.options.verify_budget_s) if applied_anything else run.plan
    if _only_cleanup(remaining):
        # A killed run's request still in flight can commit after this run read the tenant: its secret shows
        # up only now. Removing it is this run's job (its pending record names it), not the next run's.
        run.plan = remaining
        await _apply_round(run)
        remaining = await poll_until_empty(run.reread, run.options.verify_budget_s)
    if applied_anything:  # the state just read has replicated: a secret of ours nobody holds shows now
        swept = await remove_unhanded_secrets(run.session.gateway, run.actual.application, frozenset({run.run_id}),
                                              run.held.key_id if run.held else None)
        if swept:
            run.outcome.notes.append(f"removed {len(swept)} secret(s) this run added whose answer was lost")
    clear_pending_runs(run.org.id, run.unique_name, legacy=run.options.credentials_path,  # handed off or removed
                       handed_off=frozenset({run.run_id}))
    _fill_result(run)
    report = VerificationReport(remaining)
    run.outcome.verification = report
    if remaining.is_empty and run.actual.application is not None:
        await _prove_credential(run, report)
    run.outcome.status = "verified" if report.ok else "verification_failed"


def _only_cleanup(plan: Plan) -> bool:
    """A plan left after apply that only removes credentials of interrupted runs."""
    return bool(plan.steps) and all(isinstance(s, RemoveOrphanSecret | RemoveOrphanCertificate) for s in plan.steps)


def _fill_result(run: OnboardRun) -> None:
    """IDs and the credential the file holds now (this run's, or the one it found)."""
    result, app, sp = run.outcome, run.actual.application, run.actual.service_principal
    result.client_id, result.app_object_id = (app.app_id, app.id) if app else (None, None)
    result.service_principal_id = sp.id if sp else None
    result.credentials_path = run.options.credentials_path
    creds = run.written or run.existing or {}
    if run.held is not None:
        result.secret_key_id, result.secret_expires_at = run.held.key_id, creds.get("secret_expires_at")
    if run.options.credential_type == "certificate" and run.held_cert is not None:
        result.credential_type, result.secret_key_id = "certificate", run.held_cert.key_id
        result.secret_expires_at = creds.get("certificate_expires_at")
        result.certificate_thumbprint = run.held_cert.thumbprint


async def _prove_credential(run: OnboardRun, report: VerificationReport) -> None:
    """An app-only token with the credential the file holds carries every application permission."""
    assert run.desired is not None and run.actual.application is not None
    creds = run.written or run.existing or {}
    session, client_id = run.session, run.actual.application.app_id
    if run.options.credential_type == "certificate" and run.held_cert is not None:
        report.permissions, report.token_errors = await check_app_token(
            session.cloud, run.org.id, client_id, "", run.desired, ca_bundle=session.ca_bundle,
            budget_s=run.options.verify_budget_s, certificate_path=str(creds["certificate_path"]))
    elif creds.get("client_secret"):
        report.permissions, report.token_errors = await check_app_token(
            session.cloud, run.org.id, client_id, creds["client_secret"], run.desired,
            ca_bundle=session.ca_bundle, budget_s=run.options.verify_budget_s)
    if run.options.probe and report.ok and creds:
        report.probes = await probe_data_access(
            session.cloud, run.org.id, client_id, str(creds.get("client_secret") or ""), run.desired,
            ca_bundle=session.ca_bundle, mailbox=run.options.probe_mailbox,
            certificate_path=str(creds["certificate_path"]) if creds.get("certificate_path") else None)


def _refuse_blocked_reads(result: OnboardResult, report: VerificationReport) -> None:
    """--probe: onboarding worked, but a read the manifest grants did not: exit 6 naming each and its fix."""
    failed = [p for p in report.probes if p.state in (BLOCKED, MISSING, ERROR)]
    if not failed:
        return
    error = VerificationError(
        f"onboarded, but the app cannot read {len(failed)} kind(s) of data it is granted: "
        + ", ".join(p.name for p in failed),
        detail="; ".join(f"{p.name}: {p.detail}" + (f" -> {p.action}" if p.action else "") for p in failed),
        hint="the tenant's admin acts as each probe line says; then kodo-provision verify --probe")
    error.result = result  # type: ignore[attr-defined]
    raise error


def _record(run: OnboardRun) -> OnboardResult:
    """The audit record; a failed verification is an error that names what is missing."""
    assert run.desired is not None
    result = run.outcome
    result.audit_path = record_run(run.trail, result, run.options, run.desired.unique_name, run.actual)
    log.info("onboard.finished", status=result.status, client_id=result.client_id, changes=len(result.applied))
    report = result.verification
    if report is not None and report.ok:
        _refuse_blocked_reads(result, report)
    if report is None or report.ok:
        return result
    missing = [f"{p.resource}/{p.permission}" for p in report.permissions if not p.granted]
    detail = "; ".join([*(s.describe() for s in report.replan.steps), *(f"role missing: {m}" for m in missing),
                        *report.token_errors])
    error = VerificationError("verification failed", detail=detail,
                              hint="run the same command again; it repairs what is missing")
    error.result = result  # type: ignore[attr-defined]
    raise error
