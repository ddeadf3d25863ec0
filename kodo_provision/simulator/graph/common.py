"""Shared pieces of the Graph emulation: request/response types, errors, OData helpers, auth context.

Error body shape: https://learn.microsoft.com/en-us/graph/errors
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .. import clock
from ..store import Obj, Tenant

if TYPE_CHECKING:
    from ..core import SimulatorCore

DEFAULT_PAGE = 100
MAX_PAGE = 999


def utc_now_iso() -> str:
    """Graph's DateTimeOffset format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_guid() -> str:
    """A new object id."""
    return str(uuid.uuid4())


def new_opaque_id() -> str:
    """Ids of appRoleAssignments and oauth2PermissionGrants are 43-char base64url strings, not GUIDs.

    e.g. https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto (response)
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


@dataclass
class GraphRequest:
    """A Graph call (top level or one $batch item), version prefix removed from `path`."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # e.g. https://graph.microsoft.com/v1.0
    request_id: str = field(default_factory=new_guid)

    def json(self) -> Any:
        """The JSON body (400 BadRequest if it is not JSON)."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc


@dataclass
class GraphResponse:
    """What a handler returns; `body` None means no content."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


class GraphError(Exception):
    """An error answered with Graph's error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self, request_id: str, client_request_id: str | None) -> GraphResponse:
        """The Graph-shaped response: {"error": {"code", "message", "innerError": {...}}}."""
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": utc_now_iso(),
                    "request-id": request_id,
                    "client-request-id": client_request_id or request_id,
                },
            }
        }
        return GraphResponse(self.status, body, dict(self.headers))


def not_found(object_id: str) -> GraphError:
    """404 for a missing (or not yet replicated) object, worded as Graph does."""
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def insufficient_privileges() -> GraphError:
    """403 for a missing scope/role or directory role.

    https://learn.microsoft.com/en-us/graph/resolve-auth-errors
    """
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    """400 with Graph's directory error code."""
    return GraphError(400, code, message)


# --- authorization context -------------------------------------------------------------------
@dataclass
class Ctx:
    """Who calls, in which tenant, and helpers to check what they may do."""

    core: SimulatorCore
    tenant: Tenant
    claims: dict[str, Any]
    request: GraphRequest

    @property
    def delegated(self) -> bool:
        """A user token (has `scp`) rather than an app-only token (`roles`)."""
        return "scp" in self.claims

    @property
    def scopes(self) -> set[str]:
        """Delegated scopes."""
        return set(self.claims.get("scp", "").split())

    @property
    def app_roles(self) -> set[str]:
        """Application permissions."""
        return set(self.claims.get("roles", []))

    @property
    def directory_roles(self) -> set[str]:
        """Role template ids of the signed-in user (token `wids`)."""
        return set(self.claims.get("wids", []))

    @property
    def caller_id(self) -> str:
        """User oid or client SP id."""
        return self.claims.get("oid", "")

    def require(self, delegated: Iterable[str | tuple[str, ...]], application: Iterable[str | tuple[str, ...]]) -> None:
        """403 unless the token holds one of the permission alternatives of its kind.

        Each alternative is a permission name or a tuple of names that are all needed, mirroring the
        "Permissions" tables of the Graph API reference.
        """
        held = self.scopes if self.delegated else self.app_roles
        for alt in delegated if self.delegated else application:
            needed = (alt,) if isinstance(alt, str) else alt
            if all(n in held for n in needed):
                return
        raise insufficient_privileges()

    def require_directory_role(self, allowed: Iterable[str]) -> None:
        """403 unless a delegated caller holds one of `allowed` roles (app-only callers pass)."""
        if self.delegated and not (self.directory_roles & set(allowed)):
            raise insufficient_privileges()


# Permission alternatives (Graph API reference "Permissions" tables).
READ_APPS_DELEGATED = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
                       "Directory.ReadWrite.All", "Directory.AccessAsUser.All")
READ_APPS_APPLICATION = ("Application.Read.All", "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy",
                         "Directory.Read.All", "Directory.ReadWrite.All")
WRITE_APPS_DELEGATED = ("Application.ReadWrite.All", "Directory.AccessAsUser.All")
WRITE_APPS_APPLICATION = ("Application.ReadWrite.All", "Application.ReadWrite.OwnedBy")


# --- OData query options -----------------------------------------------------------------------
_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_ANY = re.compile(r"^\s*(\w+)/any\(\s*(\w+)\s*:\s*\2\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
_STARTSWITH = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)


def apply_filter(items: list[dict[str, Any]], expr: str | None, allowed: set[str], resource: str) -> list[dict]:
    """Apply a `$filter` of `prop eq 'v'`, `coll/any(x:x eq 'v')`, `startswith(prop,'v')` joined by `and`.

    https://learn.microsoft.com/en-us/graph/filter-query-parameter
    """
    if not expr:
        return items
    preds = []
    for clause in re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE):
        m = _EQ.match(clause)
        if m:
            prop, val = m.group(1), m.group(2).replace("''", "'")
            _check_prop(prop, allowed, resource)
            preds.append(lambda o, p=prop, v=val: str(o.get(p, "")).lower() == v.lower())
            continue
        m = _ANY.match(clause)
        if m:
            prop, val = m.group(1), m.group(3).replace("''", "'")
            _check_prop(prop, allowed, resource)
            preds.append(lambda o, p=prop, v=val: v.lower() in [str(x).lower() for x in o.get(p) or []])
            continue
        m = _STARTSWITH.match(clause)
        if m:
            prop, val = m.group(1), m.group(2).replace("''", "'")
            _check_prop(prop, allowed, resource)
            preds.append(lambda o, p=prop, v=val: str(o.get(p) or "").lower().startswith(v.lower()))
            continue
        raise bad_request(f"Invalid filter clause: {clause.strip()!r}", code="BadRequest")
    return [o for o in items if all(p(o) for p in preds)]


def _check_prop(prop: str, allowed: set[str], resource: str) -> None:
    if prop not in allowed:
        raise bad_request(
            f"Unsupported or invalid query filter clause specified for property '{prop}' of resource '{resource}'.",
            code="Request_UnsupportedQuery",
        )


def apply_select(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    """`$select`: keep only the listed properties (plus OData annotations)."""
    if not select:
        return item
    keep = {s.strip() for s in select.split(",") if s.strip()}
    return {k: v for k, v in item.items() if k in keep or k.startswith("@odata.")}


def entity(ctx: Ctx, entity_set: str, item: dict[str, Any], status: int = 200) -> GraphResponse:
    """A single entity with `@odata.context`."""
    select = ctx.request.query.get("$select")
    ctx_url = f"{ctx.request.base_url}/$metadata#{entity_set}/$entity"
    return GraphResponse(status, {"@odata.context": ctx_url, **apply_select(item, select)})


def collection(ctx: Ctx, entity_set: str, items: list[dict[str, Any]], filterable: set[str],
               resource: str) -> GraphResponse:
    """A collection response with `$filter`, `$select`, `$top`, `$count` and `@odata.nextLink` paging.

    Paging: https://learn.microsoft.com/en-us/graph/paging
    """
    q = ctx.request.query
    items = apply_filter(items, q.get("$filter"), filterable, resource)
    try:
        top = int(q.get("$top", DEFAULT_PAGE))
        offset = int(base64.urlsafe_b64decode(q["$skiptoken"] + "==").decode()) if "$skiptoken" in q else 0
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("Invalid $top or $skiptoken value.", code="BadRequest") from exc
    if not 1 <= top <= MAX_PAGE:
        raise bad_request(f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE} inclusive.",
                          code="Request_BadRequest")
    page = items[offset: offset + top]
    body: dict[str, Any] = {"@odata.context": f"{ctx.request.base_url}/$metadata#{entity_set}"}
    if q.get("$count", "").lower() == "true":
        body["@odata.count"] = len(items)
    if offset + top < len(items):
        token = base64.urlsafe_b64encode(str(offset + top).encode()).rstrip(b"=").decode()
        nq = {k: v for k, v in q.items() if k != "$skiptoken"} | {"$skiptoken": token}
        body["@odata.nextLink"] = f"{ctx.request.base_url}{ctx.request.path}?{urlencode(nq, safe='$,/:()')}"
    body["value"] = [apply_select(i, q.get("$select")) for i in page]
    return GraphResponse(200, body)


def visible(objs: dict[str, Obj]) -> list[Obj]:
    """Objects that have finished "replicating"."""
    now = clock.monotonic()
    return [o for o in objs.values() if o.visible(now)]


def visible_views(objs: dict[str, Obj]) -> list[dict[str, Any]]:
    """Bodies of visible objects as reads see them (a recent change may not show yet)."""
    now = clock.monotonic()
    return [o.view(now) for o in objs.values() if o.visible(now)]
