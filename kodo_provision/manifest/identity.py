"""How the tool recognises its own app registration in a tenant.

The key is Entra's `uniqueName` (an immutable alternate key, unique per tenant), never the
display name: anyone can register a second app called "KODO for Microsoft 365", and such an
app must never be adopted, changed or deleted.
https://learn.microsoft.com/en-us/graph/api/resources/application#properties

- uniqueName = the manifest's `app.unique_name` (e.g. `kodo-cloud-backup`); with `--app-name N`
  it is `<unique_name>-<slug(N)>`, so one tenant may hold several KODO apps, each addressed by
  the same words (`--app-name N`) in every command.
- The app also carries the tag `kodo-provision` (plus `kodo-manifest:<version>`). Destructive
  commands (offboard, removing secrets) additionally require one of these tags, so an app that
  someone else created under the same uniqueName is refused rather than deleted.
"""

from __future__ import annotations

import re

from ..errors import UsageError

TOOL_TAG = "kodo-provision"
MANIFEST_TAG_PREFIX = "kodo-manifest:"
_MAX_UNIQUE_NAME = 120


def slug(text: str) -> str:
    """'KODO Backup (Contoso)' -> 'kodo-backup-contoso'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def app_unique_name(manifest_unique_name: str, app_name: str | None) -> str:
    """The uniqueName of the app addressed by the manifest and --app-name."""
    if not app_name:
        return manifest_unique_name
    suffix = slug(app_name)
    if not suffix:
        raise UsageError(f"--app-name {app_name!r} has no letters or digits",
                         hint="use a name such as 'KODO Backup Contoso'")
    name = f"{manifest_unique_name}-{suffix}"
    if len(name) > _MAX_UNIQUE_NAME:
        raise UsageError(f"--app-name {app_name!r} is too long for a uniqueName ({len(name)} > 120 characters)",
                         hint="use a shorter --app-name")
    return name


def is_tool_app(tags: tuple[str, ...] | list[str]) -> bool:
    """True when the app carries a tag this tool sets (required before deleting anything)."""
    return any(t == TOOL_TAG or t.startswith(MANIFEST_TAG_PREFIX) for t in tags)


def merged_tags(desired: tuple[str, ...], existing: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The app's tags after an update: others' tags are kept, ours are the desired ones, and a
    `kodo-manifest:` tag of an older manifest version is replaced (the app records one version)."""
    kept = {t for t in existing if not (t.startswith(MANIFEST_TAG_PREFIX) and t not in desired)}
    return tuple(sorted(kept | set(desired)))


# Each run names the secret it adds with a run-unique marker, so a secret added by a run that
# died before handing it off can be recognised (and removed) later; see apply/secret.py.
SECRET_MARKER_PREFIX = "kodo_provision run "


def secret_marker(run_id: str) -> str:
    """The marker a run's secret carries in its display name."""
    return f"({SECRET_MARKER_PREFIX}{run_id})"
