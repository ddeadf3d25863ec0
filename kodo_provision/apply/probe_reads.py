"""The requests of the data-access probes: the app-only tokens, finding a mailbox to read, one read each."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..auth import AppOnlyTokens
from ..cloud import Cloud
from ..errors import KodoError
from ..graph.data_reads import ReadAnswer, user_path
from .probe_model import EXCHANGE_APP_ID, GRAPH_APP_ID, MailboxUser, Probe, ProbeContext

_USER_FIELDS = "$select=id,userPrincipalName,mail,userType"


def fetch_tokens(tokens: AppOnlyTokens, cloud: Cloud, app_ids: set[str]
                 ) -> tuple[dict[str, tuple[str, frozenset[str]]], dict[str, str]]:
    """(resource app ID -> (token, roles)), (resource app ID -> why there is none). Synchronous (a thread).
    Each token is for the resource URI the requests go to: Graph's, and Exchange Online's for EWS."""
    audiences = {GRAPH_APP_ID: cloud.graph_resource, EXCHANGE_APP_ID: cloud.exchange_resource}
    got: dict[str, tuple[str, frozenset[str]]] = {}
    failed: dict[str, str] = {}
    for app_id in sorted(app_ids):
        audience = audiences.get(app_id)
        if audience is None:
            failed[app_id] = f"no resource URI is known for this API in the {cloud.name} cloud"
            continue
        try:
            token, claims = tokens.token(audience)
        except KodoError as exc:
            failed[app_id] = exc.one_line()
            continue
        got[app_id] = (token, frozenset(claims.get("roles") or ()))
    return got, failed


def _as_mailbox(user: dict[str, Any]) -> MailboxUser | None:
    """A member with a primary SMTP address (a guest's `mail` is an outside address: not a mailbox here)."""
    if not user.get("mail") or user.get("userType") == "Guest":
        return None
    return MailboxUser(str(user["id"]), str(user.get("userPrincipalName") or ""), str(user["mail"]))


async def read_directory(ctx: ProbeContext, token: str) -> ReadAnswer:
    """List users (or read the one named by --probe-mailbox); the mailbox the other reads use is set here."""
    base, named = ctx.cloud.graph_base_url, ctx.named
    if named:
        answer = await ctx.reader.graph_get(base, f"/users/{quote(named, safe='@')}?{_USER_FIELDS}", token)
        ctx.mailbox = _as_mailbox(answer.body or {}) if answer.ok else None
        ctx.no_mailbox = None if ctx.mailbox else (f"{named} has no Exchange Online mailbox" if answer.ok else
                                                   f"{named} could not be read (HTTP {answer.status})")
        return answer
    answer = await ctx.reader.graph_get(base, f"/users?$top=50&{_USER_FIELDS}", token)
    users = (answer.body or {}).get("value") or [] if answer.ok else []
    ctx.mailbox = next((m for m in map(_as_mailbox, users) if m), None)
    ctx.no_mailbox = None if ctx.mailbox else "no member user with a mailbox among the first 50 users"
    return answer


async def read(probe: Probe, ctx: ProbeContext) -> ReadAnswer:
    """The one read of `probe` (ctx.mailbox is set where the read needs one)."""
    base, token = ctx.cloud.graph_base_url, ctx.tokens.get(probe.resource_app_id, ("", frozenset()))[0]
    user = ctx.mailbox
    if probe.name == "directory":
        return await read_directory(ctx, token)
    if probe.name == "mail":
        assert user is not None
        return await ctx.reader.graph_get(base, user_path(user.id, "/mailFolders/inbox?$select=id"), token)
    if probe.name == "mailbox_export":
        assert user is not None
        settings = await ctx.reader.graph_get(base, user_path(user.id, "/settings/exchange"), token)
        mailbox_id = (settings.body or {}).get("primaryMailboxId") if settings.ok else None
        if not settings.ok or not mailbox_id:
            return settings if not settings.ok else ReadAnswer(404, "NoPrimaryMailboxId",
                                                               "the user's settings name no primary mailbox")
        return await ctx.reader.graph_get(base, f"/admin/exchange/mailboxes/{quote(str(mailbox_id), safe=':@')}"
                                                "/folders?$top=1", token)
    if probe.name == "onedrive":
        assert user is not None
        return await ctx.reader.graph_get(base, user_path(user.id, "/drive?$select=id"), token)
    if probe.name == "sharepoint":
        return await ctx.reader.graph_get(base, "/sites/root?$select=id", token)
    assert probe.name == "ews" and ctx.cloud.exchange_endpoint and user is not None
    return await ctx.reader.ews_get_inbox(ctx.cloud.exchange_endpoint, token, user.mail)
