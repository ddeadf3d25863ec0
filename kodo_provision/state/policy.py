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

    def label(self) -> str:
        """How errors and notes name the policy."""
        if self.name and self.policy_id:
            return f"{self.name!r} ({self.policy_id})"
        return repr(self.name) if self.name else (self.policy_id or "the tenant's app management policy")
