"""Proof of data access (`verify --probe`, `onboard --probe`): with the app-only token KODO will use, one
harmless read per API the manifest grants. A token with the right roles is not proof: Exchange's EWS
settings, application RBAC scopes and licences decide too.

Each read ends in one of:
  ok          the read worked
  blocked     the token holds the permission, yet the tenant refused (403, an EWS access denial, no SharePoint
              licence): a tenant setting; the action says which and what the admin runs
  missing     the app-only token lacks a permission the read needs: admin consent is missing
  not_probed  nothing to read with (no mailbox, no OneDrive, a retired API, an API this cloud lacks)
  error       anything else (a 401, the network, an unexpected answer)
"Blocked" is told from "missing" by the token's `roles`, not by error texts, which Microsoft does not
document for most of these refusals (https://learn.microsoft.com/en-us/graph/errors: branch on codes). Two
answers are recognised by their code and text because they name a condition rather than a refusal: "no
mailbox" (MailboxNotEnabledForRESTAPI) and "no SharePoint licence" (400 "Tenant does not have a SPO license.").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from ..auth import app_only_tokens
from ..cloud import Cloud
from ..errors import clip
from ..graph.data_reads import DataReader, ReadAnswer
from ..manifest.resolve import DesiredState
from .probe_model import (
    BLOCKED,
    ERROR,
    MISSING,
    NOT_PROBED,
    OK,
    PROBES,
    MailboxUser,
    Probe,
    ProbeContext,
    ProbeResult,
)
from .probe_reads import fetch_tokens, read

__all__ = ["BLOCKED", "ERROR", "MISSING", "NOT_PROBED", "OK", "ProbeResult", "applicable", "probe_data_access"]
_DENIED_IN_SOAP = ("ErrorAccessDenied", "ErrorImpersonateUserDenied", "ErrorImpersonationDenied")


def applicable(desired: DesiredState) -> list[tuple[Probe, str]]:
    """(probe, API name) for every read the manifest's application permissions call for."""
    granted = {r.app_id: (r.name, {p.name for p in r.application}) for r in desired.resources if r.application}
    out = []
    for probe in PROBES:
        name, names = granted.get(probe.resource_app_id, ("", set()))
        if name and (not probe.permissions or names & set(probe.permissions)):
            out.append((probe, name))
    return out


def _block_action(name: str, client_id: str, mailbox: str) -> str:
    """What the tenant's admin does when the tenant refuses a read the app holds the permission for."""
    if name == "ews":
        # Set-OrganizationConfig: https://learn.microsoft.com/en-us/powershell/module/exchangepowershell/set-organizationconfig
        return (f'EWS is off for the organization or the app is not allow-listed: Set-OrganizationConfig -EwsEnabled '
                f'$true -EwsAllowedAppIDs @{{Add="{client_id}"}} (EWS shuts down on 2027-04-01: the kodo-graph '
                "profile needs no EWS)")
    if name in ("mail", "mailbox_export"):
        # https://learn.microsoft.com/en-us/exchange/permissions-exo/application-rbac
        return (f"an Exchange application access policy or RBAC for Applications scope keeps the app from {mailbox}; "
                f"check with: Test-ServicePrincipalAuthorization -Identity {client_id} -Resource {mailbox}")
    if name in ("sharepoint", "onedrive"):
        return "SharePoint refuses the app: check the tenant's SharePoint app-only access settings"
    return "the tenant refuses the app although its token holds the permission"


def _condition(probe: Probe, api: str, answer: ReadAnswer, target: str) -> ProbeResult | None:
    """Answers that name a condition of the tenant or the user rather than a refusal."""
    if answer.code.startswith("MailboxNotEnabled") or answer.code == "NoPrimaryMailboxId" \
            or answer.soap_code == "ErrorNonExistentMailbox":
        return ProbeResult(probe.name, api, NOT_PROBED, f"{target} has no Exchange Online mailbox",
                           "pass --probe-mailbox with the UPN of a user who has one")
    if probe.name == "onedrive" and answer.status == 404:
        return ProbeResult(probe.name, api, NOT_PROBED, f"{target} has no OneDrive provisioned",
                           "pass --probe-mailbox with the UPN of a user who has one")
    if answer.status == 400 and "SPO license" in answer.message:
        return ProbeResult(probe.name, api, BLOCKED, "the tenant has no SharePoint Online (no SPO licence)",
                           "a SharePoint Online (or Microsoft 365) licence turns it on")
    return None


def _classify(probe: Probe, api: str, answer: ReadAnswer, ctx: ProbeContext) -> ProbeResult:
    """The state of a read that was made."""
    target = ctx.mailbox.upn if probe.needs_mailbox and ctx.mailbox else ""
    what = f"{probe.what} {target}".strip()
    if answer.ok:
        return ProbeResult(probe.name, api, OK, f"could {what}")
    condition = _condition(probe, api, answer, target)
    if condition is not None:
        return condition
    said = answer.soap_code or " ".join(x for x in (answer.code, answer.message) if x) or "no reason given"
    if answer.status == 403 or answer.soap_code in _DENIED_IN_SOAP:
        return ProbeResult(probe.name, api, BLOCKED, f"could not {what}: HTTP {answer.status} ({clip(said, 100)})",
                           _block_action(probe.name, ctx.client_id, target or "<mailbox>"))
    status = f"HTTP {answer.status}" if answer.status else "no answer"
    return ProbeResult(probe.name, api, ERROR, f"could not {what}: {status} ({clip(said, 100)})")


def _not_readable(probe: Probe, api: str, ctx: ProbeContext, granted: set[str]) -> ProbeResult | None:
    """The result of a probe that makes no request, or None when it should read."""
    if probe.name == "azure_ad_graph":
        return ProbeResult(probe.name, api, NOT_PROBED, "retired (2025): no request works with its permissions",
                           "move to the Graph-only profile: onboard --manifest kodo-graph --prune")
    if probe.name == "mailbox_export" and ctx.cloud.name != "global":
        return ProbeResult(probe.name, api, NOT_PROBED, f"the mailbox export API is not in the {ctx.cloud.name} "
                           "cloud (global only: https://learn.microsoft.com/graph/api/mailbox-exportitems)")
    if probe.name == "ews" and not ctx.cloud.exchange_endpoint:
        return ProbeResult(probe.name, api, NOT_PROBED, f"no EWS endpoint for the {ctx.cloud.name} cloud or these "
                           "custom endpoints", "pass --exchange-endpoint URL")
    token = ctx.tokens.get(probe.resource_app_id)
    if token is None:
        why = ctx.token_errors.get(probe.resource_app_id, "not requested")
        return ProbeResult(probe.name, api, ERROR, f"no app-only token for {api}: {why}")
    for needed in (probe.permissions, probe.also_needs):
        if needed and not token[1] & set(needed):
            wanted = " or ".join(sorted(granted & set(needed))) or " or ".join(needed[:2])
            return ProbeResult(probe.name, api, MISSING, f"the app-only token for {api} lacks {wanted}",
                               "grant admin consent (kodo-provision onboard grants what the manifest lists)")
    if probe.needs_mailbox and ctx.mailbox is None:
        return ProbeResult(probe.name, api, NOT_PROBED, ctx.no_mailbox or "no mailbox to read",
                           "pass --probe-mailbox with the UPN of a user who has a mailbox")
    return None


async def _one(probe: Probe, api: str, ctx: ProbeContext, granted: set[str]) -> ProbeResult:
    skipped = _not_readable(probe, api, ctx, granted)
    return skipped if skipped is not None else _classify(probe, api, await read(probe, ctx), ctx)


async def probe_data_access(cloud: Cloud, tenant_id: str, client_id: str, secret: str, desired: DesiredState, *,
                            ca_bundle: str | None, certificate_path: str | None = None,
                            mailbox: str | None = None) -> list[ProbeResult]:
    """One read per API the manifest grants, as the KODO app (its secret or certificate); never writes.
    The directory read goes first: it finds the mailbox the other reads use (`mailbox`: a UPN to use)."""
    wanted = applicable(desired)
    granted = {r.app_id: {p.name for p in r.application} for r in desired.resources}
    resources = {p.resource_app_id for p, _ in wanted
                 if p.permissions and (p.name != "ews" or cloud.exchange_endpoint)}
    tokens = app_only_tokens(cloud, tenant_id, client_id, secret, certificate_path=certificate_path,
                             ca_bundle=ca_bundle)
    try:
        fetched, failed = await asyncio.to_thread(fetch_tokens, tokens, cloud, resources)
    finally:
        tokens.close()
    async with DataReader(ca_bundle=ca_bundle) as reader:
        ctx = ProbeContext(cloud, client_id, reader, fetched, token_errors=failed, named=mailbox,
                           no_mailbox="the manifest grants no permission to list users")
        first = [await _one(p, api, ctx, granted[p.resource_app_id]) for p, api in wanted if p.name == "directory"]
        if ctx.mailbox is None and mailbox and (not first or first[0].state == MISSING):
            ctx.mailbox = MailboxUser(mailbox, mailbox, mailbox)  # the directory cannot be read: the UPN as given
        rest: list[Awaitable[ProbeResult]] = [_one(p, api, ctx, granted[p.resource_app_id]) for p, api in wanted
                                              if p.name != "directory"]
        return first + list(await asyncio.gather(*rest))
