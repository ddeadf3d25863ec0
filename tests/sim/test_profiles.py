"""Issue 18: the Graph-only profile (manifests/kodo-graph.yaml) and moving a tenant to it with --prune."""

from __future__ import annotations

from pathlib import Path

import yaml

from kodo_provision.manifest.load import bundled_profile_path, load_manifest

from .conftest import CONTOSO, assert_converged

REPO = Path(__file__).parents[2]
GRAPH = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH = "00000002-0000-0000-c000-000000000000"
EXCHANGE = "00000002-0000-0ff1-ce00-000000000000"


def test_the_bundled_profiles_are_the_repositorys():
    for name in ("kodo", "kodo-graph"):
        assert bundled_profile_path(name).read_text() == (REPO / "manifests" / f"{name}.yaml").read_text()
    graph_only = load_manifest("kodo-graph")  # a bundled profile by name, as a pipx install has no manifests/
    assert [r.app_id for r in graph_only.resources] == [GRAPH]
    assert "MailboxItem.Export.All" in graph_only.resources[0].application


def _comment_block_above(lines: list[str], at: int) -> list[str]:
    """The comment lines directly above line `at`, past the permissions of the same group (up to two)."""
    i, skipped = at - 1, 0
    while i >= 0 and lines[i].strip().startswith("- ") and skipped < 2:
        i, skipped = i - 1, skipped + 1
    block = []
    while i >= 0 and lines[i].strip().startswith("#"):
        block.append(lines[i])
        i -= 1
    return block


def test_every_profile_permission_is_cited_in_the_file():
    """Each permission of the Graph profile sits under a comment block that links Microsoft's page for it."""
    text = (REPO / "manifests" / "kodo-graph.yaml").read_text()
    lines = text.splitlines()
    for name in yaml.safe_load(text)["resources"][0]["application"]:
        block = _comment_block_above(lines, lines.index(f"      - {name}"))
        assert any("https://learn.microsoft.com/" in line for line in block), name


def _permissions(state: dict, sp_id: str, app: dict) -> tuple[set, set, set]:
    resources = {s["id"]: s["appId"] for s in state["servicePrincipals"]}
    assigned = {resources[a["resourceId"]] for a in state["appRoleAssignments"] if a["principalId"] == sp_id}
    granted = {resources[g["resourceId"]] for g in state["oauth2PermissionGrants"] if g["clientId"] == sp_id}
    required = {r["resourceAppId"] for r in app["requiredResourceAccess"]}
    return required, assigned, granted


def test_prune_moves_a_tenant_to_the_graph_profile_and_keeps_its_credentials(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    creds = tmp_path / f"kodo-credentials-{CONTOSO}.json"
    before = assert_converged(sim, CONTOSO, creds)
    assert _permissions(before["state"], before["sp_id"], before["app"]) == (
        {GRAPH, AAD_GRAPH, EXCHANGE}, {GRAPH, AAD_GRAPH, EXCHANGE}, {GRAPH, AAD_GRAPH})

    planned = kodo("plan", "--manifest", "kodo-graph", "--prune", "--detailed-exitcode", expect=2,
                   ).out
    # The APIs the profile drops are named from the tenant (the manifest no longer lists them), never by ID.
    for removal in ("- revoke application permission Windows Azure Active Directory / Directory.Read.All",
                    "- revoke application permission Office 365 Exchange Online / full_access_as_app",
                    "- remove the delegated grant on Windows Azure Active Directory (User.Read.All)"):
        assert removal in planned, planned
    sim.clear_request_log()
    kodo("onboard", "--yes", "--manifest", "kodo-graph", "--prune")
    dropped = {s["id"] for s in before["state"]["servicePrincipals"] if s["appId"] in (AAD_GRAPH, EXCHANGE)}
    reads = [r.path for r in sim.request_log if r.method == "GET" and r.path.split("?")[0].removeprefix(
        "/servicePrincipals/") in dropped]
    assert sorted(reads) == sorted(f"/servicePrincipals/{i}" for i in dropped), "each dropped API read once"

    after = assert_converged(sim, CONTOSO, creds)
    assert _permissions(after["state"], after["sp_id"], after["app"]) == ({GRAPH}, {GRAPH}, {GRAPH})
    assert after["creds"]["secret_key_id"] == before["creds"]["secret_key_id"]  # the same secret
    assert [c["keyId"] for c in after["app"]["passwordCredentials"]] == [before["creds"]["secret_key_id"]]
    assert len(after["assignments"]) == 9
    kodo("plan", "--manifest", "kodo-graph", "--detailed-exitcode")
    kodo("verify", "--manifest", "kodo-graph", "--credentials", str(creds))
