"""Load and validate a manifest file; errors name the failing path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ManifestError
from .model import Manifest

# libyaml's parser where PyYAML was built with it (the wheels are): the bundled manifest and the lint data
# parse in ~2 ms instead of ~30 ms of pure Python, before the sign-in prompt (issue 17). Same safe subset.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML with the safe loader (no Python objects), in C where available (bandit B506 cannot
    tell that the loader is CSafeLoader or SafeLoader)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  # nosec B506

BUNDLED_MANIFEST = "kodo.yaml"
# Profiles shipped with the package (copies of manifests/*.yaml), named by `--manifest NAME` where no file
# of that name exists: a pipx install has no manifests/ folder (issue 18).
BUNDLED_PROFILES = ("kodo", "kodo-graph")


def default_manifest_path() -> Path:
    """The manifest shipped with the package (a copy of manifests/kodo.yaml)."""
    return bundled_profile_path(BUNDLED_MANIFEST.removesuffix(".yaml"))


def bundled_profile_path(name: str) -> Path:
    """The packaged copy of manifests/NAME.yaml."""
    return Path(str(resources.files("kodo_provision.data").joinpath(f"{name}.yaml")))


def manifest_path_for(path: str | Path | None) -> Path:
    """Where `--manifest` points: a file, a bundled profile's name (kodo, kodo-graph), or None (kodo)."""
    if not path:
        return default_manifest_path()
    given = Path(path)
    if not given.exists() and str(path) in BUNDLED_PROFILES:
        return bundled_profile_path(str(path))
    return given


def format_location(loc: tuple[Any, ...]) -> str:
    """('resources', 1, 'application', 0) -> 'resources[1].application[0]'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def parse_manifest(data: Any, *, source: str) -> Manifest:
    """Validate already-parsed YAML; raise ManifestError naming every bad path."""
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {source} is not a mapping",
                            hint="start from manifests/kodo.yaml")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # Model-level validators report at the parent path; keep their own message.
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{format_location(tuple(err['loc']))}: {message}")
        raise ManifestError(
            f"manifest {source} is invalid: " + "; ".join(problems),
            hint="fix the named fields (see manifests/kodo.yaml for the schema)",
        ) from None


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read a manifest file (default: the bundled one) and validate it."""
    manifest_path = manifest_path_for(path)
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"manifest {manifest_path} does not exist",
                            hint="pass --manifest PATH, a bundled profile (" + ", ".join(BUNDLED_PROFILES)
                                 + "), or omit it to use the default (kodo)") from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {manifest_path}", detail=exc.strerror) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ManifestError(f"manifest {manifest_path} is not valid YAML{where}",
                            detail=getattr(exc, "problem", None), hint="fix the YAML syntax") from None
    return parse_manifest(data, source=str(manifest_path))
