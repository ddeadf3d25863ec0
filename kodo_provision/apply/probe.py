"""Proof of data access (`verify --probe`, `onboard --probe`): with the app-only token KODO will use, one
harmless read per API the manifest grants. A token with the right roles is not proof: Exchange's EWS
settings, application RBAC scopes and licences decide too.

Each read ends in one of:
  ok          the read worked
  blocked     the token holds the permission, yet the tenant refused: a tenant setting (the action says which)
  missing     the app-only token lacks the permission: admin consent is missing
  not_probed  nothing to read with (no mailbox to read, a retired API, no endpoint in this cloud)
  error       the read failed otherwise (network, an unexpected answer)
"Blocked" is told from "missing" by the token's `roles`, not by error texts, which Microsoft does not
document for most of these refusals (https://learn.microsoft.com/en-us/graph/errors: branch on codes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from ..auth import AppOnlyCertificateTokens, AppOnlyTokens
from ..cloud import Cloud
from ..errors import KodoError, clip
from ..graph.data_reads import DataReader, ReadAnswer, user_path
from ..manifest.resolve import DesiredState

OK, BLOCKED, MISSING, NOT_PROBED, ERROR = "ok", "blocked", "missing", "not_probed", "error"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"


@dataclass(frozen=True)
class ProbeResult:
    """One read's outcome. `name` is stable for scripts; `action` is what the tenant's admin does about it."""

    name: str
    api: str
    state: str
    detail: str
    action: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "api": self.api, "state": self.state, "detail": self.detail,
                "action": self.action}


@dataclass(frozen=True)
class Probe:
    """A read that proves one kind of access; it runs when the manifest grants one of `permissions`."""

    name: str
    resource_app_id: str
    permissions: tuple[str, ...]
    what: str
    needs_mailbox: bool = False


# Least-privileged permissions per read, from each API page's "Permissions" table.
PROBES = (
    # https://learn.microsoft.com/en-us/graph/api/user-list
    Probe("directory", GRAPH_APP_ID, ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                                      "Directory.ReadWrite.All"), "list users"),
    # https://learn.microsoft.com/en-us/graph/api/mailfolder-get
    Probe("mail", GRAPH_APP_ID, ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"),
          "read the inbox folder of", needs_mailbox=True),
    # https://learn.microsoft.com/en-us/graph/api/mailbox-list-folders
    Probe("mailbox_export", GRAPH_APP_ID, ("MailboxFolder.Read.All", "MailboxFolder.ReadWrite.All"),
          "list the mailbox folders (export API) of", needs_mailbox=True),
    # https://learn.microsoft.com/en-us/graph/api/drive-get
    Probe("onedrive", GRAPH_APP_ID, ("Files.Read.All", "Files.ReadWrite.All"), "read the OneDrive of",
          needs_mailbox=True),
    # https://learn.microsoft.com/en-us/graph/api/site-get
    Probe("sharepoint", GRAPH_APP_ID, ("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
                                       "Sites.FullControl.All"), "read the root SharePoint site"),
    Probe("ews", EXCHANGE_APP_ID, ("full_access_as_app",), "read the inbox over EWS of", needs_mailbox=True),
    Probe("azure_ad_graph", AAD_GRAPH_APP_ID, (), "(retired API)"),
)


@dataclass
class ProbeContext:
    """What every read of one tenant shares."""

    cloud: Cloud
    client_id: str
    reader: DataReader
    tokens: dict[str, tuple[str, frozenset[str]]]  # resource app ID -> (token, roles)
    mailbox: str | None = None


def applicable(desired: DesiredState) -> list[tuple[Probe, str]]:
    """(probe, API name) for every read the manifest's application permissions call for."""
    granted = {r.app_id: (r.name, {p.name for p in r.application}) for r in desired.resources if r.application}
    out = []
    for probe in PROBES:
        name, names = granted.get(probe.resource_app_id, ("", set()))
        if name and (not probe.permissions or names & set(probe.permissions)):
            out.append((probe, name))
    return out


def _block_action(name: str, client_id: str, mailbox: str | None) -> str:
    """What the tenant's admin does when the tenant refuses a read the app holds the permission for."""
    target = mailbox or "<mailbox>"
    if name == "ews":
        # Set-OrganizationConfig: https://learn.microsoft.com/en-us/powershell/module/exchangepowershell/set-organizationconfig
        return (f'EWS is off for the organization or the app is not allow-listed: Set-OrganizationConfig -EwsEnabled '
                f'$true -EwsAllowedAppIDs @{{Add="{client_id}"}} (EWS shuts down on 2027-04-01: the kodo-graph '
                "profile needs no EWS)")
    if name in ("mail", "mailbox_export"):
        # https://learn.microsoft.com/en-us/exchange/permissions-exo/application-rbac
        return (f"an Exchange application access policy or RBAC for Applications scope keeps the app from {target}; "
                f"check with: Test-ServicePrincipalAuthorization -Identity {client_id} -Resource {target}")
    if name in ("sharepoint", "onedrive"):
        return "SharePoint refuses the app: check the tenant's SharePoint app-only access settings"
    return "the tenant refuses the app although its token holds the permission"


def _classify(probe: Probe, api: str, answer: ReadAnswer, ctx: ProbeContext) -> ProbeResult:
    """The state of a read that was made."""
    target = f" {ctx.mailbox}" if probe.needs_mailbox else ""
    if answer.ok:
        return ProbeResult(probe.name, api, OK, f"could {probe.what}{target}")
    if answer.status == 0:
        return ProbeResult(probe.name, api, ERROR, f"could not {probe.what}{target}: {clip(answer.message)}")
    if answer.code.startswith("MailboxNotEnabled") or answer.soap_code == "ErrorNonExistentMailbox":
        return ProbeResult(probe.name, api, NOT_PROBED, f"{ctx.mailbox} has no Exchange Online mailbox",
                           "pass --probe-mailbox with the address of a user who has one")
    if answer.status == 400 and "SPO license" in answer.message:
        return ProbeResult(probe.name, api, BLOCKED, "the tenant has no SharePoint Online (no SPO licence)",
                           "a SharePoint Online (or Microsoft 365) licence turns it on")
    if answer.status in (401, 403) or answer.soap_code in (
            "ErrorAccessDenied", "ErrorImpersonateUserDenied", "ErrorImpersonationDenied"):
        said = answer.soap_code or " ".join(x for x in (answer.code, answer.message) if x) or "no reason given"
        return ProbeResult(probe.name, api, BLOCKED,
                           f"could not {probe.what}{target}: HTTP {answer.status} ({clip(said, 100)})",
                           _block_action(probe.name, ctx.client_id, ctx.mailbox))
    return ProbeResult(probe.name, api, ERROR, f"could not {probe.what}{target}: HTTP {answer.status} "
                       f"{answer.code or answer.soap_code} {clip(answer.message, 100)}".rstrip())


async def _read(probe: Probe, ctx: ProbeContext) -> ReadAnswer:
    """The one read of `probe` (a mailbox is known where the read needs one)."""
    base, token = ctx.cloud.graph_base_url, ctx.tokens.get(probe.resource_app_id, ("", frozenset()))[0]
    mailbox = ctx.mailbox or ""
    if probe.name == "mail":
        return await ctx.reader.graph_get(base, user_path(mailbox, "/mailFolders/inbox?$select=id"), token)
    if probe.name == "mailbox_export":
        # The export API addresses a mailbox by its ID: https://learn.microsoft.com/en-us/graph/api/usersettings-list-exchange
        settings = await ctx.reader.graph_get(base, user_path(mailbox, "/settings/exchange"), token)
        mailbox_id = (settings.body or {}).get("primaryMailboxId") if settings.ok else None
        if not mailbox_id:
            return settings
        return await ctx.reader.graph_get(base, f"/admin/exchange/mailboxes/{mailbox_id}/folders?$top=1", token)
    if probe.name == "onedrive":
        return await ctx.reader.graph_get(base, user_path(mailbox, "/drive?$select=id"), token)
    if probe.name == "sharepoint":
        return await ctx.reader.graph_get(base, "/sites/root?$select=id", token)
    assert probe.name == "ews" and ctx.cloud.exchange_endpoint
    return await ctx.reader.ews_get_inbox(ctx.cloud.exchange_endpoint, token, mailbox)


def _not_readable(probe: Probe, api: str, ctx: ProbeContext, granted: set[str]) -> ProbeResult | None:
    """The result of a probe that makes no request, or None when it should read."""
    if probe.name == "azure_ad_graph":
        return ProbeResult(probe.name, api, NOT_PROBED, "retired (2025): no request works with its permissions",
                           "move to the Graph-only profile: onboard --manifest kodo-graph --prune")
    token = ctx.tokens.get(probe.resource_app_id)
    if token is None:
        return ProbeResult(probe.name, api, ERROR, f"no app-only token for {api}")
    if not token[1] & set(probe.permissions):
        wanted = " or ".join(sorted(granted & set(probe.permissions)))
        return ProbeResult(probe.name, api, MISSING, f"the app-only token for {api} lacks {wanted}",
                           "grant admin consent (kodo-provision onboard grants what the manifest lists)")
    if probe.name == "ews" and not ctx.cloud.exchange_endpoint:
        return ProbeResult(probe.name, api, NOT_PROBED, f"no EWS endpoint is known for the {ctx.cloud.name} cloud",
                           "pass --exchange-endpoint URL")
    if probe.needs_mailbox and not ctx.mailbox:
        return ProbeResult(probe.name, api, NOT_PROBED, "no user with a mailbox to read was found",
                           "pass --probe-mailbox with the address of a user who has a mailbox")
    return None


async def _directory(probe: Probe, api: str, ctx: ProbeContext, granted: set[str]) -> ProbeResult:
    """List users; the first with a mailbox (`mail`) becomes the one the mailbox reads use."""
    skipped = _not_readable(probe, api, ctx, granted)
    if skipped is not None:
        return skipped
    token = ctx.tokens[probe.resource_app_id][0]
    answer = await ctx.reader.graph_get(ctx.cloud.graph_base_url,
                                        "/users?$top=20&$select=id,userPrincipalName,mail", token)
    if answer.ok and ctx.mailbox is None:
        users = (answer.body or {}).get("value") or []
        ctx.mailbox = next((str(u["mail"]) for u in users if u.get("mail")), None)
    return _classify(probe, api, answer, ctx)


async def _one(probe: Probe, api: str, ctx: ProbeContext, granted: set[str]) -> ProbeResult:
    skipped = _not_readable(probe, api, ctx, granted)
    return skipped if skipped is not None else _classify(probe, api, await _read(probe, ctx), ctx)


def _app_tokens(cloud: Cloud, tenant_id: str, client_id: str, secret: str, certificate_path: str | None,
                ca_bundle: str | None) -> AppOnlyTokens:
    if certificate_path:
        return AppOnlyCertificateTokens(cloud, tenant_id, client_id, certificate_path, ca_bundle=ca_bundle)
    return AppOnlyTokens(cloud, tenant_id, client_id, secret, ca_bundle=ca_bundle)


def _fetch_tokens(tokens: AppOnlyTokens, desired: DesiredState, app_ids: set[str]
                  ) -> tuple[dict[str, tuple[str, frozenset[str]]], dict[str, str]]:
    """(resource app ID -> (token, roles)), (resource app ID -> why there is none). Synchronous (a thread)."""
    got: dict[str, tuple[str, frozenset[str]]] = {}
    failed: dict[str, str] = {}
    for resource in desired.resources:
        audience = resource.sp.token_resource if resource.sp else None
        if resource.app_id not in app_ids or audience is None:
            continue
        try:
            token, claims = tokens.token(audience)
        except KodoError as exc:
            failed[resource.app_id] = exc.one_line()
            continue
        got[resource.app_id] = (token, frozenset(claims.get("roles") or ()))
    return got, failed


async def probe_data_access(cloud: Cloud, tenant_id: str, client_id: str, secret: str, desired: DesiredState, *,
                            ca_bundle: str | None, certificate_path: str | None = None,
                            mailbox: str | None = None) -> list[ProbeResult]:
    """One read per API the manifest grants, as the KODO app (its secret or certificate); never writes.
    The directory read goes first: it finds a user with a mailbox (unless `mailbox` names one)."""
    wanted = applicable(desired)
    granted = {r.app_id: {p.name for p in r.application} for r in desired.resources}
    tokens = _app_tokens(cloud, tenant_id, client_id, secret, certificate_path, ca_bundle)
    try:
        fetched, failed = await asyncio.to_thread(
            _fetch_tokens, tokens, desired, {p.resource_app_id for p, _ in wanted if p.permissions})
    finally:
        tokens.close()
    async with DataReader(ca_bundle=ca_bundle) as reader:
        ctx = ProbeContext(cloud, client_id, reader, fetched, mailbox)
        first = [await _directory(p, api, ctx, granted[p.resource_app_id]) for p, api in wanted
                 if p.name == "directory"]
        rest: list[Awaitable[ProbeResult]] = [_one(p, api, ctx, granted[p.resource_app_id]) for p, api in wanted
                                              if p.name != "directory"]
        results = first + list(await asyncio.gather(*rest))
    return [ProbeResult(r.name, r.api, ERROR, f"no app-only token for {r.api}: {failed[_app_of(r)]}")
            if r.state == ERROR and _app_of(r) in failed else r for r in results]


def _app_of(result: ProbeResult) -> str:
    return next(p.resource_app_id for p in PROBES if p.name == result.name)
