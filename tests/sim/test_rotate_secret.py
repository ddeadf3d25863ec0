"""Issue 4: rotate-secret leaves a working credentials file at every moment."""

from __future__ import annotations

import json
import os
import stat

from kodo_provision.flows import rotate as rotate_module

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state
from .lifecycle_helpers import app_token_works, creds_file


def key_ids(sim) -> set[str]:
    return {c["keyId"] for c in kodo_apps(tenant_state(sim))[0]["passwordCredentials"]}


def test_rotation_never_leaves_a_broken_file(sim, kodo, tmp_path, monkeypatch):
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    old = json.loads(path.read_text())
    assert app_token_works(sim, path)  # before

    during: list[bool] = []
    real_write = rotate_module.write_credentials

    def write_then_probe(target, data):
        real_write(target, data)
        if target == path:  # right after the new file is written, before anything else happens
            during.append(app_token_works(sim, path))

    monkeypatch.setattr(rotate_module, "write_credentials", write_then_probe)
    # Entra refuses a brand-new secret for a while; rotation must wait for it, not hand it over early.
    sim.set_faults(new_secret_delay_ms=1500)
    run = kodo("rotate-secret", "--overlap", "7d")
    new = json.loads(path.read_text())

    assert during == [True]
    assert app_token_works(sim, path)  # after
    assert new["secret_key_id"] != old["secret_key_id"] and new["client_id"] == old["client_id"]
    assert new["previous_secret_key_id"] == old["secret_key_id"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    backups = list(tmp_path.glob(f"{path.name}.*.bak"))
    assert len(backups) == 1 and stat.S_IMODE(os.stat(backups[0]).st_mode) == 0o600
    assert json.loads(backups[0].read_text())["client_secret"] == old["client_secret"]
    assert app_token_works(sim, backups[0])  # the old secret is kept by default
    assert {old["secret_key_id"], new["secret_key_id"]} <= key_ids(sim)
    assert f"--remove-key {old['secret_key_id']}" in run.out
    assert new["client_secret"] not in run.out + run.err and old["client_secret"] not in run.out + run.err
    assert_converged(sim, CONTOSO, path)
    kodo("plan", "--detailed-exitcode")  # nothing to do after rotation


def test_remove_old_removes_the_previous_secret_after_verification(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    old = json.loads(path.read_text())
    data = kodo("rotate-secret", "--remove-old", "--output", "json").json()
    new = json.loads(path.read_text())
    assert data["old_secret_removed"] and data["old_secret_key_id"] == old["secret_key_id"]
    assert data["app"]["client_id"] == new["client_id"]
    assert key_ids(sim) == {new["secret_key_id"]}
    assert app_token_works(sim, path)


def test_remove_key_later_and_refusals(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    old = json.loads(path.read_text())
    kodo("rotate-secret")
    new = json.loads(path.read_text())
    refused = kodo("rotate-secret", "--remove-key", new["secret_key_id"], expect=2)
    assert [line for line in refused.err.splitlines() if line.startswith("error:")] == [
        line for line in refused.err.splitlines() if "would break KODO" in line]
    assert "To sign in" not in refused.err  # refused before any sign-in
    kodo("rotate-secret", "--remove-key", old["secret_key_id"])
    assert key_ids(sim) == {new["secret_key_id"]}
    again = kodo("rotate-secret", "--remove-key", old["secret_key_id"], "--output", "json")
    assert again.json()["action"] == "nothing_to_do"
    assert app_token_works(sim, path)


def test_remove_key_of_an_unknown_id_lists_the_apps_keys(sim, kodo, tmp_path):
    """A key ID the app never had (a typo) is an error naming the keys it has, exit 2; nothing changes.
    The one a rotation replaced and --remove-key already removed stays "nothing to do" (above)."""
    kodo("onboard", "--yes")
    held = json.loads(creds_file(tmp_path).read_text())["secret_key_id"]
    before = key_ids(sim)
    run = kodo("rotate-secret", "--remove-key", "11111111-2222-3333-4444-555555555555", expect=2)
    (line,) = [x for x in run.err.splitlines() if x.startswith("error:")]
    assert "11111111-2222-3333-4444-555555555555" in line and held in line and "--remove-key" in line
    assert key_ids(sim) == before


def test_a_foreign_secret_is_not_removed_by_remove_old(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    creds = json.loads(path.read_text())
    # The file points at a secret someone added in the portal (no kodo_provision marker).
    from .lifecycle_helpers import graph_as_admin

    response = graph_as_admin(sim, "POST", f"/applications/{creds['app_object_id']}/addPassword",
                              {"passwordCredential": {"displayName": "added in the portal"}})
    foreign = response.json()
    creds.update(client_secret=foreign["secretText"], secret_key_id=foreign["keyId"])
    path.write_text(json.dumps(creds))
    data = kodo("rotate-secret", "--remove-old", "--output", "json").json()
    assert not data["old_secret_removed"] and "not created by kodo-provision" in " ".join(data["notes"])
    assert foreign["keyId"] in key_ids(sim)


def test_rotate_on_a_tenant_without_the_app(sim, kodo, tmp_path):
    run = kodo("rotate-secret", expect=2)
    assert "no app registration with uniqueName kodo-cloud-backup" in run.err and "onboard" in run.err


def test_no_backup_keeps_a_secret_once_it_is_removed(sim, kodo, tmp_path):
    """Issue 15: the backup a rotation writes holds the old secret while it is still valid; once that secret
    is removed (--remove-old now, or --remove-key later), its backups go too."""
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    first = json.loads(path.read_text())["secret_key_id"]
    kodo("rotate-secret")  # the old secret stays valid: its backup stays
    (backup,) = tmp_path.glob(f"{path.name}.*.bak")
    assert json.loads(backup.read_text())["secret_key_id"] == first
    kodo("rotate-secret", "--remove-key", first)
    assert not backup.exists()
    second = json.loads(path.read_text())["secret_key_id"]
    kodo("rotate-secret", "--remove-old")
    assert not [b for b in tmp_path.glob(f"{path.name}.*.bak")
                if json.loads(b.read_text())["secret_key_id"] in (first, second)]
