"""What the Entra ID endpoints share: the error shape, tenant resolution, the request form,
the default tenant and how scopes name a resource."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .store import Tenant

if TYPE_CHECKING:  # core imports consent, which needs AadError from here
    from .core import SimulatorCore

PSEUDO_TENANTS = {"organizations", "common"}
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
GRAPH = "https://graph.microsoft.com"
CA_BLOCKED = ("Access has been blocked by Conditional Access policies. The access policy does not allow token "
               "issuance.")



class AadError(Exception):
    """An error answered in Entra's token-endpoint JSON shape."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description
        self.suberror: str | None = None  # e.g. consent_required with AADSTS65001

    def response(self) -> JSONResponse:
        """{"error", "error_description": "AADSTSxxxx: ...", "error_codes", "timestamp", "trace_id", ...}"""
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        ts = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        desc = (f"AADSTS{self.code}: {self.description}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}"
                f"\r\nTimestamp: {ts}")
        body = {
                "error": self.error,
                "error_description": desc,
                "error_codes": [self.code],
                "timestamp": ts,
                "trace_id": trace,
                "correlation_id": corr,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            }
        if self.suberror:
            body["suberror"] = self.suberror
        return JSONResponse(body, status_code=self.status)


def core_of(request: Request) -> SimulatorCore:
    return request.app.state.core


def base_url(request: Request) -> str:
    # Endpoints are built from the Host header so they work as 127.0.0.1:PORT and, through the
    # CONNECT proxy, as login.microsoftonline.com.
    return f"https://{request.headers.get('host', request.url.netloc)}"


def resolve_tenant(core: SimulatorCore, name: str) -> Tenant | None:
    """A tenant, None for organizations/common, or AADSTS90002 for an unknown one."""
    if name.lower() in PSEUDO_TENANTS:
        return None
    tenant = core.directory.resolve(name)
    if tenant is None:
        raise AadError(400, "invalid_tenant", 90002,
                       f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are "
                       "signing into the correct cloud. Check with your subscription administrator, this may "
                       "happen if there are no active subscriptions for the tenant.")
    return tenant


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body (parsed here: Starlette's form() needs python-multipart, which we avoid). The
    `scope` a sign-in request asks for goes to the request log (what a client asked, not what it got)."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    if "scope" in form:
        request.state.kodo_scopes = form["scope"]
    return form


def json_error(fn):
    async def wrapper(request: Request) -> Response:
        try:
            core = core_of(request)
            return await fn(request, core)
        except AadError as e:
            return e.response()

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper



def default_tenant(core: SimulatorCore) -> Tenant:
    name = core.scenario.sign_in.default_tenant
    t = core.directory.resolve(name) if name else None
    return t or next(iter(core.directory.tenants.values()))



def split_scopes(core: SimulatorCore, tenant: Tenant, scopes: list[str]) -> tuple[str, list[str], list[str]]:
    """(resource URI, permission names, the requested resource scopes verbatim)."""
    resource_scopes = [s for s in scopes if s.lower() not in OIDC_SCOPES]
    if not resource_scopes:
        resource_scopes = [f"{GRAPH}/User.Read"]
    resources: set[str] = set()
    names: list[str] = []
    for s in resource_scopes:
        if "/" in s.replace("://", ""):
            res, name = s.rsplit("/", 1)
        else:  # a bare name means Microsoft Graph
            res, name = GRAPH, s
        resources.add(res.rstrip("/").lower())
        names.append(name)
    if len(resources) > 1:
        raise AadError(400, "invalid_scope", 28000,
                       "Provided value for the input parameter scope is not valid because it contains more than "
                       "one resource. Scope " + " ".join(scopes) + " is not valid.")
    res = resource_scopes[0].rsplit("/", 1)[0] if "/" in resource_scopes[0].replace("://", "") else GRAPH
    return res.rstrip("/"), names, resource_scopes


def resource_service_principal(tenant: Tenant, resource: str):
    sp = tenant.sp_for_resource(resource)
    if sp is None:
        raise AadError(400, "invalid_resource", 500011,
                       f"The resource principal named {resource} was not found in the tenant named "
                       f"{tenant.display_name}. This can happen if the application has not been installed by the "
                       "administrator of the tenant or consented to by any user in the tenant. You might have sent "
                       "your authentication request to the wrong tenant.")
    return sp


