"""The partner's own sign-in app: a multi-tenant public client in the partner tenant, holding exactly the
delegated scopes onboarding needs plus Partner Center's `user_impersonation` (data/partner-signin.yaml).

Partner Center consents only an app of the partner's own tenant in a customer, which is why the tool
cannot keep signing in with a borrowed public client there. The app is created or adopted with
onboarding's exactly-once machinery (upsert by uniqueName, service principal, delegated grants in the
partner tenant), holds no credential, and is remembered per authority and home tenant so later runs
sign in with it directly (one prompt, or none after `login`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..auth.login import config_dir
from ..credentials.store import write_credentials
from ..flows.onboard import onboard_tenant
from ..flows.options import OnboardOptions
from ..flows.session import TenantSession
from ..manifest.load import parse_manifest
from ..manifest.model import Manifest

STATE_FILE = "partner-sign-in.json"
MANIFEST_FILE = "partner-signin.yaml"


def partner_manifest() -> Manifest:
    """The sign-in app's manifest, shipped with the package."""
    from ..manifest.load import load_yaml

    text = resources.files("kodo_provision.data").joinpath(MANIFEST_FILE).read_text(encoding="utf-8")
    return parse_manifest(load_yaml(text), source=MANIFEST_FILE)


@dataclass(frozen=True)
class PartnerApp:
    """The sign-in app as the tool remembers it."""

    client_id: str
    app_object_id: str
    tenant_id: str
    display_name: str


def state_path() -> Path:
    """Per-user state: $XDG_CONFIG_HOME/kodo-provision/partner-sign-in.json (0600)."""
    return config_dir() / STATE_FILE


def _key(authority_host: str, home_tenant: str) -> str:
    return f"{authority_host.rstrip('/').lower()}|{home_tenant.lower()}"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(authority_host: str, home_tenant: str) -> PartnerApp | None:
    """The sign-in app set up earlier for this authority and home tenant (by ID or as 'organizations')."""
    entry = _read().get("apps", {}).get(_key(authority_host, home_tenant))
    return PartnerApp(**entry) if isinstance(entry, dict) else None


def remembered_client_ids(cloud: Any) -> tuple[str, ...]:
    """Every partner sign-in app remembered for this cloud's authority (offboard looks for their consent)."""
    prefix = cloud.authority_host.rstrip("/").lower() + "|"
    return tuple(sorted({v["client_id"] for k, v in _read().get("apps", {}).items() if k.startswith(prefix)}))


def remember(authority_host: str, home_tenants: tuple[str, ...], app: PartnerApp) -> None:
    """Keep the app for later runs, under each name the operator may give the home tenant."""
    data = _read()
    apps = data.setdefault("apps", {})
    for home in home_tenants:
        apps[_key(authority_host, home)] = asdict(app)
    write_credentials(state_path(), data)  # atomic, 0600


def forget(authority_host: str, tenant_id: str) -> list[str]:
    """Drop every remembered entry of the partner tenant; returns the client IDs forgotten."""
    data = _read()
    apps = data.get("apps", {})
    gone = [k for k, v in apps.items() if k.startswith(authority_host.rstrip("/").lower() + "|")
            and v.get("tenant_id") == tenant_id.lower()]
    client_ids = sorted({apps[k]["client_id"] for k in gone})
    for k in gone:
        del apps[k]
    write_credentials(state_path(), data)
    return client_ids


async def ensure_partner_app(session: TenantSession, tenant: str, *, verify_budget_s: float = 180.0
                             ) -> PartnerApp:
    """Create or adopt the sign-in app in the partner tenant and consent it there, exactly once
    (onboarding's plan -> apply -> verify with a manifest of delegated scopes and no credential)."""
    manifest = partner_manifest()
    options = OnboardOptions(tenant=tenant, manifest=manifest, credentials_path=config_dir() / "partner-app.unused",
                             verify_budget_s=verify_budget_s, credential_type="none")
    result = await onboard_tenant(session, options)
    assert result.client_id and result.app_object_id
    return PartnerApp(result.client_id, result.app_object_id, result.tenant_id.lower(), manifest.app.display_name)
