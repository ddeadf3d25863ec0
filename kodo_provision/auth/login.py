"""Sign in once (`kodo-provision login`), then every command resumes without a prompt.

What is kept, and where:
- the tokens: azure-identity's persistent cache named "kodo_provision" (~/.IdentityService/,
  %LOCALAPPDATA%\\.IdentityService on Windows), encrypted by the OS (DPAPI, Keychain, libsecret);
  a plaintext 0600 file only with --allow-unencrypted-cache;
- the AuthenticationRecord (who signed in where; no secret), 0600, in
  $XDG_CONFIG_HOME/kodo-provision/login.json (default ~/.config; %APPDATA% on Windows).
A command resumes only when the saved login is for the same authority, Graph endpoint and client ID; when the
refresh token has expired it prompts once and renews the saved login.
https://learn.microsoft.com/en-us/azure/developer/python/sdk/authentication/overview
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .. import environment
from ..cloud import CLOUDS, Cloud
from ..credentials.store import write_credentials
from ..output.logging import get_logger
from . import SIGN_IN_CLASSES, TOKEN_CACHE_NAME, InteractiveSignIn, SignedInUser
from .common import ADMIN_SCOPES, READ_SCOPES

log = get_logger("kodo_provision.login")
LOGIN_FILE = "login.json"


def config_dir() -> Path:
    app_data = environment.getenv("APPDATA")
    if os.name == "nt" and app_data:
        return Path(app_data) / "kodo-provision"
    base = environment.getenv("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kodo-provision"


def login_path() -> Path:
    return config_dir() / LOGIN_FILE


def token_cache_files() -> list[Path]:
    """The persistent cache's files (plaintext cache, or the timestamp files of an encrypted one)."""
    local_app_data = environment.getenv("LOCALAPPDATA")
    if os.name == "nt" and local_app_data:
        folder = Path(local_app_data) / ".IdentityService"
    else:
        folder = Path.home() / ".IdentityService"
    names = [f"{TOKEN_CACHE_NAME}{suffix}" for suffix in (".nocae", ".cae")]
    return [folder / n for n in names] + [folder / f"{n}.lockfile" for n in names]


@dataclass(frozen=True)
class SavedLogin:
    record: str
    authority_host: str
    client_id: str
    allow_unencrypted_cache: bool
    username: str
    tenant_id: str
    graph_endpoint: str | None = None  # None: saved by an older version, before logins were bound to it

    def matches(self, cloud: Cloud, client_id: str) -> bool:
        """The saved login serves only the cloud and endpoints it was made for (issue 15: its tokens must not
        follow a Graph endpoint changed later, e.g. by an environment variable)."""
        graph = self.graph_endpoint or next((c.graph_endpoint for c in CLOUDS.values()
                                             if c.authority_host == self.authority_host), None)
        return (self.authority_host == cloud.authority_host and self.client_id == client_id
                and graph == cloud.graph_endpoint)


def load_login() -> SavedLogin | None:
    try:
        data: dict[str, Any] = json.loads(login_path().read_text(encoding="utf-8"))
        return SavedLogin(data["record"], data["authority_host"], data["client_id"],
                          bool(data.get("allow_unencrypted_cache")), data.get("username", ""),
                          data.get("tenant_id", ""), data.get("graph_endpoint"))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def save_login(sign_in: InteractiveSignIn, user: SignedInUser, *, client_id: str, allow_unencrypted_cache: bool
               ) -> Path:
    path = login_path()
    write_credentials(path, {
        "record": sign_in.serialized_record(),
        "authority_host": sign_in.cloud.authority_host,
        "graph_endpoint": sign_in.cloud.graph_endpoint,
        "client_id": client_id,
        "allow_unencrypted_cache": allow_unencrypted_cache,
        "username": user.username,
        "tenant_id": user.tenant_id,
        "saved_at": datetime.now(UTC).isoformat(),
    })
    return path


def _persisted_cache(allow_unencrypted: bool, is_cae: bool) -> Any:
    """The tool's persisted MSAL cache, or None where it cannot be opened (no keyring and no plaintext
    file allowed: then it holds nothing of ours). azure-identity has no public way to open it;
    `_load_persistent_cache` is pinned with azure-identity (pyproject) and the logout test fails if it
    changes."""
    from azure.identity import TokenCachePersistenceOptions
    from azure.identity._persistent_cache import _load_persistent_cache

    try:
        return _load_persistent_cache(TokenCachePersistenceOptions(
            name=TOKEN_CACHE_NAME, allow_unencrypted_storage=allow_unencrypted), is_cae)
    except (ValueError, ImportError, OSError) as exc:
        log.debug("login.cache_unavailable", cae=is_cae, reason=str(exc)[:200])
        return None


def forget_tokens(allow_unencrypted: bool) -> int:
    """Remove every account and token from the tool's persistent cache through MSAL's own cache API, so it
    works whatever keeps the cache (a plaintext file, or libsecret / Keychain / DPAPI, where deleting files
    leaves the refresh token in the keyring). Returns how many items went."""
    from msal import TokenCache

    kinds = TokenCache.CredentialType
    removed = 0
    for cache in (_persisted_cache(allow_unencrypted, is_cae) for is_cae in (False, True)):
        if cache is None:
            continue
        for kind, remove in ((kinds.REFRESH_TOKEN, cache.remove_rt), (kinds.ACCESS_TOKEN, cache.remove_at),
                             (kinds.ID_TOKEN, cache.remove_idt), (kinds.ACCOUNT, cache.remove_account)):
            for item in list(cache.find(kind)):
                remove(item)
                removed += 1
    return removed


def remove_login() -> list[Path]:
    """Forget the saved login: every token in the persistent cache (any backend), the record, the cache
    files; returns the files removed."""
    saved = load_login()
    forget_tokens(allow_unencrypted=saved.allow_unencrypted_cache if saved else True)
    removed = []
    for path in [login_path(), *token_cache_files()]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def login(cloud: Cloud, tenant: str, *, client_id: str, ca_bundle: str | None, allow_unencrypted_cache: bool,
          prompt_stream: TextIO | None = None, timeout_s: int | None = None, method: str = "device-code"
          ) -> tuple[SignedInUser, Path]:
    """One prompt (device code, or the browser with method="browser"); the tokens and the record are
    kept for later commands: consent covers what every command asks for, so each one's own scopes are
    then redeemed silently (the read-only commands' too)."""
    sign_in = SIGN_IN_CLASSES[method](cloud, tenant, client_id=client_id, ca_bundle=ca_bundle,
                                      prompt_stream=prompt_stream, timeout_s=timeout_s, persistent_cache=True,
                                      allow_unencrypted_cache=allow_unencrypted_cache,
                                      extra_scopes=tuple(s for s in READ_SCOPES if s not in ADMIN_SCOPES))
    user = sign_in.sign_in()
    return user, save_login(sign_in, user, client_id=client_id, allow_unencrypted_cache=allow_unencrypted_cache)


def sign_in_or_resume(cloud: Cloud, tenant: str, *, client_id: str, ca_bundle: str | None,
                      prompt_stream: TextIO | None = None, timeout_s: int | None = None, method: str = "device-code",
                      scope_names: tuple[str, ...] = ADMIN_SCOPES) -> tuple[InteractiveSignIn, SignedInUser]:
    """Resume the saved login silently when there is one for this authority and client, else prompt
    (device code, or the browser with method="browser"). The saved tokens serve either method."""
    sign_in_class = SIGN_IN_CLASSES[method]
    saved = load_login()
    common: dict[str, Any] = {"client_id": client_id, "ca_bundle": ca_bundle, "prompt_stream": prompt_stream,
                              "timeout_s": timeout_s, "scope_names": scope_names}
    if saved is None or not saved.matches(cloud, client_id):
        sign_in = sign_in_class(cloud, tenant, **common)
        return sign_in, sign_in.sign_in()
    resumed = sign_in_class(cloud, tenant, persistent_cache=True,
                            allow_unencrypted_cache=saved.allow_unencrypted_cache,
                            authentication_record=saved.record, **common)
    user = resumed.resume()
    if user is not None:
        return resumed, user
    # The refresh token expired or was revoked: one prompt, and the saved login is renewed.
    sign_in = sign_in_class(cloud, tenant, persistent_cache=True,
                            allow_unencrypted_cache=saved.allow_unencrypted_cache, **common)
    user = sign_in.sign_in()
    save_login(sign_in, user, client_id=client_id, allow_unencrypted_cache=saved.allow_unencrypted_cache)
    return sign_in, user
