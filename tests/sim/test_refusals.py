"""Bad input and missing rights: one line with a hint, the documented exit code, no change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kodo_provision.cli.main import main
from kodo_provision.errors import ExitStatus
from kodo_provision.simulator import Scenario, Simulator

from .conftest import CONTOSO, consent_sign_in_client, kodo_apps, tenant_state, tool_grants

REPO_MANIFEST = Path(__file__).parents[2] / "manifests" / "kodo.yaml"


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert " — " in lines[0], f"no hint in: {lines[0]}"
    return lines[0]


def assert_unchanged(sim, tenant=CONTOSO):
    state = tenant_state(sim, tenant)
    assert kodo_apps(state) == []
    assert tool_grants(state) == []


def manifest_with(tmp_path, mutate):
    data = yaml.safe_load(REPO_MANIFEST.read_text())
    mutate(data)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_plain_user_is_refused_up_front(sim, kodo):
    consent_sign_in_client(sim)
    sim.set_sign_in(tenant=CONTOSO, user="user@contoso.onmicrosoft.com")
    run = kodo("onboard", "--yes", expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    assert "Global Administrator or Privileged Role Administrator" in one_error_line(run.err)
    assert_unchanged(sim)


def test_plain_user_without_an_earlier_consent_is_told_who_may_consent(sim, kodo):
    """No admin consented the client before: Entra's "Need admin approval" page ends the sign-in."""
    sim.set_sign_in(tenant=CONTOSO, user="user@contoso.onmicrosoft.com")
    run = kodo("onboard", "--yes", expect=ExitStatus.SIGN_IN_FAILED)
    line = one_error_line(run.err)
    assert "AADSTS65004" in line and "Global Administrator or Privileged Role Administrator" in line
    assert_unchanged(sim)
    assert tenant_state(sim)["oauth2PermissionGrants"] == [], "a user who may not consent records no consent"


def test_application_administrator_is_refused_up_front(sim, kodo):
    consent_sign_in_client(sim)
    sim.set_sign_in(tenant=CONTOSO, user="appadmin@contoso.onmicrosoft.com")
    run = kodo("onboard", "--yes", expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    one_error_line(run.err)
    assert_unchanged(sim)


def test_privileged_role_administrator_may_onboard_where_users_may_register_apps(tmp_path):
    data = Scenario.default().model_dump()
    data["tenants"][0]["settings"]["users_can_register_apps"] = True
    with Simulator(scenario=Scenario.model_validate(data)) as sim:
        sim.set_sign_in(tenant=CONTOSO, user="pra@contoso.onmicrosoft.com")
        code = main(["onboard", "--yes", "--tenant", CONTOSO, "--authority-host", sim.url, "--graph-endpoint",
                     sim.url, "--ca-bundle", str(sim.ca_bundle_path), "--credentials-out", str(tmp_path / "c.json")])
        assert code == 0
        assert len(kodo_apps(tenant_state(sim))) == 1


def test_privileged_role_administrator_without_app_creation_right(sim, kodo):
    """PRA may consent to anything, but creating app registrations is a separate right
    (https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference)."""
    sim.set_sign_in(tenant=CONTOSO, user="pra@contoso.onmicrosoft.com")
    run = kodo("onboard", "--yes", expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    assert "Application Developer" in one_error_line(run.err)
    assert_unchanged(sim)


def test_unknown_permission(sim, kodo, tmp_path):
    path = manifest_with(tmp_path, lambda d: d["resources"][0]["application"].append("Mail.Teleport"))
    run = kodo("onboard", "--yes", "--manifest", path, expect=ExitStatus.USAGE)
    assert "resources[0].application[6]" in one_error_line(run.err)
    assert_unchanged(sim)


def test_wrong_permission_type(sim, kodo, tmp_path):
    path = manifest_with(tmp_path, lambda d: d["resources"][0]["application"].append("User.Read"))
    run = kodo("onboard", "--yes", "--manifest", path, expect=ExitStatus.USAGE)
    assert "only as a delegated permission" in one_error_line(run.err)
    assert_unchanged(sim)


def test_invalid_manifest_fails_before_sign_in(sim, kodo, tmp_path):
    path = manifest_with(tmp_path, lambda d: d["resources"][1].update(app_id="nope"))
    run = kodo("onboard", "--yes", "--manifest", path, expect=ExitStatus.USAGE)
    assert "resources[1].app_id" in one_error_line(run.err)
    assert not [r for r in sim.request_log if r.kind == "login"]


def test_bad_tenant_id_fails_before_sign_in(sim, kodo):
    run = kodo("onboard", "--yes", tenant="not a tenant", expect=ExitStatus.USAGE)
    one_error_line(run.err)
    assert not sim.request_log


def test_tenant_that_does_not_exist(sim, kodo):
    run = kodo("onboard", "--yes", tenant="nosuchtenant.onmicrosoft.com", expect=ExitStatus.SIGN_IN_FAILED)
    assert "tenant nosuchtenant.onmicrosoft.com not found" in one_error_line(run.err)


def test_declined_sign_in(sim, kodo):
    sim.set_sign_in(tenant=CONTOSO, decline=True)
    run = kodo("onboard", "--yes", expect=ExitStatus.SIGN_IN_FAILED)
    assert "declined" in one_error_line(run.err)
    assert_unchanged(sim)


def test_untrusted_tls(sim, kodo):
    run = kodo("onboard", "--yes", "--authority-host", sim.url, "--graph-endpoint", sim.url, endpoints=False,
               expect=ExitStatus.NETWORK)
    assert "--ca-bundle" in one_error_line(run.err)
    assert_unchanged(sim)


def test_no_terminal_without_yes_is_refused_before_sign_in(sim, kodo):
    run = kodo("onboard", expect=ExitStatus.USAGE)
    assert "--yes" in one_error_line(run.err)
    assert not sim.request_log


def test_unknown_resource_api_is_refused_before_anything_of_ours_exists(sim, kodo, tmp_path):
    path = manifest_with(tmp_path, lambda d: d["resources"].append(
        {"name": "Nonexistent API", "app_id": "12345678-1234-1234-1234-123456789abc", "application": ["X.Read"]}))
    run = kodo("onboard", "--yes", "--manifest", path, expect=ExitStatus.USAGE)
    assert "Nonexistent API" in one_error_line(run.err)
    assert_unchanged(sim)


def test_unwritable_credentials_path_is_refused_before_sign_in(sim, kodo, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = kodo("onboard", "--yes", "--credentials-out", str(blocker / "c.json"), expect=ExitStatus.USAGE)
    assert "credentials" in one_error_line(run.err)
    assert not sim.request_log


AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def test_a_preauthorized_first_party_client_works_when_its_scopes_cover_the_job(sim, kodo, tmp_path):
    """Azure CLI's client may not ask for explicit scopes (AADSTS65002): the tool asks `.default` and reads
    `scp`; the simulator's set covers the job through Directory.AccessAsUser.All. No consent is recorded."""
    kodo("onboard", "--yes", "--client-id", AZURE_CLI, "--credentials-out", str(tmp_path / "c.json"))
    state = tenant_state(sim)
    assert [s for s in state["servicePrincipals"] if s["appId"] == AZURE_CLI] == [], "preauthorized: no consent"
    assert len(kodo_apps(state)) == 1


def test_a_preauthorized_first_party_client_lacking_a_scope_is_refused_before_any_request(tmp_path, capfd):
    narrowed = Scenario.default() | Scenario.model_validate(
        {"sign_in": {"preauthorized_graph_scopes": {AZURE_CLI: ["Application.ReadWrite.All", "User.Read"]}}})
    with Simulator(scenario=narrowed) as sim:
        code = main(["onboard", "--yes", "--tenant", CONTOSO, "--client-id", AZURE_CLI, "--authority-host", sim.url,
                     "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path),
                     "--credentials-out", str(tmp_path / "c.json")])
        assert code == ExitStatus.INSUFFICIENT_PRIVILEGES
        line = one_error_line(capfd.readouterr().err)
        assert "Microsoft Azure CLI" in line and "AppRoleAssignment.ReadWrite.All" in line and "--client-id" in line
        assert [r for r in sim.request_log if r.kind == "graph"] == [], "refused before any Graph request"
        assert kodo_apps(tenant_state(sim)) == []


@pytest.mark.parametrize("command", [["verify"], ["rotate-secret"]])
def test_a_missing_credentials_file_is_refused_before_sign_in(sim, kodo, tmp_path, command):
    """Issue 16: verify said "passed" while skipping the secret checks; rotate-secret added a secret and
    claimed it replaced a file that was never there."""
    run = kodo(*command, "--credentials", str(tmp_path / "missing.json"), expect=ExitStatus.USAGE)
    assert "missing.json does not exist" in one_error_line(run.err)
    assert [r for r in sim.request_log if r.kind in ("login", "graph")] == [], "refused before sign-in"


def test_a_log_file_that_is_a_symlink_is_refused_before_sign_in(sim, kodo, tmp_path):
    """Issue 15: --log-file never follows a symbolic link (someone else's file would receive the log)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("theirs\n")
    (tmp_path / "run.log").symlink_to(victim)
    run = kodo("onboard", "--yes", "--log-file", str(tmp_path / "run.log"), expect=ExitStatus.USAGE)
    assert "symbolic link" in one_error_line(run.err)
    assert victim.read_text() == "theirs\n" and not sim.request_log


def test_credentials_out_never_overwrites_a_file_that_is_not_ours(sim, kodo, tmp_path):
    """Issue 15: --credentials-out package.json on an existing non-credentials file: refused before sign-in,
    the file unchanged."""
    package = tmp_path / "package.json"
    package.write_text('{"name": "my-app", "version": "1.0.0"}\n')
    run = kodo("onboard", "--yes", "--credentials-out", str(package), expect=ExitStatus.USAGE)
    assert "not a kodo-provision credentials file" in one_error_line(run.err)
    assert package.read_text() == '{"name": "my-app", "version": "1.0.0"}\n' and not sim.request_log


def test_two_apps_in_one_tenant_get_two_files_and_never_share_one(sim, kodo, tmp_path):
    """Issue 15: the default file name includes --app-name; a file made for one app is refused for another."""
    import json

    kodo("onboard", "--yes")
    kodo("onboard", "--yes", "--app-name", "KODO second")
    first = json.loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text())
    second = json.loads((tmp_path / f"kodo-credentials-{CONTOSO}-kodo-second.json").read_text())
    assert first["client_id"] != second["client_id"]
    run = kodo("onboard", "--yes", "--app-name", "KODO second", "--credentials-out",
               str(tmp_path / f"kodo-credentials-{CONTOSO}.json"), expect=ExitStatus.USAGE)
    assert "holds another app" in one_error_line(run.err)
    assert json.loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text()) == first


def test_with_output_json_an_error_is_one_json_object_on_stdout(sim, kodo, tmp_path):
    """Issue 16: scripts read stdout: an error prints {"error": {code, message, hint, exit_status}} there (and
    its one line on stderr); a failure after a partial result prints that result with the error in it."""
    import json

    usage = kodo("onboard", "--yes", "--output", "json", "--manifest", str(tmp_path / "missing.yaml"),
                 expect=ExitStatus.USAGE)
    error = json.loads(usage.out)["error"]
    assert error["code"] == "manifest_error" and error["exit_status"] == 2 and error["message"] and error["hint"]
    assert one_error_line(usage.err)
    flag = kodo("plan", "--output=json", "--no-such-flag", expect=ExitStatus.USAGE)
    assert json.loads(flag.out)["error"]["code"] == "usage_error"
    text = kodo("onboard", "--yes", "--manifest", str(tmp_path / "missing.yaml"), expect=ExitStatus.USAGE)
    assert text.out == ""
    from kodo_provision.simulator import Faults

    sim.set_faults(Faults(new_secret_delay_ms=600_000))  # verification cannot succeed: a failure after changes
    failed = kodo("onboard", "--yes", "--output", "json", "--verify-budget", "5",
                  expect=ExitStatus.VERIFICATION_FAILED)
    payload = json.loads(failed.out)  # one object: the result so far, with the error in it
    assert payload["error"]["code"] == "verification_error" and payload["client_id"]
