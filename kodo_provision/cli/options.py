"""Options shared by several commands, as decorators."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from .. import environment
from ..auth import AUTH_METHODS, AuthSettings
from ..cloud import CLOUDS, Cloud, check_token_destinations, resolve_cloud
from ..credentials.store import open_private_log
from ..errors import UsageError
from ..flows.session import resolve_ca_bundle
from ..manifest import durations

F = Callable[..., Any]


def stacked(func: F, decorators: list[Callable[[Any], Any]]) -> F:
    """Apply click option decorators in the order they are listed (the first is the outermost)."""
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def connection_options(func: F) -> F:
    """--cloud, custom endpoints, --ca-bundle, --client-id (all also from KODO_* env vars)."""
    decorators = [
        click.option("--cloud", type=click.Choice(list(CLOUDS)), default="global", show_default=True,
                     envvar="KODO_CLOUD", help="National cloud: sign-in and Graph endpoints."),
        click.option("--authority-host", envvar="KODO_AUTHORITY_HOST", metavar="URL",
                     help="Custom sign-in authority (e.g. the simulator). Env: KODO_AUTHORITY_HOST."),
        click.option("--graph-endpoint", envvar="KODO_GRAPH_ENDPOINT", metavar="URL",
                     help="Custom Graph endpoint (e.g. the simulator). Env: KODO_GRAPH_ENDPOINT."),
        click.option("--ca-bundle", envvar="KODO_CA_BUNDLE", metavar="PEM",
                     type=click.Path(dir_okay=False),
                     help="Extra CA certificates to trust for every connection (TLS-inspecting proxy), added "
                          "to the default trust. Default: REQUESTS_CA_BUNDLE or SSL_CERT_FILE when set (those "
                          "replace the default trust, as usual)."),
        click.option("--ca-bundle-only", is_flag=True, expose_value=False, callback=_remember_ca_only,
                     help="Trust only the CAs of --ca-bundle (not the default ones too)."),
        click.option("--client-id", envvar="KODO_CLIENT_ID", metavar="GUID",
                     help="Public client used for the device-code sign-in. Default: Microsoft Graph "
                          "Command Line Tools (14d82eec-…), which may request exact Graph scopes."),
        click.option("--exchange-endpoint", envvar="KODO_EXCHANGE_ENDPOINT", metavar="URL", expose_value=False,
                     callback=_remember_exchange_endpoint,
                     help="Custom Exchange Online endpoint for the EWS probe (e.g. the simulator). "
                          "Env: KODO_EXCHANGE_ENDPOINT."),
        # No environment variable on purpose: a variable alone must never widen where tokens go (issue 15).
        click.option("--allow-endpoint", "allow_endpoints", multiple=True, metavar="HOST", expose_value=False,
                     callback=_remember_allowed,
                     help="Let a custom endpoint that is not a Microsoft host (nor this machine) receive your "
                          "sign-in tokens, e.g. your TLS-inspecting gateway. Repeatable. Without it such an "
                          "endpoint is refused before any request."),
    ]
    return stacked(func, decorators)


def probe_options(func: F) -> F:
    """--probe and --probe-mailbox (verify, onboard): prove data access with one read per granted API."""
    decorators = [
        click.option("--probe", is_flag=True,
                     help="Also read one thing per granted API as the KODO app (its own token), to prove data "
                          "access: ok / blocked by a tenant setting (with the fix) / missing consent."),
        click.option("--probe-mailbox", metavar="UPN", default=None, callback=_check_probe_mailbox,
                     help="The user (UPN) whose mailbox and OneDrive the probes read. Default: the first member "
                          "user with a mailbox."),
    ]
    return stacked(func, decorators)


_ADDRESS = re.compile(r"[!-~]+@[!-~]+\.[!-~]+")


def _check_probe_mailbox(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A UPN: printable ASCII, one @ (it ends up in a URL path and an HTTP header)."""
    if value is not None and (not _ADDRESS.fullmatch(value) or value.count("@") != 1):
        raise UsageError(f"--probe-mailbox {value!r} is not a user principal name",
                         hint="pass the user's UPN, e.g. --probe-mailbox alex@contoso.onmicrosoft.com")
    return value


def require_probe(probe: bool, probe_mailbox: str | None) -> None:
    """--probe-mailbox only means something with --probe."""
    if probe_mailbox and not probe:
        raise UsageError("--probe-mailbox names the mailbox the probes read: it needs --probe",
                         hint="add --probe, or drop --probe-mailbox")


def _remember_exchange_endpoint(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    ctx.meta["kodo_exchange_endpoint"] = value


def _remember_ca_only(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta["kodo_ca_bundle_only"] = value


def ca_bundle_for(flag: str | None) -> str | None:
    """resolve_ca_bundle with this command's --ca-bundle-only."""
    ctx = click.get_current_context(silent=True)
    return resolve_ca_bundle(flag, only=bool(ctx and ctx.meta.get("kodo_ca_bundle_only")))


def _remember_allowed(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    ctx.meta["kodo_allow_endpoints"] = frozenset(v.strip().lower() for v in value if v.strip())


def cloud_for(name: str, *, authority_host: str | None, graph_endpoint: str | None,
              partner_center_endpoint: str | None = None) -> Cloud:
    """resolve_cloud with this command's --allow-endpoint hosts; each host only they let through is named
    on stderr before sign-in, so nobody sends an admin token somewhere without seeing where."""
    ctx = click.get_current_context(silent=True)
    allowed: frozenset[str] = ctx.meta.get("kodo_allow_endpoints", frozenset()) if ctx else frozenset()
    cloud = resolve_cloud(name, authority_host=authority_host, graph_endpoint=graph_endpoint,
                          partner_center_endpoint=partner_center_endpoint,
                          exchange_endpoint=ctx.meta.get("kodo_exchange_endpoint") if ctx else None,
                          allow_endpoints=allowed)
    for host in check_token_destinations(cloud, allowed):
        click.echo(f"note: your sign-in tokens will be sent to {host} (--allow-endpoint)", err=True)
    return cloud


# The name of the environment variable that holds the automation app's secret (not a secret itself).
AUTH_SECRET_ENV = "KODO_AUTH_CLIENT_SECRET"  # noqa: S105  # nosec B105


def auth_settings(method: str, app_client_id: str | None, certificate: str | None, *,
                  user_only: bool = False) -> AuthSettings:
    """Validate --auth and its companions before anything is asked of anyone."""
    from ..output.logging import register_secret

    if method in ("device-code", "browser"):
        if app_client_id or certificate:
            raise UsageError(f"--auth-client-id/--auth-certificate are for --auth client-secret|certificate, "
                             f"not --auth {method}", hint="drop them, or choose the automation app's --auth")
        return AuthSettings(method)
    if user_only:
        raise UsageError(f"--auth {method} signs in as an app, which needs no `login`",
                         hint="pass --auth client-secret|certificate to each command instead")
    if not app_client_id:
        raise UsageError(f"--auth {method} needs the automation app's client ID",
                         hint="pass --auth-client-id GUID (or set KODO_AUTH_CLIENT_ID)")
    if method == "certificate":
        if not certificate:
            raise UsageError("--auth certificate needs --auth-certificate PEM (private key and certificate)",
                             hint="pass --auth-certificate PATH (or set KODO_AUTH_CERTIFICATE)")
        if not os.path.isfile(certificate):
            raise UsageError(f"certificate file {certificate} does not exist",
                             hint="pass --auth-certificate a PEM file holding the private key and the certificate")
        return AuthSettings(method, app_client_id, app_certificate_path=certificate)
    secret = environment.getenv(AUTH_SECRET_ENV, "")
    if not secret:
        raise UsageError(f"--auth client-secret reads the secret from the environment variable {AUTH_SECRET_ENV}, "
                         "which is not set", hint=f"export {AUTH_SECRET_ENV}=<the automation app's secret> "
                                                  "(never on the command line: other users can read it in `ps`)")
    register_secret(secret)
    return AuthSettings(method, app_client_id, app_client_secret=secret)


def automation_app_options(func: F) -> F:
    """--auth-client-id and --auth-certificate (single-tenant commands and bulk)."""
    decorators = [
        click.option("--auth-client-id", envvar="KODO_AUTH_CLIENT_ID", metavar="GUID",
                     help="With --auth client-secret|certificate: the automation app's client ID. "
                          "Env: KODO_AUTH_CLIENT_ID."),
        click.option("--auth-certificate", envvar="KODO_AUTH_CERTIFICATE", metavar="PEM",
                     help="With --auth certificate: PEM file with the automation app's private key and "
                          "certificate. Env: KODO_AUTH_CERTIFICATE."),
    ]
    return stacked(func, decorators)


def credential_options(where: str) -> Callable[[F], F]:
    """--credential secret|certificate and --pfx-password-env; `where` says where the key files go."""

    def decorate(func: F) -> F:
        decorators = [
            click.option("--credential", "credential_type", type=click.Choice(["secret", "certificate"]),
                         default="secret", show_default=True,
                         help="What KODO authenticates with: a client secret, or a certificate whose key pair is "
                              "made here (RSA 2048; only the public certificate is uploaded; key + certificate "
                              f"PEM written 0600 {where}; valid --secret-lifetime)."),
            click.option("--pfx-password-env", default=None, metavar="VAR",
                         help="With certificates: also write a PFX (PKCS#12) encrypted with the password in "
                              "environment variable VAR."),
        ]
        return stacked(func, decorators)

    return decorate


def pfx_password(env_var: str | None, *, certificates_wanted: bool) -> str | None:
    """The PFX password from `--pfx-password-env VAR`, checked before anything happens."""
    if not env_var:
        return None
    if not certificates_wanted:
        raise UsageError("--pfx-password-env needs --credential certificate",
                         hint="add --credential certificate, or drop --pfx-password-env")
    password = environment.getenv(env_var)
    if not password:
        raise UsageError(f"environment variable {env_var} is not set or empty",
                         hint=f"export {env_var}=<PFX password> and run again")
    return password


def auth_options(func: F | None = None, *, user_only: bool = False) -> Any:
    """--auth, --auth-client-id, --auth-certificate, passed to the command as one `auth: AuthSettings`.
    `user_only` (login): only the user sign-ins."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, auth: str, auth_client_id: str | None = None, auth_certificate: str | None = None,
                    **kwargs: Any) -> Any:
            return f(*args, auth=auth_settings(auth, auth_client_id, auth_certificate, user_only=user_only),
                     **kwargs)

        methods = AUTH_METHODS[:2] if user_only else AUTH_METHODS
        decorators: list[Callable[[Any], Any]] = [
            click.option("--auth", type=click.Choice(list(methods)), default="device-code", show_default=True,
                         envvar="KODO_AUTH",
                         help="How to sign in: device-code (works over SSH), browser (authorization code with "
                              "PKCE, for tenants whose Conditional Access blocks device code)"
                              + ("." if user_only else ", or your own automation app already consented in the "
                                 "tenant: client-secret (secret from env KODO_AUTH_CLIENT_SECRET, never a flag: "
                                 "argv is visible in `ps`) or certificate. Env: KODO_AUTH.")),
        ]
        if not user_only:
            decorators.append(automation_app_options)
        return stacked(wrapper, decorators)

    return decorate(func) if func is not None else decorate


def output_options(func: F) -> F:
    """--output text|json and logging controls."""
    decorators = [
        click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, help="json prints one result object on stdout (never the secret)."),
        click.option("--log-format", type=click.Choice(["console", "json"]), default="console",
                     show_default=True, help="Format of structured log events (stderr or --log-file)."),
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
                     help="Default: warning on stderr, info with --log-file."),
        click.option("--log-file", type=click.Path(dir_okay=False), default=None,
                     help="Write log events to this file instead of stderr."),
    ]
    return stacked(func, decorators)


def parse_duration(value: str | None) -> timedelta | None:
    """manifest.durations.parse_duration, its refusal as click's usage error."""
    try:
        return durations.parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@contextlib.contextmanager
def configured_logging(log_format: str, log_level: str | None, log_file: str | None) -> Iterator[None]:
    """structlog to --log-file (info by default) or stderr (warning by default)."""
    from ..output.logging import configure_logging

    stream = open_private_log(Path(log_file), "--log-file") if log_file else None
    try:
        configure_logging(level=log_level or ("info" if log_file else "warning"), fmt=log_format, stream=stream)
        yield
    finally:
        if stream:
            stream.close()
