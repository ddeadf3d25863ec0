"""KODO tenant simulator: a local Entra ID + Microsoft Graph v1.0 subset over TLS on loopback.

It never imports product code (kodo_provision outside this package); the product core never imports it.
"""

from .faults import Faults
from .scenario import Scenario
from .simulator import Simulator, TenantHandle

__all__ = ["Faults", "Scenario", "Simulator", "TenantHandle"]
