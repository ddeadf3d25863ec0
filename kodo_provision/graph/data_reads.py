"""Reads of tenant data as the KODO app itself (app-only token): the requests `verify --probe` makes to prove
that the app can read what it is granted. One harmless read each; nothing is written. Each answer comes back
as a ReadAnswer (status, error code, message), never raised: classifying it is the caller's business.

EWS is Exchange Online's SOAP API, not Graph; it lives here because it is the same kind of call: one app-only
request to a Microsoft data API, over the same TLS settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .client import DEFAULT_TIMEOUT, ssl_context
from .errors import GraphThrottled, TransientNetworkError, parse_retry_after
from .retry import Policy, run_with_policy
from .settings import RetrySettings

# A probe is a health check, not a backup: throttling gets a shorter budget than provisioning's.
PROBE_RETRIES = RetrySettings(throttling_budget_s=60.0, network_attempts=3)


@dataclass(frozen=True)
class ReadAnswer:
    """What one read got: HTTP status, the error code and message where the service gave them."""

    status: int
    code: str = ""
    message: str = ""
    body: Any = None
    soap_code: str = ""  # EWS: the SOAP ResponseCode of an HTTP 200 answer

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.soap_code in ("", "NoError")


_RESPONSE_CODE = re.compile(r"<m:ResponseCode>([^<]+)</m:ResponseCode>")
# Minimal app-only EWS call: GetFolder of the impersonated user's inbox, IDs only.
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation
_GET_INBOX = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/>
<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress>
</t:ConnectingSID></t:ExchangeImpersonation></soap:Header>
<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>"""


class DataReader:
    """An HTTP client for app-only reads; `async with` it."""

    def __init__(self, *, ca_bundle: str | None = None) -> None:
        self._http = httpx.AsyncClient(verify=ssl_context(ca_bundle), timeout=DEFAULT_TIMEOUT, trust_env=True)

    async def __aenter__(self) -> DataReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _send(self, operation: str, method: str, url: str, **kwargs: Any) -> httpx.Response | ReadAnswer:
        """The request under the throttling and network policy (graph/retry.py): 429/503/504 wait for
        Retry-After, a dropped connection is tried again (a read is safe to repeat). What is left after the
        budget comes back as a ReadAnswer."""
        async def once() -> httpx.Response:
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise TransientNetworkError(f"{operation}: {type(exc).__name__}", detail=str(exc)) from None
            if response.status_code in (429, 503, 504):
                raise GraphThrottled(operation, response.status_code, "throttled", response.reason_phrase,
                                     retry_after=parse_retry_after(response.headers.get("retry-after")))
            return response

        try:
            return await run_with_policy(operation, Policy.IDEMPOTENT, once, PROBE_RETRIES)
        except GraphThrottled as exc:
            return ReadAnswer(exc.status or 0, "throttled", f"still throttled after retries (HTTP {exc.status})")
        except TransientNetworkError as exc:
            return ReadAnswer(0, "network", exc.one_line())

    async def graph_get(self, base_url: str, path: str, token: str) -> ReadAnswer:
        """GET {base_url}{path} with the app's token; Graph's error body parsed."""
        response = await self._send(f"probe GET {path.split('?')[0]}", "GET", base_url.rstrip("/") + path,
                                    headers={"Authorization": f"Bearer {token}"})
        if isinstance(response, ReadAnswer):
            return response
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        error = body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        return ReadAnswer(response.status_code, str(error.get("code") or ""), str(error.get("message") or ""), body)

    async def ews_get_inbox(self, endpoint: str, token: str, mailbox: str) -> ReadAnswer:
        """EWS GetFolder(inbox) of `mailbox` by impersonation; `code` is the SOAP ResponseCode on HTTP 200, else
        the x-ms-diagnostics header. X-AnchorMailbox routes the request to the mailbox's server (Microsoft
        requires it with impersonation: the OAuth for EWS page in ../../simulator/ews.py)."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/xml; charset=utf-8",
                   "X-AnchorMailbox": mailbox}
        url = endpoint.rstrip("/") + "/EWS/Exchange.asmx"
        response = await self._send("probe EWS GetFolder", "POST", url, headers=headers,
                                    content=_GET_INBOX.format(mailbox=_xml_text(mailbox)))
        if isinstance(response, ReadAnswer):
            return response
        if response.status_code == 200:
            match = _RESPONSE_CODE.search(response.text)
            return ReadAnswer(200, soap_code=match.group(1) if match else "no ResponseCode")
        return ReadAnswer(response.status_code, "", response.headers.get("x-ms-diagnostics", ""))


def user_path(user_id: str, rest: str = "") -> str:
    """/users/{id}{rest}, the ID quoted for a URL path."""
    return f"/users/{quote(user_id, safe='')}{rest}"


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
