"""Issue 8: a tenant onboarded with an older manifest version gets only the delta, and the app
records exactly one manifest version (tag `kodo-manifest:<version>`)."""

from __future__ import annotations

from pathlib import Path

import yaml

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state

REPO_MANIFEST = Path(__file__).parents[2] / "manifests" / "kodo.yaml"


def manifest_file(tmp_path: Path, version: str, extra_graph_role: str | None) -> Path:
    data = yaml.safe_load(REPO_MANIFEST.read_text())
    data["manifest_version"] = version
    graph = data["resources"][0]
    graph["application"] = [r for r in graph["application"] if r != "Sites.Read.All"]
    if extra_graph_role:
        graph["application"].append(extra_graph_role)
    path = tmp_path / f"kodo-{version}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_version_bump_grants_only_the_new_permission(sim, kodo, tmp_path):
    kodo("onboard", "--yes", "--manifest", str(manifest_file(tmp_path, "2026.10.1", None)))
    app_v1 = kodo_apps(tenant_state(sim))[0]
    assert "kodo-manifest:2026.10.1" in app_v1["tags"]
    secret_v1 = [c["keyId"] for c in app_v1["passwordCredentials"]]

    v2 = manifest_file(tmp_path, "2026.11.1", "Sites.Read.All")
    planned = kodo("plan", "--manifest", str(v2), "--output", "json").json()
    run = kodo("onboard", "--yes", "--manifest", str(v2), "--output", "json")
    for steps in (planned["steps"], run.json()["plan"]["steps"]):
        assert [s["kind"] for s in steps] == ["upsert_application", "grant_app_role"], steps
        assert set(steps[0]["changed_fields"]) == {"requiredResourceAccess", "tags"}
        assert steps[1]["permission_name"] == "Sites.Read.All"

    result = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    tags = result["app"]["tags"]
    assert "kodo-manifest:2026.11.1" in tags and "kodo-manifest:2026.10.1" not in tags
    assert [t for t in tags if t.startswith("kodo-manifest:")] == ["kodo-manifest:2026.11.1"]
    assert [c["keyId"] for c in result["app"]["passwordCredentials"]] == secret_v1  # no new secret
    assert len(result["assignments"]) == 8
    # And the re-plan is empty.
    assert kodo("plan", "--manifest", str(v2), "--output", "json").json()["changes"] == 0


def test_downgrade_records_exactly_one_version(sim, kodo, tmp_path):
    """Going back to an older manifest (with --prune) replaces the tag too: one version on the app."""
    kodo("onboard", "--yes")
    app_id = kodo_apps(tenant_state(sim))[0]["appId"]
    kodo("onboard", "--yes", "--manifest", str(manifest_file(tmp_path, "2026.01.1", None)), "--prune")
    app = kodo_apps(tenant_state(sim))[0]
    assert [t for t in app["tags"] if t.startswith("kodo-manifest:")] == ["kodo-manifest:2026.01.1"]
    assert "kodo-provision" in app["tags"] and app["appId"] == app_id


def test_merged_tags_keeps_foreign_tags_and_replaces_the_version():
    from kodo_provision.manifest.identity import merged_tags

    existing = ("HideApp", "kodo-provision", "kodo-manifest:1")
    assert merged_tags(("kodo-provision", "kodo-manifest:2"), existing) == (
        "HideApp", "kodo-manifest:2", "kodo-provision")
