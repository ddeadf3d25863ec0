"""Issue 4: sign in once. After `login`, plan, verify and offboard run without a device-code
prompt; after `logout` the next command prompts again. HOME and XDG_CONFIG_HOME are isolated
(the token cache lives under ~/.IdentityService, the record under $XDG_CONFIG_HOME)."""

from __future__ import annotations

import importlib.util
import json
import os
import stat

import pytest


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    home, config = tmp_path / "home", tmp_path / "config"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return home, config


def device_code_requests(sim) -> int:
    return sum(1 for r in sim.request_log if r.path.endswith("/devicecode"))


def test_after_login_commands_do_not_prompt_and_after_logout_they_do(sim, kodo, isolated_home):
    home, config = isolated_home
    kodo("onboard", "--yes")
    sim.clear_request_log()
    run = kodo("login", "--allow-unencrypted-cache")
    assert device_code_requests(sim) == 1 and "To sign in, open" in run.err
    record = config / "kodo-provision" / "login.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert "refresh_token" not in record.read_text() and "eyJ" not in record.read_text()
    assert (home / ".IdentityService" / "kodo_provision.cae").exists()

    sim.clear_request_log()
    for args in (("plan",), ("verify",), ("rotate-secret",), ("offboard", "--yes")):
        result = kodo(*args)
        assert "To sign in" not in result.err, args
    assert device_code_requests(sim) == 0

    out = kodo("logout", tenant=None, endpoints=False)
    assert "Signed out" in out.out and not record.exists()
    assert not (home / ".IdentityService" / "kodo_provision.cae").exists()
    sim.clear_request_log()
    again = kodo("plan")
    assert device_code_requests(sim) == 1 and "To sign in, open" in again.err
    assert "Not signed in" in kodo("logout", tenant=None, endpoints=False).out


def test_onboard_works_without_login(sim, kodo, isolated_home):
    sim.clear_request_log()
    kodo("onboard", "--yes")
    assert device_code_requests(sim) == 1


def test_a_saved_login_for_another_authority_is_not_used(sim, kodo, isolated_home):
    _, config = isolated_home
    kodo("login", "--allow-unencrypted-cache")
    record = config / "kodo-provision" / "login.json"
    data = json.loads(record.read_text())
    data["authority_host"] = "https://login.microsoftonline.us"
    record.write_text(json.dumps(data))
    sim.clear_request_log()
    kodo("plan")
    assert device_code_requests(sim) == 1


@pytest.mark.skipif(importlib.util.find_spec("gi") is not None,
                    reason="libsecret bindings are present: the cache can be encrypted here")
def test_login_without_a_keyring_needs_the_explicit_flag(sim, kodo, isolated_home):
    _, config = isolated_home
    run = kodo("login", expect=2)
    line = [x for x in run.err.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "--allow-unencrypted-cache" in line[0] and "libsecret" in line[0]
    assert not (config / "kodo-provision" / "login.json").exists()


def test_logout_removes_the_refresh_token_from_the_cache_itself(sim, kodo, isolated_home):
    """Issue 15: logout removes the tokens through MSAL's cache API: with a keyring-backed cache the files
    are only timestamps, so deleting them would leave the refresh token behind. The cache is emptied while
    its file still exists, and with the login record still in place the next command has to prompt."""
    from kodo_provision.auth.login import _persisted_cache, forget_tokens, token_cache_files

    kodo("login", "--allow-unencrypted-cache")
    cache = _persisted_cache(True, is_cae=True)
    assert cache.find(cache.CredentialType.REFRESH_TOKEN), "login kept a refresh token"
    assert forget_tokens(allow_unencrypted=True) > 0
    assert token_cache_files()[1].exists(), "the file is still there; only its tokens are gone"
    assert not _persisted_cache(True, is_cae=True).find(cache.CredentialType.REFRESH_TOKEN)
    sim.clear_request_log()
    again = kodo("plan")  # the record (login.json) is still there: it cannot resume without a token
    assert device_code_requests(sim) == 1 and "To sign in, open" in again.err
    out = kodo("logout", tenant=None, endpoints=False)
    assert "Revoke-MgUserSignInSession" in out.out
