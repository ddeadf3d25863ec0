"""Resolve permission names to IDs against the tenant's own resource service principals.

Users of similar tools look GUIDs up by hand and get them wrong (azure-cli#7925); the
tenant's resource SP is the authority on which names exist and of what type.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from ..errors import ManifestError
from ..manifest.identity import MANIFEST_TAG_PREFIX, TOOL_TAG
from ..state.model import PermissionDefinition, RequiredAccess, ResourceServicePrincipal
from .model import Manifest, ResourceSpec

ROLE = "Role"
SCOPE = "Scope"


@dataclass(frozen=True)
class DesiredPermission:
    """One permission of the manifest, resolved in this tenant."""

    name: str
    id: str
    type: str  # ROLE or SCOPE


@dataclass(frozen=True)
class DesiredResource:
    """A resource API with its resolved permissions; sp is None while the SP is missing."""

    name: str
    app_id: str
    sp: ResourceServicePrincipal | None
    application: tuple[DesiredPermission, ...]
    delegated: tuple[DesiredPermission, ...]
    # Names wanted but not resolvable yet, because the resource SP does not exist yet.
    pending_application: tuple[str, ...] = ()
    pending_delegated: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesiredState:
    """What the tenant must hold: the manifest bound to this tenant's IDs."""

    unique_name: str
    display_name: str
    sign_in_audience: str
    manifest_version: str
    secret_display_name: str
    secret_lifetime: timedelta
    resources: tuple[DesiredResource, ...]
    # "secret" (addPassword) or "certificate" (keyCredentials): which credential KODO holds (issue 8);
    # "none" for an app that is only a sign-in client (the partner sign-in app).
    credential_type: str = "secret"
    public_client: bool = False

    @property
    def required_resource_access(self) -> frozenset[RequiredAccess]:
        return frozenset(
            RequiredAccess(r.app_id, p.id, p.type)
            for r in self.resources
            for p in (*r.application, *r.delegated)
        )

    @property
    def tags(self) -> tuple[str, ...]:
        # TOOL_TAG marks the app as ours for destructive commands (see identity.py).
        return (TOOL_TAG, f"{MANIFEST_TAG_PREFIX}{self.manifest_version}")


def _find(defs: tuple[PermissionDefinition, ...], name: str) -> PermissionDefinition | None:
    return next((d for d in defs if d.value == name), None)


def _resolve_kind(spec: ResourceSpec, index: int, kind: str, problems: list[str],
                  own: tuple[PermissionDefinition, ...], other: tuple[PermissionDefinition, ...],
                  perm_type: str) -> tuple[DesiredPermission, ...]:
    names = spec.application if kind == "application" else spec.delegated
    other_kind = "delegated" if kind == "application" else "application"
    out: list[DesiredPermission] = []
    for pos, name in enumerate(names):
        where = f"resources[{index}].{kind}[{pos}]"
        found = _find(own, name)
        # An appRole that only lists "User" member types cannot be granted to an app.
        if found and perm_type == ROLE and found.allowed_member_types \
                and "Application" not in found.allowed_member_types:
            found = None
        if found is not None and found.enabled:
            out.append(DesiredPermission(name, found.id, perm_type))
        elif found is not None:
            problems.append(f"{where}: {name!r} is disabled on {spec.name}")
        elif _find(other, name) is not None:
            problems.append(f"{where}: {spec.name} has no {kind} permission {name!r}; it exists only as a "
                            f"{other_kind} permission (move it to `{other_kind}`)")
        elif variant := next((d.value for d in (*own, *other) if d.value.lower() == name.lower()), None):
            problems.append(f"{where}: {spec.name} has no permission {name!r}; permission names are "
                            f"case-sensitive, did you mean {variant!r}?")
        else:
            nearest = difflib.get_close_matches(name, [d.value for d in own], n=3, cutoff=0.6)
            suggestion = f" (nearest: {', '.join(nearest)})" if nearest else ""
            problems.append(f"{where}: {spec.name} has no {kind} permission {name!r}{suggestion}")
    return tuple(out)


def _resolve_one(spec: ResourceSpec, sp: ResourceServicePrincipal, index: int,
                 problems: list[str]) -> DesiredResource:
    application = _resolve_kind(spec, index, "application", problems, sp.app_roles, sp.scopes, ROLE)
    delegated = _resolve_kind(spec, index, "delegated", problems, sp.scopes, sp.app_roles, SCOPE)
    return DesiredResource(spec.name, spec.app_id, sp, application, delegated)


def resolve(manifest: Manifest, resource_sps: Mapping[str, ResourceServicePrincipal | None]) -> DesiredState:
    """Bind manifest names to this tenant's IDs, or raise one ManifestError naming every problem.

    A resource whose service principal is missing (None) resolves nothing yet: its names stay
    pending so the plan can create the resource SP first and resolve them on the next round.
    """
    problems: list[str] = []
    resolved: list[DesiredResource] = []
    for index, spec in enumerate(manifest.resources):
        sp = resource_sps.get(spec.app_id)
        if sp is None:
            resolved.append(DesiredResource(spec.name, spec.app_id, None, (), (),
                                            spec.application, spec.delegated))
            continue
        resolved.append(_resolve_one(spec, sp, index, problems))
    if problems:
        raise ManifestError(
            f"{len(problems)} manifest permission(s) do not resolve in this tenant: " + "; ".join(problems),
            hint="correct the names/types in the manifest (names come from the resource's service principal)",
        )
    return DesiredState(
        unique_name=manifest.app.unique_name,
        display_name=manifest.app.display_name,
        sign_in_audience=manifest.app.sign_in_audience,
        manifest_version=manifest.manifest_version,
        secret_display_name=manifest.secret.display_name,
        secret_lifetime=timedelta(days=manifest.secret.lifetime_days),
        resources=tuple(resolved),
        public_client=manifest.app.public_client,
    )
