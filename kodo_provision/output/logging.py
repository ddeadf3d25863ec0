"""structlog setup: events to stderr or a file, console or JSON lines, secrets redacted.

Redaction is by key (anything named like a secret or token) and by value (every secret this
process has seen is registered and replaced wherever it appears, e.g. inside an error text).

structlog is imported only here, and only when the first event is logged: importing it costs ~100 ms
(structlog.dev pulls in rich), which `onboard` would otherwise spend before its sign-in prompt (issue 17).
Every module logs through `get_logger`; its first event applies the configuration `configure_logging`
recorded, so no event is ever printed with structlog's defaults (stdout, every level).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

from .. import environment

REDACTED = "[REDACTED]"
_SECRET_KEYS = re.compile(r"(secret|token|password|assertion|authorization|client_secret|code)$", re.I)
# JWTs, and any other base64url-encoded JSON (MSAL's client_info, a token's parts) as libraries log them.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)*")
# Secret-bearing values in the JSON and form bodies libraries log at debug level.
_SECRET_VALUES = re.compile(
    r"""((?:refresh_token|access_token|id_token|client_secret|client_assertion|assertion|password|code)"""
    r"""(?:"\s*:\s*"|=))[^"&\s]+""")
_known_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Make sure `value` never appears in any log event from now on."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def redact_text(text: str) -> str:
    """Replace every known secret and anything shaped like a JWT in `text`."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_VALUES.sub(lambda m: m.group(1) + REDACTED, _JWT.sub(REDACTED, text))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEYS.search(str(k)) and v else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redaction_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop secrets by key and by value."""
    return _redact(event_dict)


class _LibraryHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Library records (azure-identity, MSAL, azure-core, httpx), redacted like the tool's own."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(f"{record.levelname.lower()} [{record.name}] {super().format(record)}")


# The libraries that log through the standard library.
LIBRARY_LOGGERS = ("azure", "msal", "msal_extensions", "httpx", "httpcore", "urllib3", "kiota_http",
                   "kiota_abstractions", "kiota_authentication_azure", "msgraph", "msgraph_core")


def route_library_logs(level: str, stream: TextIO | None) -> None:
    """The libraries log through the standard library; with no handler configured Python prints their
    warnings on stderr ("last resort"), e.g. `ClientSecretCredential.get_token failed` with Entra's JSON
    for every poll while a new secret propagates, before or instead of the tool's own one-line message.
    They go to --log-file, or to stderr only with --log-level debug; otherwise nowhere. Their loggers do
    not propagate, so a handler someone put on the root logger does not print them either."""
    handler: logging.Handler = logging.NullHandler()
    if stream is not None or level == "debug":
        handler = _LibraryHandler(stream or environment.current().err())
    handler.kodo_library_logs = True  # type: ignore[attr-defined]
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for previous in [h for h in logger.handlers if getattr(h, "kodo_library_logs", False)]:
            logger.removeHandler(previous)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
        logger.propagate = False


class _Settings:
    """What configure_logging asked for; applied to structlog when the first event is logged."""

    level: str = "warning"
    fmt: str = "console"
    stream: TextIO | None = None
    applied: bool = False


def configure_logging(*, level: str = "warning", fmt: str = "console", stream: TextIO | None = None) -> None:
    """Configure logging once per process (the CLI calls this; tests may call it again): where the
    libraries' own log records go (route_library_logs) now, the tool's events from their first one."""
    route_library_logs(level, stream)
    _Settings.level, _Settings.fmt, _Settings.stream, _Settings.applied = level, fmt, stream, False
    if "structlog" in sys.modules:  # already in use: apply now, the next event must see the new settings
        _structlog()


def _structlog() -> Any:
    """structlog, configured as configure_logging last asked."""
    import structlog

    if _Settings.applied:
        return structlog
    renderer: Any = (structlog.processors.JSONRenderer() if _Settings.fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redaction_processor,
        structlog.processors.format_exc_info,
        redaction_processor,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, _Settings.level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Settings.stream or environment.current().err()),
        cache_logger_on_first_use=False,
    )
    _Settings.applied = True
    return structlog


class Logger:
    """A named structlog logger that imports and configures structlog on its first event."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(_structlog().get_logger(self.name), method)


def get_logger(name: str) -> Any:
    """The logger every module of the tool uses (`log = get_logger("kodo_provision.x")` at import time)."""
    return Logger(name)


def bind_log_context(**values: Any) -> None:
    """Fields every later event of this task carries (structlog's contextvars), e.g. tenant and run ID."""
    _structlog().contextvars.bind_contextvars(**values)
