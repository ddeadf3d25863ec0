"""Options shared by several commands, as decorators."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import click

from ..cloud import CLOUDS

F = Callable[..., Any]


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
                     help="Extra CA certificates to trust for every connection (TLS-inspecting proxy). "
                          "Default: REQUESTS_CA_BUNDLE or SSL_CERT_FILE when set."),
        click.option("--client-id", envvar="KODO_CLIENT_ID", metavar="GUID",
                     help="Public client used for the device-code sign-in. Default: Microsoft Graph "
                          "Command Line Tools (14d82eec-…), which may request exact Graph scopes."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


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
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


_DURATION = re.compile(r"^\s*(\d+)\s*(d|days?|w|weeks?|mo|months?|y|years?)\s*$", re.I)


def parse_duration(value: str | None) -> timedelta | None:
    """'180d', '26w', '6mo', '1y' -> timedelta (months are 30 days, years 365)."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match:
        raise click.BadParameter(f"{value!r} is not a duration; use e.g. 180d, 26w, 6mo or 1y")
    count, unit = int(match.group(1)), match.group(2).lower()
    days = {"d": 1, "w": 7, "m": 30, "y": 365}["m" if unit.startswith("mo") else unit[0]] * count
    if not 1 <= days <= 730:
        raise click.BadParameter("secret lifetime must be between 1 day and 2 years (Entra's maximum)")
    return timedelta(days=days)


@contextlib.contextmanager
def configured_logging(log_format: str, log_level: str | None, log_file: str | None) -> Iterator[None]:
    """structlog to --log-file (info by default) or stderr (warning by default)."""
    from ..output.logging import configure_logging

    stream = open(log_file, "a", encoding="utf-8") if log_file else None  # noqa: SIM115
    try:
        configure_logging(level=log_level or ("info" if log_file else "warning"), fmt=log_format, stream=stream)
        yield
    finally:
        if stream:
            stream.close()
