"""What a tenant's app-management policy says about client secrets (a plain value)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class SecretPolicy:
    """The tenant default app-management policy's password rules.

    `readable` is False when the signed-in token may not read the policy (it needs Policy.Read.All,
    which the tool does not request): then nothing is known in advance and addPassword's refusal
    decides. https://learn.microsoft.com/en-us/graph/api/resources/tenantappmanagementpolicy"""

    readable: bool
    policy_id: str | None = None
    name: str | None = None
    secrets_blocked: bool = False
    max_lifetime: timedelta | None = None
    # An appManagementPolicy assigned to the app itself (it replaces the tenant default for that app).
    app_specific: bool = False

    def label(self) -> str:
        """How errors and notes name the policy."""
        if self.app_specific:
            return f"{self.name!r} ({self.policy_id}, assigned to the app)"
        if self.name and self.policy_id:
            return f"{self.name!r} ({self.policy_id})"
        return repr(self.name) if self.name else (self.policy_id or "the tenant's app management policy")


def effective_policy(tenant_default: SecretPolicy | None, app_specific: SecretPolicy | None) -> SecretPolicy | None:
    """The rules addPassword applies: the app's own enabled policy replaces the tenant default."""
    if app_specific is not None and app_specific.readable and app_specific.policy_id:
        return app_specific
    if app_specific is not None and not app_specific.readable and tenant_default is not None:
        # The app's own policy is unknown: whatever the default says may be overridden.
        return SecretPolicy(readable=False)
    return tenant_default
