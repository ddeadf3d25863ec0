"""Issue 8, first bullet: `onboard --credential certificate` through the real CLI.

The key pair is made locally, only the public certificate reaches the app's keyCredentials, the
private key lands in a 0600 PEM, and the simulator accepts client assertions signed with it.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.identity import CertificateCredential
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state
from .test_onboard import MANIFEST_APPLICATION

CREDS = f"kodo-credentials-{CONTOSO}.json"


def cert_roles(sim, creds: dict, resource: str) -> set[str]:
    credential = CertificateCredential(creds["tenant_id"], creds["client_id"], creds["certificate_path"],
                                       authority=sim.url, disable_instance_discovery=True,
                                       connection_verify=str(sim.ca_bundle_path))
    token = credential.get_token(f"{resource}/.default").token
    payload = token.split(".")[1]
    return set(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("roles", []))


def converged_with_certificate(sim, tmp_path: Path) -> dict:
    """assert_converged, for a credentials file that holds a certificate instead of a secret."""
    creds_path = tmp_path / CREDS
    creds = json.loads(creds_path.read_text())
    assert stat.S_IMODE(os.stat(creds_path).st_mode) == 0o600
    apps = kodo_apps(tenant_state(sim))
    assert len(apps) == 1
    app = apps[0]
    assert creds["credential_type"] == "certificate" and "client_secret" not in creds
    assert creds["client_id"] == app["appId"] and creds["app_object_id"] == app["id"]
    keys = app["keyCredentials"]
    assert [k["keyId"] for k in keys] == [creds["key_id"]]
    assert base64.b64decode(keys[0]["customKeyIdentifier"]).hex().upper() == creds["certificate_thumbprint"]
    assert keys[0]["type"] == "AsymmetricX509Cert" and keys[0]["usage"] == "Verify"
    assert app.get("passwordCredentials", []) == []
    return {"app": app, "creds": creds}


def test_certificate_onboarding_yields_a_client_assertion_token_with_every_role(sim, kodo, tmp_path):
    log_file = tmp_path / "events.jsonl"
    run = kodo("onboard", "--yes", "--credential", "certificate", "--secret-lifetime", "90d",
               "--log-level", "debug", "--log-file", str(log_file))
    result = converged_with_certificate(sim, tmp_path)
    creds = result["creds"]
    key_file = Path(creds["certificate_path"])
    assert key_file.parent == tmp_path
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    pem = key_file.read_text()
    assert "BEGIN PRIVATE KEY" in pem and "BEGIN CERTIFICATE" in pem
    for resource, wanted in MANIFEST_APPLICATION.items():
        assert wanted <= cert_roles(sim, creds, resource), resource
    assert "add certificate" in run.out and "add client secret" not in run.out
    assert "Verification  passed" in run.out and creds["certificate_thumbprint"] in run.out
    # The private key is nowhere but in its file: not in output, logs, the app or the JSON.
    key_body = pem.split("-----BEGIN PRIVATE KEY-----")[1].split("-----END PRIVATE KEY-----")[0]
    key_lines = [line for line in key_body.splitlines() if line.strip()]
    everything = run.out + run.err + log_file.read_text() + json.dumps(tenant_state(sim)) + json.dumps(creds)
    assert "PRIVATE KEY" not in everything
    assert not any(line in everything for line in key_lines)
    # The certificate's validity is the requested lifetime.
    delta = datetime.fromisoformat(creds["certificate_expires_at"]) - datetime.now(UTC)
    assert timedelta(days=89) < delta <= timedelta(days=90)


def test_plan_shows_add_certificate_and_a_rerun_is_a_no_op(sim, kodo, tmp_path):
    first = kodo("onboard", "--yes", "--credential", "certificate", "--output", "json").json()
    kinds = [s["kind"] for s in first["plan"]["steps"]]
    assert "add_certificate" in kinds and "add_secret" not in kinds
    assert first["status"] == "verified" and first["credential_type"] == "certificate"
    before = converged_with_certificate(sim, tmp_path)
    second = kodo("onboard", "--yes", "--credential", "certificate", "--output", "json").json()
    assert second["plan"]["steps"] == [] and second["applied"] == []
    assert second["status"] == "verified"
    after = converged_with_certificate(sim, tmp_path)
    assert after["app"]["keyCredentials"] == before["app"]["keyCredentials"]
    assert after["creds"]["key_id"] == before["creds"]["key_id"]


def test_lost_response_on_the_certificate_patch_leaves_one_certificate(sim, kodo, tmp_path):
    sim.lose_next_response("applications.update")
    kodo("onboard", "--yes", "--credential", "certificate")
    assert [r for r in sim.request_log if r.error_code == "LostResponse"], "the fault must have fired"
    result = converged_with_certificate(sim, tmp_path)
    assert len(result["app"]["keyCredentials"]) == 1
    assert "full_access_as_app" in cert_roles(sim, result["creds"], "https://outlook.office365.com")


def test_existing_certificates_are_kept(sim, kodo, tmp_path):
    """PATCH replaces keyCredentials: a certificate someone else put on the app must survive."""
    kodo("onboard", "--yes", "--credential", "certificate")
    first = converged_with_certificate(sim, tmp_path)
    # The held key is lost: the next run adds a new certificate and keeps the old one on the app.
    Path(first["creds"]["certificate_path"]).unlink()
    run = kodo("onboard", "--yes", "--credential", "certificate", "--output", "json").json()
    assert [s["kind"] for s in run["plan"]["steps"]] == ["add_certificate"]
    app = kodo_apps(tenant_state(sim))[0]
    creds = json.loads((tmp_path / CREDS).read_text())
    assert {k["keyId"] for k in app["keyCredentials"]} == {first["creds"]["key_id"], creds["key_id"]}
    assert "full_access_as_app" in cert_roles(sim, creds, "https://outlook.office365.com")


def test_pfx_is_written_with_the_password(sim, kodo, tmp_path, monkeypatch):
    monkeypatch.setenv("KODO_PFX_PASSWORD", "correct horse battery")
    run = kodo("onboard", "--yes", "--credential", "certificate", "--pfx-password-env", "KODO_PFX_PASSWORD")
    creds = converged_with_certificate(sim, tmp_path)["creds"]
    pfx = Path(creds["certificate_pfx_path"])
    assert stat.S_IMODE(os.stat(pfx).st_mode) == 0o600
    key, cert, _ = pkcs12.load_key_and_certificates(pfx.read_bytes(), b"correct horse battery")
    assert key is not None and cert is not None
    assert cert.fingerprint(hashes.SHA1()).hex().upper() == creds["certificate_thumbprint"]  # noqa: S303
    assert "correct horse battery" not in run.out + run.err


def test_pfx_password_variable_must_be_set(sim, kodo, monkeypatch):
    monkeypatch.delenv("KODO_PFX_PASSWORD", raising=False)
    run = kodo("onboard", "--yes", "--credential", "certificate", "--pfx-password-env", "KODO_PFX_PASSWORD",
               expect=2)
    assert "KODO_PFX_PASSWORD" in run.err
    assert kodo_apps(tenant_state(sim)) == []


def test_secret_path_is_unchanged_by_default(sim, kodo, tmp_path):
    run = kodo("onboard", "--yes", "--output", "json").json()
    kinds = [s["kind"] for s in run["plan"]["steps"]]
    assert "add_secret" in kinds and "add_certificate" not in kinds
    result = assert_converged(sim, CONTOSO, tmp_path / CREDS)
    assert result["creds"]["client_secret"] and "credential_type" not in result["creds"]
    assert result["app"]["keyCredentials"] == []
