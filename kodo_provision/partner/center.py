"""Partner Center's REST API, the two parts a partner needs here: its customers, and consent for the
partner's own multi-tenant app in a customer. Called as the signed-in partner user (App+User token for
https://api.partnercenter.microsoft.com, delegated `user_impersonation`).

- GET /v1/customers?size=N (seek paging: links.next + MS-ContinuationToken header)
  https://learn.microsoft.com/en-us/partner-center/developer/get-a-list-of-customers
- POST /v1/customers/{tenant}/applicationconsents {applicationId, applicationGrants} -> 201; 409 when the
  app is consented there already; DELETE .../applicationconsents/{applicationId}
  https://learn.microsoft.com/en-us/partner-center/developer/control-panel-vendor-apis
- Errors: {"code": <number>, "description", "data", "source": "PartnerFD"}
  https://learn.microsoft.com/en-us/partner-center/developer/error-codes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from ..errors import InsufficientPrivilegesError, KodoError, NetworkError, clip
from ..graph.client import DEFAULT_TIMEOUT, ssl_context

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
PARTNER_CENTER_SCOPE = f"{PARTNER_CENTER_RESOURCE}/user_impersonation"
PAGE_SIZE = 500
CREATED, PRESENT = "created", "present"


@dataclass(frozen=True)
class Customer:
    """A customer of the partner, as Partner Center lists it."""

    tenant_id: str
    domain: str
    name: str


class PartnerCenterError(KodoError):
    """Partner Center refused a request."""

    def __init__(self, status: int, code: Any, description: str, *, operation: str) -> None:
        super().__init__(f"Partner Center refused to {operation} (HTTP {status}, code {code})",
                         detail=clip(description), hint=_hint(status))
        self.status = status


class PartnerCenterDenied(PartnerCenterError, InsufficientPrivilegesError):
    """401/403: not a partner, or no role that may do it."""


class PartnerCenterNotFound(PartnerCenterError):
    """404: no such customer (no relationship with this partner)."""


def _hint(status: int) -> str:
    if status in (401, 403):
        return ("sign in as a user of the partner tenant who is in AdminAgents and, for the customer, in a GDAP "
                "security group holding Global Administrator, Privileged Role Administrator or Cloud Application "
                "Administrator")
    if status == 404:
        return "the tenant is not a customer of this partner in Partner Center: check it, or onboard it directly"
    return "run again; if it persists, check Partner Center's status page"


class PartnerCenterClient:
    """Partner Center as the signed-in partner user; `token()` returns a bearer token for it."""

    def __init__(self, endpoint: str, token: Any, *, ca_bundle: str | None = None) -> None:
        self.endpoint = endpoint.rstrip("/") + "/"
        self._token = token
        self._http = httpx.AsyncClient(verify=ssl_context(ca_bundle), timeout=DEFAULT_TIMEOUT, trust_env=True)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, operation: str, *, json: Any = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        token = await self._token()
        try:
            response = await self._http.request(method, urljoin(self.endpoint, path.lstrip("/")), json=json,
                                                headers={"Authorization": f"Bearer {token}",
                                                         "Accept": "application/json", **(headers or {})})
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach Partner Center to {operation}", detail=clip(str(exc), 200),
                               hint="check the network and HTTPS_PROXY, or --partner-center-endpoint") from None
        return response

    @staticmethod
    def _raise(response: httpx.Response, operation: str) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        code, text = body.get("code", "?"), str(body.get("description") or response.text[:200])
        kind = {401: PartnerCenterDenied, 403: PartnerCenterDenied, 404: PartnerCenterNotFound}.get(
            response.status_code, PartnerCenterError)
        raise kind(response.status_code, code, text, operation=operation)

    async def customers(self) -> list[Customer]:
        """Every customer, following Partner Center's seek paging."""
        out: list[Customer] = []
        path, headers = f"/v1/customers?size={PAGE_SIZE}", dict[str, str]()
        while True:
            response = await self._send("GET", path, "list customers", headers=headers)
            if response.status_code != 200:
                self._raise(response, "list customers")
            page = response.json()
            for item in page.get("items") or []:
                profile = item.get("companyProfile") or {}
                out.append(Customer(str(profile.get("tenantId") or item.get("id")).lower(),
                                    str(profile.get("domain") or "").lower(), str(profile.get("companyName") or "")))
            nxt = (page.get("links") or {}).get("next")
            if not nxt:
                return out
            path = nxt["uri"]
            headers = {h["key"]: h["value"] for h in nxt.get("headers") or []}

    async def consent(self, customer_tenant_id: str, app_id: str, display_name: str,
                      grants: dict[str, tuple[str, ...]]) -> str:
        """Consent the partner's app in the customer: CREATED, or PRESENT when it already was (409)."""
        body = {"applicationId": app_id, "displayName": display_name,
                "applicationGrants": [{"enterpriseApplicationId": resource, "scope": ",".join(scopes)}
                                      for resource, scopes in grants.items()]}
        operation = f"consent the partner sign-in app in {customer_tenant_id}"
        response = await self._send("POST", f"/v1/customers/{customer_tenant_id}/applicationconsents", operation,
                                    json=body)
        if response.status_code in (200, 201):
            return CREATED
        if response.status_code == 409:
            return PRESENT
        self._raise(response, operation)
        raise AssertionError("unreachable")

    async def remove_consent(self, customer_tenant_id: str, app_id: str) -> bool:
        """Remove the partner app's consent from the customer; False when there was none (404)."""
        operation = f"remove the partner sign-in app's consent in {customer_tenant_id}"
        response = await self._send("DELETE", f"/v1/customers/{customer_tenant_id}/applicationconsents/{app_id}",
                                    operation)
        if response.status_code in (200, 201, 204):
            return True
        if response.status_code == 404:
            return False
        self._raise(response, operation)
        raise AssertionError("unreachable")

