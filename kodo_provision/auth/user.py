"""A user signs in: device code (the default; works over SSH and in Cloud Shell) or the system
browser (authorization code with PKCE, for tenants whose Conditional Access blocks device code).
The credentials are synchronous (azure-identity has no async device-code or browser credential),
so Graph calls reach them through a thread (AsyncCredential)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urlparse

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import (
    AuthenticationRecord,
    AuthenticationRequiredError,
    CredentialUnavailableError,
    DeviceCodeCredential,
    InteractiveBrowserCredential,
    TokenCachePersistenceOptions,
)

from .. import environment
from ..cloud import Cloud
from ..errors import InsufficientPrivilegesError, SignInError, UsageError, clip
from .common import ADMIN_SCOPES, GRAPH_CLI_CLIENT_ID, PREAUTHORIZED_CLIENTS, decode_claims, preauthorized_gaps
from .errors import translate_auth_error


def print_device_code_prompt(stream: TextIO) -> Callable[[str, str, datetime], None]:
    """A prompt callback that writes the code to `stream` (stderr), never to stdout."""
    def prompt(verification_uri: str, user_code: str, expires_on: datetime) -> None:
        stream.write(f"To sign in, open {verification_uri} and enter the code {user_code} "
                     f"(valid until {expires_on:%H:%M} UTC).\n")
        stream.flush()
    return prompt


@dataclass
class SignedInUser:
    """Who signed in, from the ID token the authority returned."""

    username: str
    tenant_id: str
    home_account_id: str


class AsyncCredential:
    """Runs the synchronous azure-identity credential in a worker thread.

    msgraph's kiota provider calls get_token inside the event loop; a sync credential would
    block every other tenant's work while MSAL refreshes a token (graph-facts §1).
    """

    # A cached token is reused while it has more than this left (azure-identity refreshes in the last 5 min).
    REFRESH_BEFORE_S = 300

    def __init__(self, credential: Any) -> None:
        self._credential = credential
        # kiota asks for a token before every Graph request; the sync credential answers from MSAL's cache, but
        # each answer costs a thread hop and a cache search (~1 ms of CPU; bulk sends thousands of requests).
        # A claims challenge (CAE) always goes to the credential.
        self._tokens: dict[tuple[Any, ...], AccessToken] = {}

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        key = (scopes, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        cached = self._tokens.get(key)
        now = environment.clock().now().timestamp()
        if cached is not None and not kwargs.get("claims") and cached.expires_on - now > self.REFRESH_BEFORE_S:
            return cached
        token: AccessToken = await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)
        self._tokens[key] = token
        return token

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


class OneAtATime:
    """A credential with a persistent token cache, asked for tokens by one thread of this process at a time.

    msal-extensions guards the cache file with a lock file that a waiting thread re-tries every 0.25 s
    and gives up on after 5 s ("Unable to obtain lock, despite trying for 5 second(s)"). In bulk, the
    threads of busy tenants take that lock many times a second (every Graph request asks for a token), so
    a thread that only polls can miss every gap and fail its tenant. Waiting on a threading.Lock instead
    queues the threads of this process; the file lock still guards against other processes.
    https://github.com/AzureAD/microsoft-authentication-extensions-for-python (msal_extensions/cache_lock.py)
    """

    _lock = threading.Lock()

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The wrapped credential's get_token, one thread at a time."""
        with self._lock:
            return self._credential.get_token(*scopes, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._credential, name)  # authenticate (interactive: never under the lock), close


class InteractiveSignIn:
    """One operator sign-in (a user); tokens for Graph come from its cache without new prompts.
    Subclasses choose how the user signs in (device code, browser)."""

    method = "device-code"

    def __init__(self, cloud: Cloud, tenant: str, *, client_id: str = GRAPH_CLI_CLIENT_ID,
                 ca_bundle: str | None = None, prompt_stream: TextIO | None = None,
                 timeout_s: int | None = None, additionally_allowed_tenants: tuple[str, ...] = (),
                 disable_automatic_authentication: bool = False, persistent_cache: bool = False,
                 allow_unencrypted_cache: bool = False, authentication_record: str | None = None,
                 extra_scopes: tuple[str, ...] = (), scope_names: tuple[str, ...] = ADMIN_SCOPES) -> None:
        """`additionally_allowed_tenants` (e.g. ("*",)) lets get_token(tenant_id=T) redeem this sign-in's
        refresh token at other tenants (graph-facts §4); `disable_automatic_authentication` makes a failed
        silent request raise instead of prompting again (bulk: one prompt, no surprise prompts)."""
        self.cloud = cloud
        self.tenant = tenant
        # The command's Graph scopes (auth/common.py: ADMIN_SCOPES to change a tenant, READ_SCOPES to read it).
        self.scopes = tuple(cloud.graph_scope(s) for s in scope_names)
        # Asked for at sign-in on top of `scopes` (bulk: GDAP reads in the partner tenant only).
        self.sign_in_scopes = self.scopes + tuple(cloud.graph_scope(s) for s in extra_scopes)
        self.preauthorized = PREAUTHORIZED_CLIENTS.get(client_id.lower())
        if self.preauthorized:  # a first-party client takes `.default` only (AADSTS65002 otherwise)
            self.scopes = self.sign_in_scopes = (cloud.graph_scope(".default"),)
        self.prompt_stream = prompt_stream or environment.current().err()
        kwargs: dict[str, Any] = {
            "client_id": client_id,
            "tenant_id": tenant,
            "authority": cloud.authority_host,
            "disable_instance_discovery": not cloud.known_authority,
        }
        if ca_bundle:
            kwargs["connection_verify"] = ca_bundle
        if timeout_s:
            kwargs["timeout"] = timeout_s
        if additionally_allowed_tenants:
            kwargs["additionally_allowed_tenants"] = list(additionally_allowed_tenants)
        if disable_automatic_authentication:
            kwargs["disable_automatic_authentication"] = True
        self.record: AuthenticationRecord | None = None
        if persistent_cache:
            # `login`: tokens survive the process, OS-protected (DPAPI, Keychain, libsecret); a
            # plaintext file only when the user asked for it (graph-facts §4).
            kwargs["cache_persistence_options"] = TokenCachePersistenceOptions(
                name=TOKEN_CACHE_NAME, allow_unencrypted_storage=allow_unencrypted_cache)
        if authentication_record:
            # The record names the authority; passing authority= as well raises TypeError (graph-facts §4).
            kwargs.pop("authority", None)
            self.record = AuthenticationRecord.deserialize(authentication_record)
            kwargs["authentication_record"] = self.record
            kwargs["disable_automatic_authentication"] = True
        credential = self._make_credential(kwargs)
        self._credential = OneAtATime(credential) if persistent_cache else credential

    def _make_credential(self, kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return urlparse(self.cloud.authority_host).hostname or self.cloud.authority_host

    def _announce(self) -> None:
        """Tell the user what happens next (before the credential blocks)."""

    def sign_in(self) -> SignedInUser:
        """Prompt once. enable_cae=True because msgraph asks for CAE tokens, and azure-identity
        keeps CAE tokens in a separate cache: without it the first Graph call prompts again."""
        self._announce()
        try:
            self.record = self._credential.authenticate(scopes=list(self.sign_in_scopes), enable_cae=True)
            if self.preauthorized:
                self._check_preauthorized_scopes()
        except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
            raise _sign_in_error(exc, host=self.host, tenant=self.tenant, method=self.method) from None
        return SignedInUser(self.record.username, self.record.tenant_id, self.record.home_account_id)

    def _check_preauthorized_scopes(self) -> None:
        """Refuse before any Graph request when the first-party client's fixed scope set lacks one the
        tool needs (it is undocumented and Microsoft changes it: read it, never assume it)."""
        token = self._credential.get_token(*self.scopes, enable_cae=True)
        if missing := preauthorized_gaps(str(decode_claims(token.token).get("scp") or "")):
            raise InsufficientPrivilegesError(
                f"{self.preauthorized}'s preauthorized Microsoft Graph scopes lack {', '.join(missing)} here",
                hint="omit --client-id (Microsoft Graph Command Line Tools asks for exactly these scopes), or pass "
                     "your own public client")

    def resume(self) -> SignedInUser | None:
        """With a saved AuthenticationRecord (see login.py): a token from the persistent cache,
        silently. None when Entra wants a new sign-in (refresh token expired or revoked)."""
        assert self.record is not None, "resume() needs authentication_record="
        try:
            self._credential.get_token(*self.scopes, enable_cae=True)
        except AuthenticationRequiredError:
            return None
        except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
            raise _sign_in_error(exc, host=self.host, tenant=self.tenant, method=self.method) from None
        return SignedInUser(self.record.username, self.record.tenant_id, self.record.home_account_id)

    def serialized_record(self) -> str:
        assert self.record is not None
        return self.record.serialize()

    def graph_credential(self) -> AsyncCredential:
        return AsyncCredential(self._credential)

    def token_for(self, scope: str, tenant_id: str) -> str:
        """An access token for `scope` (a full URI, e.g. Partner Center's) in `tenant_id`, silently."""
        try:
            return str(self._credential.get_token(scope, tenant_id=tenant_id, enable_cae=True).token)
        except (ClientAuthenticationError, ServiceRequestError) as exc:
            raise translate_auth_error(_with_entra_words(exc), host=self.host, what=f"token for {scope}",
                                       tenant=tenant_id, method=self.method) from None

    def consent_reached(self, tenant_id: str, scopes: tuple[str, ...]) -> bool:
        """Whether a token for these Graph scopes is issued in `tenant_id` yet: False while Entra answers
        AADSTS65001 (the client not consented there, or the consent not propagated yet). Callers vary
        `scopes` between probes: MSAL answers a request identical to one that failed with HTTP 400 from
        its own cache for 60 s (msal/throttled_http_client.py), so only a different request asks Entra."""
        try:
            self._credential.get_token(*(self.cloud.graph_scope(s) for s in scopes), tenant_id=tenant_id,
                                       enable_cae=True)
        except (ClientAuthenticationError, ServiceRequestError) as raw:
            exc = _with_entra_words(raw)
            if "AADSTS65001" in str(getattr(exc, "message", None) or exc):
                return False
            raise translate_auth_error(exc, host=self.host, what=f"token for tenant {tenant_id}",
                                       tenant=tenant_id, method=self.method) from None
        return True

    def token_roles(self) -> frozenset[str] | None:
        """The directory role template IDs of the signed-in user from the Graph token's `wids` claim (None
        when the token has none): no directory read and no RoleManagement scope needed to know them.
        https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference"""
        token = self._credential.get_token(*self.scopes, enable_cae=True)  # the cached token: no request
        wids = decode_claims(token.token).get("wids")
        return frozenset(str(w).lower() for w in wids) if isinstance(wids, list) else None

    def token_claims_for(self, tenant_id: str) -> dict[str, Any]:
        """Claims of a Graph token for `tenant_id` from this sign-in, without a prompt: the refresh
        token is redeemed at that tenant's authority (graph-facts §4). Synchronous: run it in a thread.
        Raises SignInError naming the AADSTS code (e.g. 50020: the user has no access there)."""
        try:
            token = self._credential.get_token(*self.scopes, tenant_id=tenant_id, enable_cae=True)
        except (ClientAuthenticationError, ServiceRequestError) as exc:
            raise translate_auth_error(_with_entra_words(exc), host=self.host, what=f"token for tenant {tenant_id}",
                                       tenant=tenant_id, method=self.method) from None
        return decode_claims(token.token)


def _with_entra_words(exc: Exception) -> Exception:
    """AuthenticationRequiredError's message is generic; Entra's words are in the response body."""
    response = getattr(exc, "response", None)
    body = ""
    if response is not None:
        with contextlib.suppress(Exception):
            body = str(json.loads(response.text()).get("error_description") or "")
    return ClientAuthenticationError(message=body) if body else exc


class DeviceCodeSignIn(InteractiveSignIn):
    """Device-code sign-in: the code goes to stderr; the admin approves on any device."""

    method = "device-code"

    def _make_credential(self, kwargs: dict[str, Any]) -> Any:
        kwargs["prompt_callback"] = print_device_code_prompt(self.prompt_stream)
        return DeviceCodeCredential(**kwargs)


class BulkDeviceCodeSignIn(DeviceCodeSignIn):
    """The device-code sign-in of `bulk`, which has no browser sign-in: its errors point past a Conditional
    Access block to the operator's automation app instead of `--auth browser`."""

    method = "bulk-device-code"


class BrowserSignIn(InteractiveSignIn):
    """Authorization code with PKCE in the system browser (`--auth browser`).

    azure-identity's InteractiveBrowserCredential listens on http://localhost:<first free port in
    8400-8999>, opens the authorize URL with Python's `webbrowser` (which honours $BROWSER) and asks
    for response_mode=form_post, so the redirect arrives as a POST from the browser. Public clients
    such as Microsoft Graph Command Line Tools accept any http://localhost port as redirect URI.
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
    https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions
    """

    method = "browser"

    def _make_credential(self, kwargs: dict[str, Any]) -> Any:
        self.timeout_s = int(kwargs.get("timeout") or 300)  # azure-identity's default: 5 minutes
        kwargs["timeout"] = self.timeout_s
        return InteractiveBrowserCredential(**kwargs)

    def _announce(self) -> None:
        self.prompt_stream.write(f"Opening a browser to sign in (waiting up to {self.timeout_s // 60 or 1} min; "
                                 "no browser here? use --auth device-code).\n")
        self.prompt_stream.flush()


SIGN_IN_CLASSES: dict[str, type[InteractiveSignIn]] = {"device-code": DeviceCodeSignIn, "browser": BrowserSignIn}


TOKEN_CACHE_NAME = "kodo_provision"


def _sign_in_error(exc: Exception, *, host: str, tenant: str, method: str = "device-code") -> Exception:
    """Like translate_auth_error, plus the persistent cache's failure: azure-identity raises
    ValueError (wrapped in ClientAuthenticationError by get_token) when the OS cannot encrypt the
    cache (Linux without libsecret, e.g. over SSH or in a container); and the browser sign-in's
    own failures (no browser to open, no free localhost port)."""
    message = str(exc)
    if isinstance(exc, CredentialUnavailableError) and "browser" in message.lower():
        # webbrowser.open() found no browser: an SSH session or a server without a desktop.
        return SignInError("no web browser could be opened for the sign-in", detail=clip(message.splitlines()[0], 200),
                           hint="over SSH or on a server without a desktop use --auth device-code "
                                "(or set BROWSER to a browser command)")
    if isinstance(exc, CredentialUnavailableError) and "HTTP server" in message:
        return SignInError("cannot receive the browser's redirect on localhost", detail=clip(message, 200),
                           hint="free a port in 8400-8999 on localhost, or use --auth device-code")
    if "Cache encryption is impossible" in message:
        return UsageError("cannot keep the sign-in encrypted: no usable keyring (libsecret) on this system",
                          hint="pass --allow-unencrypted-cache to keep it in a 0600 file under ~/.IdentityService, "
                               "or skip `login` (each command then asks for a device code)")
    if isinstance(exc, ValueError):
        return exc
    return translate_auth_error(exc, host=host, tenant=tenant, method=method)


