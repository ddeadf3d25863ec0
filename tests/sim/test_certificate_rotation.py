"""Issue 8, "Rotation works for certificates too": rotate-secret, verify and the secret -> certificate
switch with a credentials file that holds a certificate, through the real CLI against the simulator."""

from __future__ import annotations

import json
import os
import shlex
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.core.exceptions import ClientAuthenticationError

from kodo_provision.credentials.certificate import generate_certificate
from kodo_provision.flows import rotate as rotate_module

from .conftest import kodo_apps, tenant_state
from .lifecycle_helpers import app_token_works, creds_file


def cert_token_works(sim, creds_path: Path, resource: str = "https://graph.microsoft.com") -> bool:
    """An app-only token with a client assertion signed by the file's certificate key, as KODO gets one."""
    assert json.loads(creds_path.read_text()).get("credential_type") == "certificate"
    return app_token_works(sim, creds_path, resource)


def cert_token_works_quietly(sim, creds: dict, tmp_path: Path) -> bool:
    """False when Entra refuses the (removed) certificate of an old credentials record."""
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps(creds))
    try:
        return cert_token_works(sim, probe)
    except ClientAuthenticationError:  # the certificate is gone
        return False


def certificates(sim) -> list[dict]:
    return kodo_apps(tenant_state(sim))[0]["keyCredentials"]


def onboard_with_certificate(kodo, tmp_path: Path) -> tuple[Path, dict]:
    kodo("onboard", "--yes", "--credential", "certificate")
    path = creds_file(tmp_path)
    return path, json.loads(path.read_text())


def test_certificate_rotation_never_leaves_a_broken_file(sim, kodo, tmp_path, monkeypatch):
    path, old = onboard_with_certificate(kodo, tmp_path)
    assert cert_token_works(sim, path)  # before

    during: list[bool] = []
    real_write = rotate_module.write_credentials

    def write_then_probe(target, data):
        real_write(target, data)
        if target == path:  # right after the new file is written, before anything else happens
            during.append(cert_token_works(sim, path))

    monkeypatch.setattr(rotate_module, "write_credentials", write_then_probe)
    run = kodo("rotate-secret", "--overlap", "7d")
    new = json.loads(path.read_text())

    assert during == [True]
    assert cert_token_works(sim, path)  # after
    assert new["credential_type"] == "certificate" and "client_secret" not in new
    assert new["key_id"] != old["key_id"] and new["certificate_thumbprint"] != old["certificate_thumbprint"]
    assert new["certificate_path"] != old["certificate_path"] and new["client_id"] == old["client_id"]
    assert new["previous_certificate_key_id"] == old["key_id"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(new["certificate_path"]).st_mode) == 0o600
    backups = list(tmp_path.glob(f"{path.name}.*.bak"))
    assert len(backups) == 1 and stat.S_IMODE(os.stat(backups[0]).st_mode) == 0o600
    assert json.loads(backups[0].read_text())["key_id"] == old["key_id"]
    assert cert_token_works(sim, backups[0])  # the old certificate is kept by default
    # Read-modify-write: the old certificate is still there next to the new one.
    assert {c["keyId"] for c in certificates(sim)} == {old["key_id"], new["key_id"]}
    assert f"--remove-key {old['key_id']}" in run.out and new["certificate_thumbprint"] in run.out
    assert "PRIVATE KEY" not in run.out + run.err
    # Onboarding sees the new certificate as held: nothing to do.
    again = kodo("onboard", "--yes", "--credential", "certificate", "--output", "json").json()
    assert again["plan"]["steps"] == [] and again["status"] == "verified"

    # The printed command removes the old certificate later; the held one is refused.
    refused = kodo("rotate-secret", "--remove-key", new["key_id"], expect=2)
    assert "would break KODO" in refused.err
    printed = next(line for line in run.out.splitlines() if f"--remove-key {old['key_id']}" in line)
    kodo(*shlex.split(printed)[1:])
    assert [c["keyId"] for c in certificates(sim)] == [new["key_id"]]
    assert cert_token_works(sim, path)


def test_remove_old_leaves_exactly_one_certificate(sim, kodo, tmp_path):
    path, old = onboard_with_certificate(kodo, tmp_path)
    data = kodo("rotate-secret", "--remove-old", "--output", "json").json()
    new = json.loads(path.read_text())
    assert data["credential_type"] == "certificate" and data["old_secret_removed"]
    assert data["old_secret_key_id"] == old["key_id"] and data["new_secret_key_id"] == new["key_id"]
    keys = certificates(sim)
    assert [c["keyId"] for c in keys] == [new["key_id"]]
    assert keys[0]["type"] == "AsymmetricX509Cert" and keys[0]["usage"] == "Verify"
    assert cert_token_works(sim, path)
    assert not cert_token_works_quietly(sim, old, tmp_path)


def test_verify_with_a_certificate_file(sim, kodo, tmp_path):
    path, creds = onboard_with_certificate(kodo, tmp_path)
    run = kodo("verify", "--credentials", str(path))
    assert "Verification  passed" in run.out
    assert "app_token: Microsoft Graph / Mail.ReadWrite is in the app-only token's roles" in run.out
    data = kodo("verify", "--credentials", str(path), "--output", "json").json()
    assert data["ok"] and data["failed"] == []
    checks = {c["name"]: c for c in data["checks"]}
    assert {"certificate_held", "certificate_key", "secret_expiry", "app_token"} <= set(checks)
    expiry = datetime.fromisoformat(creds["certificate_expires_at"])
    assert f"certificate {creds['key_id']} expires {expiry:%Y-%m-%d}" in checks["secret_expiry"]["message"]

    # The key file now holds another key pair: KODO could not sign in, and verify says which check.
    other = generate_certificate("someone else", now=datetime.now(UTC), lifetime=timedelta(days=30))
    Path(creds["certificate_path"]).write_bytes(other.pem_bundle())
    bad = kodo("verify", "--credentials", str(path), "--output", "json", "--token-budget", "0", expect=6)
    failed = {c["name"] for c in bad.json()["checks"] if c["status"] == "fail"}
    assert {"certificate_key", "app_token"} <= failed
    assert "app_token" in bad.err and "certificate_key" in bad.err


def test_switch_from_secret_to_certificate_keeps_the_secret_and_says_how_to_remove_it(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    path = creds_file(tmp_path)
    secret = json.loads(path.read_text())
    run = kodo("onboard", "--yes", "--credential", "certificate", "--output", "json").json()
    creds = json.loads(path.read_text())
    assert creds["credential_type"] == "certificate" and "client_secret" not in creds
    assert creds["previous_secret_key_id"] == secret["secret_key_id"]
    command = shlex.join(["kodo-provision", "rotate-secret", "--tenant", "contoso.onmicrosoft.com",
                          "--credentials", str(path), "--remove-key", secret["secret_key_id"]])
    assert any(command in note for note in run["notes"]), run["notes"]
    # Not deleted automatically: KODO may still use it.
    app = kodo_apps(tenant_state(sim))[0]
    assert [c["keyId"] for c in app["passwordCredentials"]] == [secret["secret_key_id"]]
    assert cert_token_works(sim, path)
    # The command in the note works as printed.
    kodo(*shlex.split(command)[1:], tenant=None)
    assert kodo_apps(tenant_state(sim))[0]["passwordCredentials"] == []
    assert cert_token_works(sim, path)
