"""Our error types and exit statuses.

Every failure the user can act on is a :class:`KodoError` with a one-line summary, the
underlying detail (often the API's own words) and a fix-it hint. The CLI's single error
boundary turns them into one line on stderr and the documented exit status.
"""

from __future__ import annotations

import textwrap
from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes; documented in `kodo-provision --help` and the README."""

    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    SIGN_IN_FAILED = 3
    INSUFFICIENT_PRIVILEGES = 4
    PROVISIONING_FAILED = 5
    VERIFICATION_FAILED = 6
    NETWORK = 7
    PARTIAL_FAILURE = 8
    INTERRUPTED = 130


EXIT_STATUS_HELP = """\
Exit status:
  0  success (onboarding verified)
  1  unexpected error (a bug: please report it with --traceback)
  2  usage or input error (flags, manifest, tenant, permission names); nothing was changed
  3  sign-in failed (declined, expired, unknown tenant, blocked by Conditional Access: try --auth browser)
  4  insufficient privileges (a required admin role, or the automation app's Graph permissions)
  5  provisioning failed (a Graph write failed or never converged)
  6  verification failed (the app exists but does not work as the manifest requires)
  7  network error (connection, DNS, TLS or proxy)
  8  bulk: one or more tenants failed (see report.json in --out); the others are done
  130 interrupted"""

# bulk takes no browser sign-in (one operator prompt serves every tenant): its way past a Conditional Access
# policy that blocks the device-code flow is the operator's automation app.
BULK_EXIT_STATUS_HELP = EXIT_STATUS_HELP.replace(
    "blocked by Conditional Access: try --auth browser",
    "blocked by Conditional Access: use --auth client-secret|certificate")


class KodoError(Exception):
    """A failure the user can act on: what failed, the API's words, and how to fix it."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, summary: str, *, detail: str | None = None, hint: str | None = None,
                 items: tuple[str, ...] = ()) -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail
        self.hint = hint
        # Things to list one per line under the error (e.g. every bad line of a tenants file).
        self.items = items

    def one_line(self) -> str:
        """The message the CLI prints: summary, then the hint after a dash."""
        text = self.summary
        if self.detail:
            text += f" ({self.detail})"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def cli_lines(self) -> list[str]:
        """What the CLI prints on stderr: one line, then the items (if any) one per line."""
        if not self.items:
            return [f"error: {self.one_line()}"]
        return [f"error: {self.summary}" + (f" — {self.hint}" if self.hint else ""), *(f"  {i}" for i in self.items)]

    def error_object(self) -> dict[str, object]:
        """What `--output json` prints on stdout for this error: {"error": {code, message, hint, exit_status}}."""
        return error_object(_snake(type(self).__name__), self.summary + (f" ({self.detail})" if self.detail else ""),
                            self.hint, int(self.exit_status))

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form for reports and `--output json`."""
        return {
            "error": type(self).__name__,
            "summary": self.summary,
            "detail": self.detail,
            "hint": self.hint,
            "exit_status": int(self.exit_status),
        }


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def error_object(code: str, message: str, hint: str | None, exit_status: int) -> dict[str, object]:
    """The one JSON object an error prints on stdout with `--output json` (scripts read stdout only)."""
    return {"error": {"code": code, "message": message, "hint": hint, "exit_status": exit_status}}


class UsageError(KodoError):
    """Bad flags or input, detected before any change."""

    exit_status = ExitStatus.USAGE


class ManifestError(UsageError):
    """The permission manifest is invalid or does not resolve in this tenant."""


class SignInError(KodoError):
    """The device-code (or other) sign-in did not produce a token."""

    exit_status = ExitStatus.SIGN_IN_FAILED


class InsufficientPrivilegesError(KodoError):
    """The signed-in identity may not do what the plan needs."""

    exit_status = ExitStatus.INSUFFICIENT_PRIVILEGES


class ProvisioningError(KodoError):
    """A change to the tenant failed, or the tenant never converged."""

    exit_status = ExitStatus.PROVISIONING_FAILED


class VerificationError(KodoError):
    """The result does not work as required (re-plan not empty, roles missing)."""

    exit_status = ExitStatus.VERIFICATION_FAILED


class NetworkError(KodoError):
    """Connection, DNS, TLS or proxy failure talking to a named host."""

    exit_status = ExitStatus.NETWORK


class Interrupted(KodoError):
    """Ctrl-C or SIGTERM while a command was changing a tenant (recorded in the audit record)."""

    exit_status = ExitStatus.INTERRUPTED


# What a flow unwinding a Ctrl-C had done ("3 change(s) made; audit record ..."), for the one line the
# CLI prints as it exits (cli/main.py). A signal has no other way to carry it out of asyncio.run.
_INTERRUPTION: list[str] = []


def note_interruption(text: str) -> None:
    """Record what was done before the interruption (the CLI prints it)."""
    _INTERRUPTION.append(text)


def take_interruption_notes() -> list[str]:
    """The notes recorded so far, once."""
    notes = list(_INTERRUPTION)
    _INTERRUPTION.clear()
    return notes


def clip(text: str, limit: int = 300) -> str:
    """`text` on one line, at most `limit` characters, cut at a word boundary (never mid-word) with " …"."""
    return textwrap.shorten(text, limit, placeholder=" …") or text[:limit]
