"""Exchange Web Services (EWS) in Exchange Online, as far as an app-only GetFolder goes: the token, the
tenant's EWS settings (scenario ExchangeOnlineSpec), the impersonated mailbox.

Sources:
- OAuth for EWS, app-only: full_access_as_app, ExchangeImpersonation, X-AnchorMailbox
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-authenticate-an-ews-application-by-using-oauth
- EWS blocked by default from 2026-10-01 unless enabled with an allow list (EwsEnabled, EwsAllowedAppIDs):
  Message Center MC1227454; https://learn.microsoft.com/en-us/powershell/module/exchangepowershell/set-organizationconfig
- Blocked requests answer HTTP 403 (a Microsoft engineer: "403 is policy block",
  David-Barrett-MS/PowerShell-EWS-Scripts#62); Microsoft documents no body, so there is none here.
- A token without EWS permission: 401 / 403 with x-ms-diagnostics 2000008 (otris/ews-cpp#148,
  ecederstrand/exchangelib#1321: third-party reports of the real header).
- SOAP response codes: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
- The impersonated mailbox is named by its primary SMTP address (ConnectingSID/PrimarySmtpAddress), not the UPN.
"""

from __future__ import annotations

import re
from typing import Any

from .catalogue import EXCHANGE_ONLINE_APP_ID, first_party_resources
from .core import SimulatorCore
from .store import Tenant

EWS_PATH = "/ews/exchange.asmx"
_IMPERSONATED = re.compile(r"<t:PrimarySmtpAddress>([^<]+)</t:PrimarySmtpAddress>", re.IGNORECASE)
_NO_PERMISSIONS = '2000008;reason="The token contains no permissions, or permissions can not be understood.";' \
                  'error_category="invalid_grant"'
_NOT_ENOUGH_SCOPE = '2000008;reason="The token contains not enough scope to make this call.";' \
                    'error_category="invalid_grant"'


def _audiences() -> set[str]:
    names = first_party_resources()[EXCHANGE_ONLINE_APP_ID].service_principal_names
    return {n.lower().rstrip("/") for n in names}


def _soap(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
            f'{body}</s:Body></s:Envelope>').encode()


def _get_folder_response(response_class: str, code: str, folder: str = "") -> bytes:
    message = "" if code == "NoError" else f"<m:MessageText>{code}</m:MessageText>"
    return _soap(f'<m:GetFolderResponse><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass='
                 f'"{response_class}">{message}<m:ResponseCode>{code}</m:ResponseCode>{folder}'
                 '</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>')


def _impersonation_required() -> bytes:
    """An app-only token without ExchangeImpersonation: a SOAP fault (the text as public EWS clients quote it,
    e.g. the stackoverflow question 56148996 they link; ResponseCode ErrorInvalidExchangeImpersonationHeaderData)."""
    return _soap('<s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">'
                 'a:ErrorInvalidExchangeImpersonationHeaderData</faultcode><faultstring xml:lang="en-US">'
                 'ExchangeImpersonation SOAP header must be present for this type of OAuth token.</faultstring>'
                 '</s:Fault>')


def _blocked_by_tenant(tenant: Tenant, app_id: str) -> bool:
    """EWS off for the organization, never enabled (blocked by default), or this app not allow-listed."""
    exchange = tenant.spec.exchange
    if not exchange.ews_enabled:
        return True
    allowed = exchange.ews_allowed_app_ids
    return allowed is not None and app_id.lower() not in {a.lower() for a in allowed}


def handle(core: SimulatorCore, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes, Any]:
    """(status, headers, body, tenant ID) for a POST to /EWS/Exchange.asmx (the caller holds core.lock)."""
    auth = headers.get("authorization", "")
    claims = core.issuer.verify(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    if claims is None or str(claims.get("aud", "")).lower().rstrip("/") not in _audiences():
        return 401, {"www-authenticate": 'Bearer client_id="00000002-0000-0ff1-ce00-000000000000"'}, b"", None
    tenant = core.directory.tenants.get(str(claims.get("tid")))
    if tenant is None:
        return 401, {}, b"", None
    roles = set(claims.get("roles") or ())
    if not roles:
        return 401, {"x-ms-diagnostics": _NO_PERMISSIONS}, b"", tenant.id
    if "full_access_as_app" not in roles:
        return 403, {"x-ms-diagnostics": _NOT_ENOUGH_SCOPE}, b"", tenant.id
    if _blocked_by_tenant(tenant, str(claims.get("appid", ""))):
        return 403, {}, b"", tenant.id
    match = _IMPERSONATED.search(body.decode("utf-8", "replace"))
    if match is None:
        return 500, {}, _impersonation_required(), tenant.id
    smtp = match.group(1).lower()
    user = next((u for u in tenant.users.values() if u.mail and u.mail.lower() == smtp), None)
    if user is None or not user.mailbox:
        return 200, {}, _get_folder_response("Error", "ErrorNonExistentMailbox"), tenant.id
    if tenant.spec.exchange.excludes(user.upn):
        return 200, {}, _get_folder_response("Error", "ErrorAccessDenied"), tenant.id
    folder = f'<m:Folders><t:Folder><t:FolderId Id="AAMk-{user.id}-inbox"/></t:Folder></m:Folders>'
    return 200, {}, _get_folder_response("Success", "NoError", folder), tenant.id
