"""Manifest schema, loading and name resolution (pure)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kodo_provision.errors import ExitStatus, ManifestError
from kodo_provision.manifest.load import default_manifest_path, load_manifest, parse_manifest
from kodo_provision.manifest.resolve import ROLE, SCOPE, resolve

from .conftest import AAD, EXO, GRAPH, GRAPH_ROLES

REPO_MANIFEST = Path(__file__).parents[2] / "manifests" / "kodo.yaml"


def base() -> dict:
    return yaml.safe_load(REPO_MANIFEST.read_text())


def test_bundled_manifest_is_the_repo_manifest():
    assert default_manifest_path().read_text() == REPO_MANIFEST.read_text()


def test_repo_manifest_states_the_manual_procedure():
    manifest = load_manifest(REPO_MANIFEST)
    by_app = {r.app_id: r for r in manifest.resources}
    assert set(by_app[GRAPH].application) == set(GRAPH_ROLES)
    assert by_app[GRAPH].delegated == ("User.Read",)
    assert by_app[AAD].application == ("Directory.Read.All",)
    assert by_app[AAD].delegated == ("User.Read.All",)
    assert by_app[EXO].application == ("full_access_as_app",)


def test_schema_errors_name_the_path():
    data = base()
    data["resources"][1]["application"][0] = "has space"
    data["resources"][0]["app_id"] = "not-a-guid"
    with pytest.raises(ManifestError) as err:
        parse_manifest(data, source="m.yaml")
    text = err.value.one_line()
    assert "resources[1].application[0]" in text
    assert "resources[0].app_id" in text
    assert err.value.exit_status == ExitStatus.USAGE


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.pop("app"), "app"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d["resources"][0]["application"].append("Mail.ReadWrite"), "listed twice"),
    (lambda d: d["resources"].append(copy.deepcopy(d["resources"][0])), "listed twice"),
    (lambda d: d["secret"].update(lifetime_days=0), "secret.lifetime_days"),
])
def test_schema_rejects_bad_documents(mutate, where):
    data = base()
    mutate(data)
    with pytest.raises(ManifestError, match=where.replace("[", r"\[")):
        parse_manifest(data, source="m.yaml")


def test_yaml_syntax_error_gives_line(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("schema_version: 1\nresources: [\n")
    with pytest.raises(ManifestError, match="line"):
        load_manifest(bad)


def test_missing_file_has_hint(tmp_path):
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path / "nope.yaml")
    assert err.value.hint and "--manifest" in err.value.hint


def test_resolve_binds_names_to_the_tenants_ids(tenant_sps):
    desired = resolve(load_manifest(REPO_MANIFEST), tenant_sps)
    graph = next(r for r in desired.resources if r.app_id == GRAPH)
    assert {(p.name, p.id, p.type) for p in graph.application} == {(n, i, ROLE) for n, i in GRAPH_ROLES.items()}
    assert [(p.name, p.type) for p in graph.delegated] == [("User.Read", SCOPE)]
    assert len(desired.required_resource_access) == 6 + 1 + 1 + 1 + 1


def _with_graph(application=(), delegated=()):
    data = base()
    data["resources"][0]["application"] = list(application) or ["Mail.ReadWrite"]
    data["resources"][0]["delegated"] = list(delegated)
    return parse_manifest(data, source="m.yaml")


def test_application_user_read_is_refused_with_the_reason(tenant_sps):
    with pytest.raises(ManifestError) as err:
        resolve(_with_graph(application=["User.Read"]), tenant_sps)
    assert "resources[0].application[0]" in err.value.summary
    assert "only as a delegated permission" in err.value.summary


def test_case_variant_is_refused_with_suggestion(tenant_sps):
    with pytest.raises(ManifestError, match="did you mean 'User.Read.All'"):
        resolve(_with_graph(application=["User.Read.all"]), tenant_sps)


def test_unknown_permission_and_all_problems_reported_together(tenant_sps):
    with pytest.raises(ManifestError) as err:
        resolve(_with_graph(application=["Nope.Read", "Mail.ReadWrite"], delegated=["Also.Nope"]), tenant_sps)
    assert "2 manifest permission(s)" in err.value.summary
    assert "'Nope.Read'" in err.value.summary and "'Also.Nope'" in err.value.summary


def test_missing_resource_sp_leaves_names_pending(tenant_sps):
    del tenant_sps[EXO]
    desired = resolve(load_manifest(REPO_MANIFEST), tenant_sps)
    exo = next(r for r in desired.resources if r.app_id == EXO)
    assert exo.sp is None and exo.pending_application == ("full_access_as_app",)


def test_unknown_permission_suggests_the_nearest_names(tenant_sps):
    with pytest.raises(ManifestError, match=r"nearest: Mail\.ReadWrite"):
        resolve(_with_graph(application=["Mail.ReadWrit"]), tenant_sps)
