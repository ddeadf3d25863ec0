"""What changes between two manifests (`kodo-provision manifest diff OLD NEW`): per resource API, the
application permissions and delegated scopes added and removed, and the app and secret settings. Pure:
no tenant is read; names are compared as written (permission names are case-sensitive)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Manifest, ResourceSpec

KINDS = ("application", "delegated")


@dataclass(frozen=True)
class ResourceChange:
    """One resource API's difference: "+" new in NEW, "-" gone from it, "~" its permissions changed."""

    app_id: str
    name: str
    change: str
    added: dict[str, tuple[str, ...]] = field(default_factory=dict)
    removed: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "name": self.name, "change": self.change,
                "added": self.added, "removed": self.removed}


@dataclass(frozen=True)
class ManifestDiff:
    """Everything that differs; empty when the two grant the same and configure the app alike."""

    old_version: str
    new_version: str
    resources: tuple[ResourceChange, ...]
    settings: tuple[tuple[str, Any, Any], ...]  # (setting, old value, new value)

    @property
    def is_empty(self) -> bool:
        return not self.resources and not self.settings

    def count(self, side: str) -> int:
        """How many permissions are added ("added") or removed ("removed") in all."""
        return sum(len(names) for r in self.resources for names in getattr(r, side).values())

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, "old_version": self.old_version, "new_version": self.new_version,
                "resources": [r.to_dict() for r in self.resources],
                "settings": [{"setting": s, "old": o, "new": n} for s, o, n in self.settings],
                "added": self.count("added"), "removed": self.count("removed")}


def _permissions(resource: ResourceSpec | None) -> dict[str, set[str]]:
    return {kind: set(getattr(resource, kind)) if resource else set() for kind in KINDS}


def _resource_change(old: ResourceSpec | None, new: ResourceSpec | None) -> ResourceChange | None:
    before, after = _permissions(old), _permissions(new)
    added = {k: tuple(sorted(after[k] - before[k])) for k in KINDS if after[k] - before[k]}
    removed = {k: tuple(sorted(before[k] - after[k])) for k in KINDS if before[k] - after[k]}
    if not added and not removed:
        return None
    spec = new or old
    assert spec is not None
    change = "+" if old is None else "-" if new is None else "~"
    return ResourceChange(spec.app_id, spec.name, change, added, removed)


def _settings(old: Manifest, new: Manifest) -> tuple[tuple[str, Any, Any], ...]:
    pairs = (("app.display_name", old.app.display_name, new.app.display_name),
             ("app.unique_name", old.app.unique_name, new.app.unique_name),
             ("app.sign_in_audience", old.app.sign_in_audience, new.app.sign_in_audience),
             ("app.public_client", old.app.public_client, new.app.public_client),
             ("secret.display_name", old.secret.display_name, new.secret.display_name),
             ("secret.lifetime_days", old.secret.lifetime_days, new.secret.lifetime_days))
    return tuple(p for p in pairs if p[1] != p[2])


def compare(old: Manifest, new: Manifest) -> ManifestDiff:
    """The difference from `old` to `new`, resources in NEW's order, then the ones only OLD lists."""
    old_by_id = {r.app_id: r for r in old.resources}
    new_by_id = {r.app_id: r for r in new.resources}
    order = [r.app_id for r in new.resources] + [a for a in old_by_id if a not in new_by_id]
    changes = [c for a in order if (c := _resource_change(old_by_id.get(a), new_by_id.get(a))) is not None]
    return ManifestDiff(old.manifest_version, new.manifest_version, tuple(changes), _settings(old, new))
