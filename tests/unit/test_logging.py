"""structlog redaction: by key, by registered value, and JWT-shaped strings."""

from __future__ import annotations

import io
import json

import structlog

from kodo_provision.output.logging import configure_logging, register_secret


def test_secrets_never_reach_the_log():
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    secret = "Zx8Q~abcdefghijklmnopqrstuvwxyz0123456789"
    register_secret(secret)
    log = structlog.get_logger("t")
    log.info("event", client_secret="plain-key-value", detail=f"error mentioning {secret} inline",
             nested={"access_token": "tok", "ok": "fine"},
             blob="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl")
    line = json.loads(stream.getvalue())
    text = stream.getvalue()
    assert secret not in text and "plain-key-value" not in text and "eyJhbGci" not in text
    assert line["client_secret"] == "[REDACTED]" and line["nested"]["access_token"] == "[REDACTED]"
    assert line["nested"]["ok"] == "fine"
