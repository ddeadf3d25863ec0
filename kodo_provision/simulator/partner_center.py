"""Partner Center's REST API, the part CSP partners use to reach customers: the customer list and
application consent (how MSP tools such as CIPP get their own multi-tenant app consented in a
customer without a customer admin).

- `GET /v1/customers?size=N` - https://learn.microsoft.com/en-us/partner-center/developer/get-a-list-of-customers
  Seek-based paging: `links.next` with an `MS-ContinuationToken` header (the invoice docs show the
  shape verbatim; that customers page the same way follows from the SDK's seek-based collection).
- `POST /v1/customers/{tenant}/applicationconsents` {applicationId, applicationGrants:
  [{enterpriseApplicationId, scope: "A,B"}], displayName?} - 201 with the consent echoed; the app's
  service principal and tenant-wide delegated grants appear in the customer; 409 when the app is
  consented there already ("Permission entry already exists." is what CIPP matches).
  https://learn.microsoft.com/en-us/partner-center/developer/control-panel-vendor-apis
- `DELETE /v1/customers/{tenant}/applicationconsents/{applicationId}` - the consent is removed.
- The caller must hold, through an approved GDAP relationship, Global Administrator, Privileged Role
  Administrator or Cloud Application Administrator in the customer (403 otherwise); a tenant that is
  not the partner's customer is 404 (Partner Center's error-codes page: "Not found").
  https://learn.microsoft.com/en-us/powershell/partnercenter/exchange-online-gdap-app
- Errors: `{"code": <number>, "description", "data": [], "source": "PartnerFD"}`
  (https://learn.microsoft.com/en-us/partner-center/developer/error-codes).
- A pushed consent reaches the customer's token service after its `consent_propagation_s`.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from . import clock
from .catalogue import first_party_resources
from .consent import client_app, record_consent
from .core import SimulatorCore
from .roles import CLOUD_APPLICATION_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR
from .store import Tenant, User

PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
AUDIENCES = {"https://api.partnercenter.microsoft.com", PARTNER_CENTER_APP_ID}
_CUSTOMERS = re.compile(r"^/v1/customers/?$")
_CONSENTS = re.compile(r"^/v1/customers/(?P<tenant>[^/]+)/applicationconsents/?$")
_CONSENT = re.compile(r"^/v1/customers/(?P<tenant>[^/]+)/applicationconsents/(?P<app>[^/]+)/?$")
# Microsoft Graph delegated admin roles that may consent through Partner Center (GDAP app docs).
CONSENTING_ROLES = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR})


class PartnerCenterError(Exception):
    """An error in Partner Center's body shape."""

    def __init__(self, status: int, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "data": [], "source": "PartnerFD"}


def handle(core: SimulatorCore, method: str, path: str, query: dict[str, str], headers: dict[str, str],
           body: bytes) -> tuple[int, Any, str | None]:
    """(status, JSON body or None, the caller's tenant id) for one Partner Center request; the
    caller holds core.lock."""
    try:
        claims = _authenticate(core, headers)
        partner = core.directory.tenants[claims["tid"]]
        user = partner.users.get(claims.get("oid", ""))
        if partner.spec.partner_center is None or user is None:
            raise PartnerCenterError(403, 2032, "Access denied: the signed-in tenant is not a Partner Center "
                                     "partner organization.")
        if method == "GET" and _CUSTOMERS.match(path):
            return 200, _list_customers(core, partner, query, headers), partner.id
        m = _CONSENTS.match(path)
        if method == "POST" and m:
            return 201, _create_consent(core, partner, user, m.group("tenant"), body), partner.id
        m = _CONSENT.match(path)
        if method == "DELETE" and m:
            _delete_consent(core, partner, user, m.group("tenant"), m.group("app"))
            return 204, None, partner.id
        raise PartnerCenterError(404, 1000, f"Not found: {method} {path}")
    except PartnerCenterError as e:
        return e.status, e.body(), None


def _authenticate(core: SimulatorCore, headers: dict[str, str]) -> dict[str, Any]:
    auth = headers.get("authorization", "")
    claims = core.issuer.verify(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    if claims is None:
        raise PartnerCenterError(401, 800001, "Partner Token missing in request context")
    if str(claims.get("aud", "")).lower().rstrip("/") not in AUDIENCES or "scp" not in claims:
        raise PartnerCenterError(401, 800001, "The token's audience is not Partner Center (app + user token "
                                 "for https://api.partnercenter.microsoft.com required).")
    if "user_impersonation" not in str(claims.get("scp", "")).split():
        raise PartnerCenterError(403, 2032, "Access denied: the token lacks user_impersonation.")
    return claims


def _customers(core: SimulatorCore, partner: Tenant) -> list[Tenant]:
    assert partner.spec.partner_center is not None
    found = (core.directory.resolve(c) for c in partner.spec.partner_center.customers)
    return [t for t in found if t is not None]


def _list_customers(core: SimulatorCore, partner: Tenant, query: dict[str, str],
                    headers: dict[str, str]) -> dict[str, Any]:
    customers = _customers(core, partner)
    try:
        size = int(query.get("size", "500"))
        offset = int(base64.urlsafe_b64decode(headers["ms-continuationtoken"] + "==").decode()) \
            if headers.get("ms-continuationtoken") else 0
    except (ValueError, UnicodeDecodeError) as exc:
        raise PartnerCenterError(400, 800002, "Invalid request input") from exc
    if not 1 <= size <= 500:
        raise PartnerCenterError(400, 800002, "Invalid request input: size must be between 1 and 500.")
    page = customers[offset: offset + size]
    links: dict[str, Any] = {"self": {"uri": f"/v1/customers?size={size}", "method": "GET", "headers": []}}
    if offset + size < len(customers):
        token = base64.urlsafe_b64encode(str(offset + size).encode()).rstrip(b"=").decode()
        links["next"] = {"uri": f"/v1/customers?size={size}&seekOperation=Next", "method": "GET",
                         "headers": [{"key": "MS-ContinuationToken", "value": token}]}
    return {"totalCount": len(page), "items": [_customer(t) for t in page], "links": links,
            "attributes": {"objectType": "Collection"}}


def _customer(t: Tenant) -> dict[str, Any]:
    return {"id": t.id, "companyProfile": {"tenantId": t.id, "domain": t.default_domain,
                                           "companyName": t.display_name,
                                           "attributes": {"objectType": "CustomerCompanyProfile"}},
            "relationshipToPartner": "reseller", "attributes": {"objectType": "Customer"}}


def _customer_for(core: SimulatorCore, partner: Tenant, user: User, name: str) -> Tenant:
    customer = core.directory.resolve(name)
    if customer is None or customer not in _customers(core, partner):
        raise PartnerCenterError(404, 1000, f"Not found: customer {name} has no relationship with this partner.")
    if not set(user.partner_access.get(customer.id, ())) & CONSENTING_ROLES:
        raise PartnerCenterError(403, 2032, "Access denied: the signed-in user holds no delegated admin role "
                                 "in this customer that may consent to applications (Global Administrator, "
                                 "Privileged Role Administrator or Cloud Application Administrator).")
    return customer


def _create_consent(core: SimulatorCore, partner: Tenant, user: User, name: str, raw: bytes) -> dict[str, Any]:
    customer = _customer_for(core, partner, user, name)
    try:
        body = json.loads(raw or b"{}")
        app_id = str(body["applicationId"]).lower()
        grants = [(str(g["enterpriseApplicationId"]).lower(), str(g["scope"])) for g in body["applicationGrants"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise PartnerCenterError(400, 800002, "Invalid request input: applicationId and applicationGrants "
                                 "[{enterpriseApplicationId, scope}] are required.") from exc
    home = core.directory.app_anywhere(app_id)
    if home is None or home[0].id != partner.id or not home[1].visible():
        raise PartnerCenterError(400, 800002, f"Invalid request input: application {app_id} is not an "
                                 "application of the partner's tenant.")
    client = client_app(core.directory, app_id, customer)  # multi-tenant, else not usable there
    if customer.sp_by("appId", app_id, include_hidden=True) is not None:
        raise PartnerCenterError(409, 600041, "Permission entry already exists.")
    resources = first_party_resources()
    visible_at = clock.monotonic() + customer.spec.consent_propagation_s
    for resource_app, scope in grants:
        if resource_app not in resources:
            raise PartnerCenterError(400, 800002, f"Invalid request input: unknown enterpriseApplicationId "
                                     f"{resource_app}.")
        rsp = customer.sp_by("appId", resource_app, include_hidden=True)
        if rsp is None:
            raise PartnerCenterError(400, 800002, f"Invalid request input: {resource_app} has no service "
                                     "principal in the customer tenant.")
        names = {s.strip() for s in scope.split(",") if s.strip()}
        record_consent(customer, client, rsp, names, visible_at=visible_at)
    sp = customer.sp_by("appId", app_id, include_hidden=True)
    if sp is not None:
        sp.visible_at = visible_at
    return {"applicationId": app_id, "displayName": body.get("displayName"),
            "applicationGrants": body["applicationGrants"]}


def _delete_consent(core: SimulatorCore, partner: Tenant, user: User, name: str, app_id: str) -> None:
    from .graph.service_principals import remove_sp

    customer = _customer_for(core, partner, user, name)
    sp = customer.sp_by("appId", app_id.lower(), include_hidden=True)
    if sp is None:
        raise PartnerCenterError(404, 1000, f"Not found: no consent for application {app_id} in this customer.")
    remove_sp(customer, sp)
