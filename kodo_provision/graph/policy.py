"""The tenant's default and the app's own app-management policy, as far as they limit client secrets.

GET /policies/defaultAppManagementPolicy needs Policy.Read.All (delegated, least privileged;
Global Reader is the least role). https://learn.microsoft.com/en-us/graph/api/tenantappmanagementpolicy-get
The tool does not request that scope (it would widen the consent every admin gives), so the
read is best effort: it rides in the preflight batch and a 403 means "unknown", in which case
addPassword's own refusal (400 CredentialInvalidLifetimeAsPerAppPolicy) is handled instead
(apply/secret_policy.py).
https://learn.microsoft.com/en-us/graph/api/resources/tenantappmanagementpolicy
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from msgraph import GraphServiceClient
from msgraph.generated.models.tenant_app_management_policy import TenantAppManagementPolicy

from ..state.policy import SecretPolicy
from .batch import BatchCall, BatchOutcome
from .errors import GraphForbidden

POLICY_OPERATION = "read the tenant's app management policy"
# Graph's error codes when addPassword breaks the policy (the message names the policy's ID).
LIFETIME_CODE = "CredentialInvalidLifetimeAsPerAppPolicy"
BLOCKED_CODE = "CredentialTypeNotAllowedAsPerAppPolicy"
_POLICY_ID = re.compile(r"policy\s+'?([0-9a-fA-F-]{36})'?", re.I)
_ISO_DAYS = re.compile(r"\bP(\d+)D\b")
_WORD_DAYS = re.compile(r"\b(\d+)\s*days?\b", re.I)


def policy_batch_call(client: GraphServiceClient) -> BatchCall:
    """The policy read as one sub-request of a batch (404/403 are not failures of the batch)."""
    builder = client.policies.default_app_management_policy
    return BatchCall(POLICY_OPERATION, builder.to_get_request_information(), TenantAppManagementPolicy,
                     missing_ok=True)


def to_secret_policy(outcome: BatchOutcome) -> SecretPolicy:
    """What the policy says about client secrets; `readable=False` when Graph refused (403)."""
    if isinstance(outcome.error, GraphForbidden):
        return SecretPolicy(readable=False)
    try:
        policy = outcome.unwrap()
    except Exception:  # any other failure: unknown, and addPassword's answer decides
        return SecretPolicy(readable=False)
    if policy is None:
        return SecretPolicy(readable=True)
    name = policy.display_name or "default app management policy"
    if not policy.is_enabled:
        return SecretPolicy(readable=True, policy_id=policy.id, name=name)
    restrictions = list(getattr(policy.application_restrictions, "password_credentials", None) or [])
    blocked = False
    max_lifetime: timedelta | None = None
    for r in restrictions:
        if _value(r.state) == "disabled":
            continue
        kind = _value(r.restriction_type)
        if kind == "passwordAddition":
            blocked = True
        elif kind == "passwordLifetime" and r.max_lifetime is not None:
            max_lifetime = r.max_lifetime if max_lifetime is None else min(max_lifetime, r.max_lifetime)
    return SecretPolicy(readable=True, policy_id=policy.id, name=name, secrets_blocked=blocked,
                        max_lifetime=max_lifetime)


def app_policy_from_json(page: dict[str, Any] | None) -> SecretPolicy | None:
    """GET /applications/{id}/appManagementPolicies -> the app's own policy (None: none assigned).

    An assigned policy is "adopted over the tenant-wide tenantAppManagementPolicy setting", and
    an app has at most one. https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-post-appliesto"""
    policies = [p for p in (page or {}).get("value") or [] if isinstance(p, dict)]
    if not policies:
        return None
    policy = policies[0]
    name = policy.get("displayName") or "app management policy"
    if not policy.get("isEnabled", True):
        return SecretPolicy(readable=True, policy_id=policy.get("id"), name=name, app_specific=True)
    blocked, max_lifetime = False, None
    for rule in ((policy.get("restrictions") or {}).get("passwordCredentials") or []):
        if str(rule.get("state") or "enabled").lower() == "disabled":
            continue
        if rule.get("restrictionType") == "passwordAddition":
            blocked = True
        elif rule.get("restrictionType") == "passwordLifetime":
            days = _ISO_DAYS.search(str(rule.get("maxLifetime") or ""))
            if days:
                span = timedelta(days=int(days.group(1)))
                max_lifetime = span if max_lifetime is None else min(max_lifetime, span)
    return SecretPolicy(readable=True, policy_id=policy.get("id"), name=name, secrets_blocked=blocked,
                        max_lifetime=max_lifetime, app_specific=True)


def _value(enum: Any) -> str:
    return str(getattr(enum, "value", enum) or "")


def policy_id_in(message: str) -> str | None:
    """The policy ID Graph names in its refusal ("... as per assigned policy '<id>'")."""
    match = _POLICY_ID.search(message or "")
    return match.group(1) if match else None


def max_days_in(message: str) -> int | None:
    """A maximum lifetime stated in the refusal, if Graph states one (ISO P90D or "90 days")."""
    for pattern in (_ISO_DAYS, _WORD_DAYS):
        match = pattern.search(message or "")
        if match:
            return int(match.group(1))
    return None
