"""Microsoft 365 data reads as an app-only caller sees them: users, mail, the mailbox export API, SharePoint
and OneDrive, with the tenant settings that block them (scenario ExchangeOnlineSpec, `sharepoint`).

Where Microsoft documents no error body for a case, the simulator answers the generic one, so a client can
only tell "blocked" from "permission missing" the way it can in Entra: by the roles its token holds.
"""

from __future__ import annotations

from typing import Any

from ..store import User
from .common import Ctx, GraphError, GraphResponse, collection, entity
from .directory import USER_READ
from .router import route

READ_USERS_APPLICATION = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
READ_MAIL_APPLICATION = ("Mail.ReadBasic", "Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite")
READ_MAILBOX_FOLDERS_APPLICATION = ("MailboxFolder.Read.All", "MailboxFolder.ReadWrite.All")
READ_SITES_APPLICATION = ("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All")
READ_FILES_APPLICATION = ("Files.Read.All", "Files.ReadWrite.All", *READ_SITES_APPLICATION)


def exchange_access_denied() -> GraphError:
    """Exchange-backed Graph reads without a mail permission: 403 ErrorAccessDenied.
    (Q&A https://learn.microsoft.com/answers/questions/1025656 shows the body.)"""
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def outside_app_scope() -> GraphError:
    """A mailbox the tenant's application access policy / RBAC for Applications scope excludes.
    https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access ("Handling API errors")"""
    return GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")


def no_mailbox() -> GraphError:
    """A user without an Exchange Online mailbox (no licence, inactive, on-premises).
    https://learn.microsoft.com/en-us/exchange/troubleshoot/user-and-shared-mailboxes/rest-api-is-not-yet-supported-for-this-mailbox-error"""
    return GraphError(404, "MailboxNotEnabledForRESTAPI",
                      "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")


def no_sharepoint() -> GraphError:
    """A tenant without SharePoint Online: Graph's site and drive reads answer 400 BadRequest (no Microsoft page
    documents it; e.g. OneDrive/onedrive-api-docs#1773, microsoftgraph/microsoft-graph-docs#4233)."""
    return GraphError(400, "BadRequest", "Tenant does not have a SPO license.")


def _user(ctx: Ctx, ref: str) -> User:
    """A user by object ID or UPN, as /users/{id | userPrincipalName} addresses it."""
    for user in ctx.tenant.users.values():
        if ref.lower() in (user.id, user.upn.lower()):
            return user
    raise GraphError(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist or one of its queried "
                     "reference-property objects are not present.")


def _mailbox_user(ctx: Ctx, ref: str, application: tuple[str, ...]) -> User:
    """The user whose mailbox an app reads: the permission, the mailbox, then the tenant's app scope."""
    if ctx.delegated or not ctx.app_roles & set(application):
        raise exchange_access_denied()
    user = _user(ctx, ref)
    if not user.mailbox:
        raise no_mailbox()
    if ctx.tenant.spec.exchange.excludes(user.upn):
        raise outside_app_scope()
    return user


@route("GET", r"/users", "users.list")
def list_users(ctx: Ctx) -> GraphResponse:
    """GET /users - https://learn.microsoft.com/en-us/graph/api/user-list"""
    ctx.require(USER_READ, READ_USERS_APPLICATION)
    users = [u.graph_body() for u in sorted(ctx.tenant.users.values(), key=lambda u: u.upn)]
    return collection(ctx, "users", users, {"userPrincipalName", "mail", "id"}, "user")


# https://learn.microsoft.com/en-us/graph/api/resources/mailfolder (well-known folder names)
WELL_KNOWN_FOLDERS = {"archive", "clutter", "conflicts", "conversationhistory", "deleteditems", "drafts", "inbox",
                      "junkemail", "localfailures", "msgfolderroot", "outbox", "recoverableitemsdeletions",
                      "scheduled", "searchfolders", "sentitems", "serverfailures", "syncissues"}


@route("GET", r"/users/(?P<ref>[^/]+)", "users.get")
def get_user(ctx: Ctx, ref: str) -> GraphResponse:
    """GET /users/{id | userPrincipalName} - https://learn.microsoft.com/en-us/graph/api/user-get (an SMTP
    address that is not the UPN is not a key: 404)"""
    ctx.require(USER_READ, READ_USERS_APPLICATION)
    return entity(ctx, "users", _user(ctx, ref).graph_body())


@route("GET", r"/users/(?P<ref>[^/]+)/mailFolders/(?P<folder>[^/]+)", "users.mailFolders.get")
def get_mail_folder(ctx: Ctx, ref: str, folder: str) -> GraphResponse:
    """GET /users/{id}/mailFolders/{id | well-known name} - https://learn.microsoft.com/en-us/graph/api/mailfolder-get"""
    user = _mailbox_user(ctx, ref, READ_MAIL_APPLICATION)
    if folder.lower() not in WELL_KNOWN_FOLDERS and not folder.startswith(f"AAMk-{user.id}-"):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    body: dict[str, Any] = {"id": f"AAMk-{user.id}-{folder.lower()}", "displayName": folder.title(),
                            "parentFolderId": f"AAMk-{user.id}-root", "childFolderCount": 0,
                            "unreadItemCount": 0, "totalItemCount": 0}
    return entity(ctx, f"users('{user.id}')/mailFolders", body)


@route("GET", r"/users/(?P<ref>[^/]+)/settings/exchange", "users.settings.exchange")
def get_exchange_settings(ctx: Ctx, ref: str) -> GraphResponse:
    """GET /users/{id}/settings/exchange: the mailbox ID the export API addresses.
    https://learn.microsoft.com/en-us/graph/api/usersettings-list-exchange (User.Read.All)"""
    ctx.require(USER_READ, READ_USERS_APPLICATION)
    user = _user(ctx, ref)
    if not user.mailbox:
        raise no_mailbox()
    return entity(ctx, f"users('{user.id}')/settings/exchange",
                  {"primaryMailboxId": f"MBX:{user.id}@{ctx.tenant.id}"})


@route("GET", r"/admin/exchange/mailboxes/(?P<mailbox>[^/]+)/folders", "mailboxes.folders.list")
def list_mailbox_folders(ctx: Ctx, mailbox: str) -> GraphResponse:
    """GET /admin/exchange/mailboxes/{id}/folders - https://learn.microsoft.com/en-us/graph/api/mailbox-list-folders
    (MailboxFolder.Read.All). Outside the app's RBAC scope: the generic 403 (no documented body)."""
    if ctx.delegated or not ctx.app_roles & set(READ_MAILBOX_FOLDERS_APPLICATION):
        raise exchange_access_denied()
    user = _mailbox_by_id(ctx, mailbox)
    if ctx.tenant.spec.exchange.excludes(user.upn):
        raise exchange_access_denied()
    folders = [{"id": f"{mailbox}-{name.lower()}", "displayName": name, "parentFolderId": f"{mailbox}-root",
                "childFolderCount": 0, "totalItemCount": 0} for name in ("Inbox", "Sent Items", "Calendar")]
    return collection(ctx, f"admin/exchange/mailboxes('{mailbox}')/folders", folders, {"displayName"}, "mailboxFolder")


def _mailbox_by_id(ctx: Ctx, mailbox: str) -> User:
    """The user whose primaryMailboxId (usersettings-list-exchange) this is; anything else: 404 (the mailbox
    API documents no error body for an unknown mailbox: the generic one)."""
    for user in ctx.tenant.users.values():
        if user.mailbox and mailbox == f"MBX:{user.id}@{ctx.tenant.id}":
            return user
    raise GraphError(404, "ResourceNotFound", "Resource not found.")


@route("GET", r"/sites/root", "sites.root")
def get_root_site(ctx: Ctx) -> GraphResponse:
    """GET /sites/root - https://learn.microsoft.com/en-us/graph/api/site-get"""
    if not ctx.tenant.spec.sharepoint:
        raise no_sharepoint()
    ctx.require(("Sites.Read.All", "Sites.ReadWrite.All"), READ_SITES_APPLICATION)
    domain = ctx.tenant.default_domain.split(".")[0]
    return entity(ctx, "sites", {"id": f"{domain}.sharepoint.com,{ctx.tenant.id},root", "name": "root",
                                 "webUrl": f"https://{domain}.sharepoint.com", "displayName": "Communication site"})


@route("GET", r"/users/(?P<ref>[^/]+)/drive", "users.drive")
def get_user_drive(ctx: Ctx, ref: str) -> GraphResponse:
    """GET /users/{id}/drive (the user's OneDrive) - https://learn.microsoft.com/en-us/graph/api/drive-get"""
    if not ctx.tenant.spec.sharepoint:
        raise no_sharepoint()
    ctx.require(("Files.Read.All", "Files.ReadWrite.All"), READ_FILES_APPLICATION)
    user = _user(ctx, ref)
    if not user.onedrive:
        # Not provisioned (never signed in, no licence, a shared mailbox): reported by backup tools, e.g.
        # alcionai/corso ("ResourceNotFound User's mysite not found"); Microsoft documents no body.
        raise GraphError(404, "ResourceNotFound", "User's mysite not found.")
    return entity(ctx, "drives", {"id": f"b!{user.id}", "driveType": "business", "name": "OneDrive"})


