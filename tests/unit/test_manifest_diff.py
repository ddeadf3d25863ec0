"""Issue 18: `kodo-provision manifest diff OLD NEW`: what a move from one permission profile to another
grants and removes, offline."""

from __future__ import annotations

import json

import yaml

from kodo_provision.cli.main import main
from kodo_provision.manifest.compare import compare
from kodo_provision.manifest.load import default_manifest_path, load_manifest

GRAPH = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH = "00000002-0000-0000-c000-000000000000"
EXCHANGE = "00000002-0000-0ff1-ce00-000000000000"


def graph_only(tmp_path):
    """The bundled manifest moved to Microsoft Graph alone, Sites write instead of read, 90-day secrets."""
    data = yaml.safe_load(default_manifest_path().read_text())
    data["manifest_version"] = "2026.12.1-graph"
    data["resources"] = [r for r in data["resources"] if r["app_id"] == GRAPH]
    graph = data["resources"][0]
    graph["application"] = [p for p in graph["application"] if p != "Sites.Read.All"] + ["Sites.ReadWrite.All"]
    data["secret"] = {"lifetime_days": 90}
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_compare_lists_added_and_removed_permissions_per_api(tmp_path):
    result = compare(load_manifest(None), load_manifest(str(graph_only(tmp_path))))
    by_id = {r.app_id: r for r in result.resources}
    assert [r.app_id for r in result.resources] == [GRAPH, AAD_GRAPH, EXCHANGE]
    assert by_id[GRAPH].change == "~" and by_id[GRAPH].added == {"application": ("Sites.ReadWrite.All",)}
    assert by_id[GRAPH].removed == {"application": ("Sites.Read.All",)}
    assert by_id[AAD_GRAPH].change == "-" and by_id[AAD_GRAPH].removed == {
        "application": ("Directory.Read.All",), "delegated": ("User.Read.All",)}
    assert by_id[EXCHANGE].removed == {"application": ("full_access_as_app",)}
    assert result.settings == (("secret.lifetime_days", 180, 90),)
    assert (result.count("added"), result.count("removed")) == (1, 4)
    assert compare(load_manifest(None), load_manifest(None)).is_empty


def test_the_command_renders_text_json_and_a_detailed_exit_code(tmp_path, capsys):
    new = str(graph_only(tmp_path))
    assert main(["manifest", "diff", str(default_manifest_path()), new]) == 0
    text = capsys.readouterr().out
    assert "  ~ Microsoft Graph (00000003-0000-0000-c000-000000000000)\n      + application Sites.ReadWrite.All\n" \
           "      - application Sites.Read.All\n" in text
    assert "  - Azure AD Graph" in text and "1 permission(s) added, 4 removed" in text
    assert main(["manifest", "diff", str(default_manifest_path()), new, "--output", "json",
                 "--detailed-exitcode"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["new_version"] == "2026.12.1-graph" and data["removed"] == 4
    assert [r["change"] for r in data["resources"]] == ["~", "-", "-"]
    same = str(default_manifest_path())
    assert main(["manifest", "diff", same, same, "--detailed-exitcode"]) == 0
    assert capsys.readouterr().out.endswith(": no difference\n")


def test_a_missing_manifest_is_one_line(tmp_path, capsys):
    assert main(["manifest", "diff", str(default_manifest_path()), str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.yaml does not exist" in err
