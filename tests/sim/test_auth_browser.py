"""Issue 8: `--auth browser` - authorization code with PKCE through the system browser.

The product runs unchanged: azure-identity's InteractiveBrowserCredential opens the simulator's
authorize URL with Python's `webbrowser`, which honours $BROWSER; tests point $BROWSER at
fake_browser.py, which fetches the URL (trusting the simulator CA), submits the form_post page and so
delivers the code to the CLI's http://localhost listener. The simulator checks PKCE (S256), the
redirect URI and single use at the token endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from kodo_provision.errors import ExitStatus

from .conftest import CONTOSO, assert_converged, consent_sign_in_client, kodo_apps, tenant_state

FAKE_BROWSER = Path(__file__).with_name("fake_browser.py")
CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert " — " in lines[0], f"no hint in: {lines[0]}"
    return lines[0]


def _use_browser(monkeypatch, command: str) -> None:
    monkeypatch.setenv("BROWSER", command)
    # webbrowser reads $BROWSER once per process, at its first use; a CLI process starts fresh.
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})


@pytest.fixture
def browser(sim, tmp_path, monkeypatch):
    """$BROWSER -> fake_browser.py (through a one-line launcher: $BROWSER names one executable)."""
    launcher = tmp_path / "browser"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_BROWSER}" "$1"\n')
    launcher.chmod(0o755)
    log = tmp_path / "browser.log"
    monkeypatch.setenv("KODO_FAKE_BROWSER_CA", sim.ca_bundle_path)
    monkeypatch.setenv("KODO_FAKE_BROWSER_LOG", str(log))
    _use_browser(monkeypatch, str(launcher))
    return log


def login_requests(sim, suffix: str) -> int:
    return sum(1 for r in sim.request_log if r.path.endswith(suffix))


def test_onboard_with_browser_sign_in_converges(sim, kodo, browser, tmp_path):
    sim.clear_request_log()
    run = kodo("onboard", "--yes", "--auth", "browser")
    assert "Opening a browser" in run.err and "To sign in, open" not in run.err
    assert login_requests(sim, "/oauth2/v2.0/authorize") == 1 and login_requests(sim, "/devicecode") == 0
    assert "POST http://localhost:" in browser.read_text()  # the code came back through the redirect
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    assert "admin@contoso.onmicrosoft.com" in run.out
    assert kodo("plan", "--auth", "browser", "--detailed-exitcode").code == 0  # re-plan is empty


def test_browser_sign_in_as_the_user_the_simulator_is_told(sim, kodo, browser):
    consent_sign_in_client(sim)  # an admin consented the client before: the plain user gets a token
    sim.set_sign_in(tenant=CONTOSO, user="user@contoso.onmicrosoft.com")  # not an admin: refused up front
    run = kodo("onboard", "--yes", "--auth", "browser", expect=ExitStatus.INSUFFICIENT_PRIVILEGES)
    assert "user@contoso.onmicrosoft.com" in one_error_line(run.err)
    assert kodo_apps(tenant_state(sim)) == []


def test_declined_browser_sign_in_is_one_line_exit_3_and_no_change(sim, kodo, browser):
    sim.set_sign_in(tenant=CONTOSO, decline=True)
    run = kodo("onboard", "--yes", "--auth", "browser", expect=ExitStatus.SIGN_IN_FAILED)
    line = one_error_line(run.err)
    assert "AADSTS65004" in line and "declined" in line
    state = tenant_state(sim)
    assert kodo_apps(state) == [] and state["oauth2PermissionGrants"] == []


def test_no_browser_points_to_device_code(sim, kodo, tmp_path, monkeypatch):
    _use_browser(monkeypatch, str(tmp_path / "no-such-browser"))  # an SSH session: nothing to open
    run = kodo("onboard", "--yes", "--auth", "browser", expect=ExitStatus.SIGN_IN_FAILED)
    assert "--auth device-code" in one_error_line(run.err)
    assert login_requests(sim, "/oauth2/v2.0/authorize") == 0
    assert kodo_apps(tenant_state(sim)) == []


def test_login_with_the_browser_then_commands_do_not_prompt(sim, kodo, browser, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    kodo("login", "--auth", "browser", "--allow-unencrypted-cache")
    sim.clear_request_log()
    kodo("onboard", "--yes")
    assert login_requests(sim, "/authorize") == 0 and login_requests(sim, "/devicecode") == 0


# --- the simulator's authorize endpoint and authorization_code grant, spoken to directly -----------
def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(sim, client: httpx.Client, challenge: str, redirect: str = "http://localhost:8400",
               **extra: str) -> httpx.Response:
    params = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect, "state": "s1",
              "scope": "https://graph.microsoft.com/User.Read offline_access openid profile",
              "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return client.get(f"{sim.url}/{CONTOSO}/oauth2/v2.0/authorize", params=params)


def _redeem(sim, client: httpx.Client, code: str, verifier: str, redirect: str = "http://localhost:8400"
            ) -> httpx.Response:
    return client.post(f"{sim.url}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "authorization_code", "client_id": CLIENT_ID, "code": code, "redirect_uri": redirect,
        "code_verifier": verifier, "scope": "https://graph.microsoft.com/User.Read offline_access openid profile"})


def _code(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def test_authorize_issues_a_single_use_code_bound_to_pkce(sim):
    with httpx.Client(verify=sim.ca_bundle_path) as client:
        verifier, challenge = _pkce()
        code = _code(_authorize(sim, client, challenge))
        wrong = _redeem(sim, client, code, "not-the-verifier")
        assert wrong.status_code == 400 and "AADSTS501481" in wrong.json()["error_description"]
        # A failed redemption burns the code; a fresh one redeems once with the right verifier.
        code = _code(_authorize(sim, client, challenge))
        token = _redeem(sim, client, code, verifier).json()
        assert {"access_token", "id_token", "refresh_token", "client_info"} <= token.keys()
        assert "https://graph.microsoft.com/User.Read" in token["scope"]
        again = _redeem(sim, client, code, verifier)
        assert again.status_code == 400 and "AADSTS54005" in again.json()["error_description"]


def test_authorize_refuses_a_non_loopback_redirect_and_missing_pkce(sim):
    with httpx.Client(verify=sim.ca_bundle_path) as client:
        _, challenge = _pkce()
        page = _authorize(sim, client, challenge, redirect="https://evil.example/cb")
        assert page.status_code == 400 and "AADSTS50011" in page.text  # shown, never redirected
        no_pkce = _authorize(sim, client, "", redirect="http://127.0.0.1:9000")
        assert no_pkce.status_code == 302
        query = parse_qs(urlsplit(no_pkce.headers["location"]).query)
        assert query["error"] == ["invalid_request"] and query["state"] == ["s1"]


def test_form_post_answers_with_an_auto_submitting_form(sim):
    with httpx.Client(verify=sim.ca_bundle_path) as client:
        _, challenge = _pkce()
        page = _authorize(sim, client, challenge, response_mode="form_post")
        assert page.status_code == 200
        assert 'action="http://localhost:8400"' in page.text and 'name="code"' in page.text


def test_openid_configuration_advertises_the_authorize_endpoint(sim):
    with httpx.Client(verify=sim.ca_bundle_path) as client:
        doc = client.get(f"{sim.url}/{CONTOSO}/v2.0/.well-known/openid-configuration").json()
    assert doc["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
