"""Scenario files: the tenants, users, settings and faults a simulator starts with.

YAML or JSON, validated with pydantic so a bad file names the failing path.
`Scenario.default()` is the scenario shipped in `scenarios/default.yaml`.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .faults import Faults
from .roles import role_template_id


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PartnerAccess(_Model):
    """Delegated admin access of a partner (MSP) user in a customer tenant (GDAP-like).

    https://learn.microsoft.com/en-us/graph/api/resources/delegatedadminrelationships-api-overview
    """

    tenant: str = Field(description="Customer tenant id or domain.")
    # validate_default: the default role *name* must be converted to its template id like given ones.
    roles: list[str] = Field(default_factory=lambda: ["Global Administrator"], validate_default=True)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: list[str]) -> list[str]:
        return [role_template_id(r) for r in v]


class UserSpec(_Model):
    """A member user of a tenant."""

    upn: str
    id: str | None = None
    display_name: str | None = None
    roles: list[str] = Field(default_factory=list, description="Directory role names or template ids.")
    partner_access: list[PartnerAccess] = Field(default_factory=list)
    # An Exchange Online mailbox (a licence with Exchange). Without one, mail reads answer 404
    # MailboxNotEnabledForRESTAPI (workloads.py).
    mailbox: bool = True
    # The primary SMTP address (user.mail). Default: the UPN when the user has a mailbox. Often differs from the
    # UPN in real tenants (UPN @x.onmicrosoft.com, mail @x.com); Graph addresses users by ID or UPN only.
    mail: str | None = None
    user_type: Literal["Member", "Guest"] = "Member"
    # A provisioned OneDrive; without one GET /users/{id}/drive answers 404 (workloads.py).
    onedrive: bool = True

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: list[str]) -> list[str]:
        return [role_template_id(r) for r in v]

    @field_validator("partner_access", mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        # Allow `partner_access: [tenant-a, tenant-b]` (Global Administrator there).
        if isinstance(v, list):
            return [{"tenant": x} if isinstance(x, str) else x for x in v]
        return v


class TenantSettings(_Model):
    """Directory settings that change authorization."""

    # "Users can register applications" (default user permissions); our default is the
    # hardened setting so that a plain user gets 403 on app creation.
    # https://learn.microsoft.com/en-us/entra/fundamentals/users-default-permissions
    users_can_register_apps: bool = False


class AppManagementPolicy(_Model):
    """Tenant default app management policy (passwordCredentials restrictions).

    https://learn.microsoft.com/en-us/graph/api/resources/tenantappmanagementpolicy
    """

    is_enabled: bool = True
    password_max_lifetime_days: int | None = Field(None, gt=0)
    password_addition_blocked: bool = False


class ConditionalAccess(_Model):
    """Conditional Access policies of a tenant that refuse sign-ins (AADSTS53003, "Access has been
    blocked by Conditional Access policies. The access policy does not allow token issuance.").

    - block_device_code_flow: a policy on the "Authentication flows" condition targeting device code
      flow with "Block access" (Microsoft "recommends blocking device code flow wherever possible"):
      https://learn.microsoft.com/en-us/entra/identity/conditional-access/concept-authentication-flows
      https://learn.microsoft.com/en-us/entra/identity/conditional-access/policy-block-authentication-flows
    - block_user_sign_in: a policy blocking every interactive user sign-in of this client (location,
      device compliance...): the browser flow ends in an error redirect, the device-code flow too.
    Error code reference: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
    """

    block_device_code_flow: bool = False
    block_user_sign_in: bool = False


class PriorConsent(_Model):
    """A delegated admin consent given before the scenario starts (e.g. an admin consented a tool to
    the organization last year): the client's service principal and an AllPrincipals grant."""

    client_id: str
    resource: str = Field("https://graph.microsoft.com", description="Resource URI or appId.")
    scopes: list[str]


class ExchangeOnlineSpec(_Model):
    """The tenant's Exchange Online settings that decide whether an app reaches mailbox data.

    - ews_enabled: Set-OrganizationConfig -EwsEnabled. None (never set) means blocked: from 2026-10-01 tenants
      whose EwsEnabled was Null are switched to False (Message Center MC1227454; shared/graph-facts.md §8).
    - ews_allowed_app_ids: -EwsAllowedAppIDs. With EwsEnabled True and a list, only listed apps reach EWS;
      None: no list (every app, while EWS is enabled).
      https://learn.microsoft.com/en-us/powershell/module/exchangepowershell/set-organizationconfig
    - app_scope_excludes: mailboxes (UPNs) outside the app's Exchange "RBAC for Applications" management
      scope (or an application access policy). https://learn.microsoft.com/en-us/exchange/permissions-exo/application-rbac
    """

    ews_enabled: bool | None = None
    ews_allowed_app_ids: list[str] | None = None
    app_scope_excludes: list[str] = Field(default_factory=list)

    def excludes(self, upn: str) -> bool:
        """Whether the app's Exchange application scope leaves this mailbox out."""
        return upn.lower() in {u.lower() for u in self.app_scope_excludes}


class PartnerCenterSpec(_Model):
    """This tenant is a CSP partner: its Partner Center customer list (reseller relationships).
    Delegated admin (GDAP) roles are the users' `partner_access`.
    https://learn.microsoft.com/en-us/partner-center/developer/get-a-list-of-customers"""

    customers: list[str] = Field(default_factory=list, description="Customer tenant ids or domains.")


class TenantSpec(_Model):
    """One tenant (directory)."""

    id: str
    domain: str = Field(description="Default (initial) domain, e.g. contoso.onmicrosoft.com.")
    verified_domains: list[str] = Field(default_factory=list)
    display_name: str | None = None
    users: list[UserSpec] = Field(default_factory=list)
    sign_in_user: str | None = Field(None, description="UPN used for auto-approved device codes.")
    settings: TenantSettings = Field(default_factory=TenantSettings)
    app_management_policy: AppManagementPolicy = Field(default_factory=AppManagementPolicy)
    missing_resources: list[str] = Field(
        default_factory=list, description="appIds of first-party resource SPs absent from this tenant."
    )
    conditional_access: ConditionalAccess = Field(default_factory=ConditionalAccess)
    consents: list[PriorConsent] = Field(default_factory=list)
    # How long a consent pushed from outside (Partner Center) takes to reach this tenant's token
    # service; Microsoft documents no figure, only that consent "may take some time" to propagate.
    consent_propagation_s: float = Field(0.0, ge=0)
    partner_center: PartnerCenterSpec | None = None
    exchange: ExchangeOnlineSpec = Field(default_factory=ExchangeOnlineSpec)
    # SharePoint Online (and OneDrive) in the tenant's licences; without it Graph's site and drive reads answer
    # 400 "Tenant does not have a SPO license." (workloads.py).
    sharepoint: bool = True

    @field_validator("id")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @model_validator(mode="after")
    def _check_sign_in_user(self) -> TenantSpec:
        if self.sign_in_user and self.sign_in_user.lower() not in {u.upn.lower() for u in self.users}:
            raise ValueError(f"sign_in_user {self.sign_in_user!r} is not a user of tenant {self.domain}")
        return self

    @property
    def all_domains(self) -> list[str]:
        """Default domain first, then the other verified domains."""
        return [self.domain] + [d for d in self.verified_domains if d.lower() != self.domain.lower()]


class SignInSettings(_Model):
    """How the device-code flow behaves.

    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
    """

    auto_approve: bool = True
    delay_ms: int = Field(0, ge=0, description="Auto-approval happens this long after /devicecode.")
    interval: int = Field(1, ge=0, description="Polling interval returned by /devicecode (Entra: 5).")
    expires_in: int = Field(900, gt=0, description="Device code lifetime in seconds (Entra: 900).")
    slow_down_polls: int = Field(0, ge=0, description="Answer this many first polls with slow_down.")
    default_tenant: str | None = Field(
        None, description="Tenant whose sign_in_user approves codes requested at /organizations or /common."
    )
    token_lifetime_s: int = Field(3600, gt=0)
    # A first-party client's preauthorized Microsoft Graph scopes, replacing the built-in set (consent.py):
    # Microsoft does not document them and changes them, so tests can narrow them.
    preauthorized_graph_scopes: dict[str, list[str]] = Field(default_factory=dict)


class AutomationConsent(_Model):
    """Where an automation app is consented, and with which Microsoft Graph application permissions."""

    tenant: str
    graph_roles: list[str] = Field(default_factory=list, description="Graph app role values, e.g. "
                                   "Application.ReadWrite.All.")


class AutomationAppSpec(_Model):
    """An operator's own multi-tenant app (e.g. an MSP's automation identity), registered in its home
    tenant and consented (service principal + Graph app role assignments) in customer tenants.
    Its client credentials get app-only tokens whose `roles` are those live assignments.
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    """

    app_id: str
    display_name: str
    home_tenant: str
    # Known test secrets (the simulator keeps only their hashes, like Entra).
    secrets: list[str] = Field(default_factory=list)
    certificates: list[str] = Field(default_factory=list, description="PEM certificates (public parts).")
    consented_in: list[AutomationConsent] = Field(default_factory=list)

    @field_validator("app_id")
    @classmethod
    def _lower_app_id(cls, v: str) -> str:
        return v.lower()


class Scenario(_Model):
    """Everything a simulator starts with. Combine with `|` (right side wins)."""

    tenants: list[TenantSpec] = Field(default_factory=list)
    sign_in: SignInSettings = Field(default_factory=SignInSettings)
    faults: Faults = Field(default_factory=Faults)
    automation_apps: list[AutomationAppSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Scenario:
        seen: set[str] = set()
        for t in self.tenants:
            for key in [t.id, *(d.lower() for d in t.all_domains)]:
                if key in seen:
                    raise ValueError(f"tenant id or domain {key!r} is used twice")
                seen.add(key)
        return self

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Load a YAML (.yaml/.yml) or JSON scenario file."""
        p = Path(path)
        text = p.read_text()
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        return cls.model_validate(data or {})

    @classmethod
    def default(cls) -> Scenario:
        """The scenario shipped with the package (contoso, fabrikam, an MSP partner)."""
        return cls.model_validate(_default_scenario_data())

    def __or__(self, other: Scenario) -> Scenario:
        """Merge: tenants by id (other replaces), sign_in/faults fields explicitly set in other win."""
        if not isinstance(other, Scenario):
            return NotImplemented
        tenants = {t.id: t for t in self.tenants}
        for t in other.tenants:
            tenants[t.id] = t
        sign_in = self.sign_in.model_copy(
            update={k: getattr(other.sign_in, k) for k in other.sign_in.model_fields_set}
        )
        faults = self.faults.model_copy(update={k: getattr(other.faults, k) for k in other.faults.model_fields_set})
        if "sign_in" not in other.model_fields_set:
            sign_in = self.sign_in
        if "faults" not in other.model_fields_set:
            faults = self.faults
        apps = {a.app_id: a for a in self.automation_apps} | {a.app_id: a for a in other.automation_apps}
        return Scenario(tenants=list(tenants.values()), sign_in=sign_in, faults=faults,
                        automation_apps=list(apps.values()))


_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the safe subset, in C where available


@functools.cache
def _default_scenario_data() -> Any:
    """The shipped scenario's YAML, parsed once per process (libyaml where available; every simulator
    start validates it again into its own objects)."""
    text = resources.files("kodo_provision.simulator").joinpath("scenarios/default.yaml").read_text()
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  # nosec B506
