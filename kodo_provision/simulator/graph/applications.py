"""applications: create, list, get, update, upsert by uniqueName, delete, addPassword, removePassword.

https://learn.microsoft.com/en-us/graph/api/resources/application
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .. import clock, roles
from ..store import Obj
from .common import (
    READ_APPS_APPLICATION,
    READ_APPS_DELEGATED,
    WRITE_APPS_APPLICATION,
    WRITE_APPS_DELEGATED,
    Ctx,
    GraphError,
    GraphResponse,
    bad_request,
    collection,
    entity,
    insufficient_privileges,
    new_guid,
    not_found,
    utc_now_iso,
    visible_views,
)
from .policies import check_password
from .router import APP_REF, route

# Properties the caller cannot set (read-only in the resource reference).
_READ_ONLY = {"id", "appId", "createdDateTime", "deletedDateTime", "publisherDomain", "passwordCredentials"}
_FILTERABLE = {"appId", "displayName", "uniqueName", "identifierUris", "id", "signInAudience", "publisherDomain"}


def app_body(ctx: Ctx, props: dict[str, Any], unique_name: str | None = None) -> dict[str, Any]:
    """A new application's body: Graph defaults overlaid with the caller's properties."""
    body: dict[str, Any] = {
        "id": new_guid(),
        "appId": new_guid(),
        "displayName": None,
        "uniqueName": unique_name,
        "createdDateTime": utc_now_iso(),
        "deletedDateTime": None,
        "description": None,
        "notes": None,
        "publisherDomain": ctx.tenant.default_domain,
        "signInAudience": "AzureADMyOrg",
        "identifierUris": [],
        "tags": [],
        "appRoles": [],
        "api": {"oauth2PermissionScopes": [], "preAuthorizedApplications": [], "requestedAccessTokenVersion": None},
        "requiredResourceAccess": [],
        "passwordCredentials": [],
        "keyCredentials": [],
        "web": {"redirectUris": [], "homePageUrl": None, "logoutUrl": None},
        "publicClient": {"redirectUris": []},
        "spa": {"redirectUris": []},
        "info": {},
    }
    body.update(_writable(props))
    return body


def _writable(props: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(k for k in props if k in _READ_ONLY)
    if bad:
        raise bad_request(f"Property '{bad[0]}' is read-only and cannot be set.")
    return {k: copy.deepcopy(v) for k, v in props.items() if not k.startswith("@odata.")}


def _load_certificate(raw: str) -> x509.Certificate:
    data = base64.b64decode(raw)
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return x509.load_pem_x509_certificate(data)


def apply_key_credentials(obj: Obj, creds: list[dict[str, Any]]) -> None:
    """Replace the app's keyCredentials (certificates) as PATCH does; keep only metadata in the body.

    https://learn.microsoft.com/en-us/graph/api/resources/keycredential ; the public key is kept
    aside so that client assertions signed with the certificate can be verified.
    """
    old_meta = {k["keyId"]: k for k in obj.data.get("keyCredentials", [])}
    old_certs = obj.extra.get("certs", {})
    meta, certs = [], {}
    for cred in creds or []:
        key_id = str(cred.get("keyId") or uuid.uuid4())
        if not cred.get("key"):
            if key_id in old_meta:  # an existing key listed again without its value: kept
                meta.append(old_meta[key_id])
                certs[key_id] = old_certs[key_id]
                continue
            raise bad_request("Property 'key' is required for a new keyCredential.")
        try:
            cert = _load_certificate(str(cred["key"]))
        except ValueError as exc:
            raise bad_request("Invalid value specified for property 'key' of resource 'KeyCredential'.") from exc
        # The x5t thumbprint is SHA-1 by definition (RFC 7515 §4.1.7), not a security choice.
        sha1 = cert.fingerprint(hashes.SHA1())  # noqa: S303  # nosec B303
        meta.append({
            "customKeyIdentifier": base64.b64encode(sha1).decode(),
            "displayName": cred.get("displayName") or cert.subject.rfc4514_string(),
            "endDateTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "key": None,
            "keyId": key_id,
            "startDateTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type": cred.get("type", "AsymmetricX509Cert"),
            "usage": cred.get("usage", "Verify"),
        })
        certs[key_id] = {"sha1": sha1, "sha256": cert.fingerprint(hashes.SHA256()), "cert": cert,
                         "created": clock.monotonic()}  # a new key is refused for new_secret_delay_ms
    obj.data["keyCredentials"] = meta
    obj.extra["certs"] = certs


def resolve_app(ctx: Ctx, id: str | None, key: str | None, val: str | None, *, include_hidden: bool = False) -> Obj:
    """The application addressed by id or alternate key, or 404 (also while it is still replicating)."""
    obj = ctx.tenant.app_by("id", id, include_hidden=include_hidden) if id else ctx.tenant.app_by(
        key or "id", val or "", include_hidden=include_hidden)
    if obj is None:
        raise not_found(id or f"{key}='{val}'")
    return obj


def _require_create(ctx: Ctx) -> None:
    ctx.require(WRITE_APPS_DELEGATED, WRITE_APPS_APPLICATION)
    # Default user permission "Users can register applications" or an app-management role:
    # https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/delegate-app-roles
    if ctx.delegated and not ctx.tenant.spec.settings.users_can_register_apps:
        ctx.require_directory_role(roles.APP_CREATORS)


def _require_manage(ctx: Ctx, obj: Obj) -> None:
    """Update/delete/credentials: an app-management role, or an owner of the app."""
    ctx.require(WRITE_APPS_DELEGATED, WRITE_APPS_APPLICATION)
    if ctx.delegated:
        if ctx.caller_id in obj.extra.get("owners", ()):
            return
        ctx.require_directory_role(roles.APP_MANAGERS)
    elif "Application.ReadWrite.All" not in ctx.app_roles and ctx.caller_id not in obj.extra.get("owners", ()):
        raise insufficient_privileges()  # Application.ReadWrite.OwnedBy only covers owned apps


def create(ctx: Ctx, props: dict[str, Any], unique_name: str | None = None) -> Obj:
    """Create and store an application (visible after the replication delay)."""
    _require_create(ctx)
    if not props.get("displayName"):
        raise bad_request("Property 'displayName' is required.", code="Request_BadRequest")
    unique_name = unique_name or props.pop("uniqueName", None)
    if unique_name and ctx.tenant.app_by("uniqueName", unique_name, include_hidden=True):
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                         "Another object with the same value for property uniqueName already exists.")
    key_creds = props.pop("keyCredentials", None)
    body = app_body(ctx, props, unique_name)
    # The creator becomes an owner - except (Cloud) Application Administrators, who "are not added as
    # owners when creating new application registrations" (permissions reference).
    owner = not (ctx.delegated and ctx.directory_roles & {roles.APPLICATION_ADMINISTRATOR,
                                                           roles.CLOUD_APPLICATION_ADMINISTRATOR})
    obj = Obj(body, visible_at=clock.monotonic() + ctx.core.faults.replication_delay(),
              extra={"owners": [ctx.caller_id] if owner else [], "secrets": {}})
    if key_creds:
        apply_key_credentials(obj, key_creds)
    ctx.tenant.applications[body["id"]] = obj
    return obj


@route("GET", r"/applications", "applications.list")
def list_apps(ctx: Ctx) -> GraphResponse:
    """GET /applications - https://learn.microsoft.com/en-us/graph/api/application-list"""
    ctx.require(READ_APPS_DELEGATED, READ_APPS_APPLICATION)
    return collection(ctx, "applications", visible_views(ctx.tenant.applications), _FILTERABLE, "application")


@route("POST", r"/applications", "applications.create")
def post_app(ctx: Ctx) -> GraphResponse:
    """POST /applications - https://learn.microsoft.com/en-us/graph/api/application-post-applications"""
    obj = create(ctx, dict(ctx.request.json()))
    return entity(ctx, "applications", obj.data, status=201)


@route("GET", APP_REF, "applications.get")
def get_app(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """GET /applications/{id} | (appId='') | (uniqueName='') - https://learn.microsoft.com/en-us/graph/api/application-get"""
    ctx.require(READ_APPS_DELEGATED, READ_APPS_APPLICATION)
    return entity(ctx, "applications", resolve_app(ctx, id, key, val).view())


@route("PATCH", r"/applications\((?P<key>uniqueName)='(?P<val>[^']*)'\)", "applications.upsert")
def upsert_app(ctx: Ctx, key: str, val: str) -> GraphResponse:
    """PATCH /applications(uniqueName='...') - see patch_app."""
    return patch_app(ctx, None, key, val)


@route("PATCH", APP_REF, "applications.update")
def patch_app(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """PATCH by id/appId, or the uniqueName upsert.

    Upsert (https://learn.microsoft.com/en-us/graph/api/application-upsert): with
    `Prefer: create-if-missing` a missing app is created (201 + body), an existing one updated (204);
    without the header a missing app is 404. The uniqueName lookup sees objects that are still
    replicating, so a uniqueName can never be duplicated.
    Collection properties such as requiredResourceAccess are replaced whole by PATCH
    (https://learn.microsoft.com/en-us/graph/api/application-update).
    """
    props = dict(ctx.request.json())
    if key == "uniqueName":
        # The lookup sees the latest state, unless stale_lookups says it is served by a replica the
        # create has not reached: then the create below conflicts with the app on the primary (409).
        obj = ctx.tenant.app_by("uniqueName", val or "", include_hidden=not ctx.core.faults.faults.stale_lookups)
        if obj is None:
            if "create-if-missing" not in ctx.request.headers.get("prefer", "").lower():
                raise not_found(f"uniqueName='{val}'")
            props.pop("uniqueName", None)
            created = create(ctx, props, unique_name=val)
            return entity(ctx, "applications", created.data, status=201)
    else:
        obj = resolve_app(ctx, id, key, val)
    _require_manage(ctx, obj)
    if "uniqueName" in props and props["uniqueName"] != obj.data.get("uniqueName"):
        raise bad_request("Property 'uniqueName' is immutable once set.")
    props.pop("uniqueName", None)
    key_creds = props.pop("keyCredentials", None)
    changes = _writable(props)
    obj.will_change(ctx.core.faults.replication_delay())
    obj.data.update(changes)
    if key_creds is not None:
        apply_key_credentials(obj, key_creds)
    return GraphResponse(204)


@route("DELETE", APP_REF, "applications.delete")
def delete_app(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """DELETE: the app goes to deletedItems for 30 days; its SP in the home tenant is removed.

    https://learn.microsoft.com/en-us/graph/api/application-delete
    """
    obj = resolve_app(ctx, id, key, val)
    _require_manage(ctx, obj)
    del ctx.tenant.applications[obj.id]
    obj.data["deletedDateTime"] = utc_now_iso()
    obj.data["@odata.type"] = "#microsoft.graph.application"
    ctx.tenant.deleted[obj.id] = obj
    sp = ctx.tenant.sp_by("appId", obj.data["appId"], include_hidden=True)
    if sp is not None:
        from .service_principals import remove_sp

        remove_sp(ctx.tenant, sp)
    return GraphResponse(204)


def _parse_dt(value: Any, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"Invalid DateTimeOffset value '{value}'.") from exc


def _secret_text() -> str:
    # Real secrets are 40 characters with "8Q~" after a 3-character hint.
    alphabet = string.ascii_letters + string.digits + "~._-"
    return "".join(secrets.choice(alphabet) for _ in range(3)) + "8Q~" + "".join(
        secrets.choice(alphabet) for _ in range(34))


def secret_hash(secret: str) -> str:
    """We keep only a hash of each secret (like Entra, which never returns secretText again)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@route("POST", APP_REF + r"/addPassword", "applications.addPassword")
def add_password(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """POST .../addPassword - https://learn.microsoft.com/en-us/graph/api/application-addpassword

    The app's own or the tenant's app management policy may cap the lifetime or forbid secrets:
    https://learn.microsoft.com/en-us/graph/api/resources/tenantappmanagementpolicy (policies.py)
    """
    obj = resolve_app(ctx, id, key, val)
    _require_manage(ctx, obj)
    cred = (ctx.request.json() or {}).get("passwordCredential") or {}
    now = datetime.now(UTC).replace(microsecond=0)
    start = _parse_dt(cred.get("startDateTime"), now)
    end = _parse_dt(cred.get("endDateTime"), start + timedelta(days=730))  # Graph default: 2 years
    check_password(ctx, obj, start, end)  # the app's own policy, else the tenant default
    secret = _secret_text()
    meta = {
        "customKeyIdentifier": None,
        "displayName": cred.get("displayName"),
        "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hint": secret[:3],
        "keyId": str(uuid.uuid4()),
        "secretText": None,
        "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    obj.data["passwordCredentials"].append(meta)
    obj.extra.setdefault("secrets", {})[meta["keyId"]] = {"hash": secret_hash(secret), "created": clock.monotonic()}
    body = {"@odata.context": f"{ctx.request.base_url}/$metadata#microsoft.graph.passwordCredential",
            **meta, "secretText": secret}
    return GraphResponse(200, body)


@route("POST", APP_REF + r"/removePassword", "applications.removePassword")
def remove_password(ctx: Ctx, id: str | None, key: str | None, val: str | None) -> GraphResponse:
    """POST .../removePassword {keyId} - https://learn.microsoft.com/en-us/graph/api/application-removepassword"""
    obj = resolve_app(ctx, id, key, val)
    _require_manage(ctx, obj)
    key_id = str((ctx.request.json() or {}).get("keyId", "")).lower()
    creds = obj.data["passwordCredentials"]
    keep = [c for c in creds if c["keyId"].lower() != key_id]
    if len(keep) == len(creds):
        raise bad_request(f"No password credential found with keyId '{key_id}'.")
    obj.data["passwordCredentials"] = keep
    obj.extra.get("secrets", {}).pop(key_id, None)
    return GraphResponse(204)


# --- deleted items -------------------------------------------------------------------------------
@route("GET", r"/directory/deletedItems/(?:microsoft\.)?graph\.application", "deletedItems.list")
def list_deleted_apps(ctx: Ctx) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-list"""
    ctx.require(READ_APPS_DELEGATED, READ_APPS_APPLICATION)
    items = [o.data for o in ctx.tenant.deleted.values()]
    return collection(ctx, "applications", items, _FILTERABLE, "application")


@route("GET", r"/directory/deletedItems/(?P<oid>[^/]+)", "deletedItems.get")
def get_deleted(ctx: Ctx, oid: str) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-get"""
    ctx.require(READ_APPS_DELEGATED, READ_APPS_APPLICATION)
    obj = ctx.tenant.deleted.get(oid)
    if obj is None:
        raise not_found(oid)
    return entity(ctx, "directory/deletedItems", obj.data)


@route("DELETE", r"/directory/deletedItems/(?P<oid>[^/]+)", "deletedItems.purge")
def purge_deleted(ctx: Ctx, oid: str) -> GraphResponse:
    """Permanently delete - https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-delete"""
    obj = ctx.tenant.deleted.get(oid)
    if obj is None:
        raise not_found(oid)
    _require_manage(ctx, obj)
    del ctx.tenant.deleted[oid]
    return GraphResponse(204)


@route("POST", r"/directory/deletedItems/(?P<oid>[^/]+)/restore", "deletedItems.restore")
def restore_deleted(ctx: Ctx, oid: str) -> GraphResponse:
    """https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-restore"""
    obj = ctx.tenant.deleted.get(oid)
    if obj is None:
        raise not_found(oid)
    _require_manage(ctx, obj)
    del ctx.tenant.deleted[oid]
    obj.data["deletedDateTime"] = None
    obj.data.pop("@odata.type", None)
    ctx.tenant.applications[oid] = obj
    return entity(ctx, "directoryObjects", obj.data)
