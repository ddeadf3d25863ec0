"""The credentials file handed to KODO: JSON, mode 0600, written atomically.

Never silently overwrites another tenant's file; the secret lives only here (and in memory).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import environment
from ..errors import UsageError
from ..manifest.identity import slug
from ..state.model import HeldCertificate, HeldSecret

CREDENTIALS_SCHEMA_VERSION = 1


def default_credentials_path(tenant: str, directory: Path | None = None, app_name: str | None = None) -> Path:
    """kodo-credentials-<tenant>.json in the current (or given) folder; with --app-name
    kodo-credentials-<tenant>-<app>.json, so two apps in one tenant never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", tenant)
    app = "-" + slug(app_name) if app_name else ""  # the slug the app's uniqueName ends with
    return (directory or Path.cwd()) / f"kodo-credentials-{safe}{app}.json"


def is_credentials_record(data: object) -> bool:
    """What every credentials file the tool writes holds (handoff.app_record): the tenant it is for."""
    return isinstance(data, dict) and bool(data.get("tenant_id"))


def read_credentials(path: Path) -> dict[str, Any] | None:
    """The file's contents, or None when it does not exist. A file that exists but is not a credentials
    file of this tool is refused: it would be overwritten (e.g. --credentials-out package.json)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a kodo-provision credentials file; refusing to use or overwrite it",
                         detail=str(exc), hint="move it away or pass another --credentials-out") from None
    if not is_credentials_record(data):
        raise UsageError(f"{path} is not a kodo-provision credentials file; refusing to use or overwrite it",
                         hint="pass --credentials-out with a new file name (e.g. kodo-credentials.json)")
    return data


def check_same_app(path: Path, existing: dict[str, Any] | None, client_id: str | None) -> None:
    """Refuse a credentials file that names another app of the tenant (another --app-name)."""
    held = str((existing or {}).get("client_id") or "").lower()
    if held and client_id and held != client_id.lower():
        raise UsageError(f"credentials file {path} holds another app ({held}), not this one ({client_id})",
                         hint="pass --credentials-out with another path, or the --app-name that file was made for")


def check_owner(path: Path, existing: dict[str, Any] | None, tenant_ids: set[str]) -> None:
    """Refuse to touch a file that belongs to another tenant."""
    if existing is None:
        return
    owner = str(existing.get("tenant_id", "")).lower()
    if owner and owner not in tenant_ids:
        raise UsageError(f"credentials file {path} belongs to tenant {owner}",
                         hint="pass --credentials-out with another path; it is never overwritten")


def held_secret(existing: dict[str, Any] | None) -> HeldSecret | None:
    """The secret the file holds, by key ID (for the plan's credential check)."""
    if not existing or not existing.get("client_secret") or not existing.get("secret_key_id"):
        return None
    expires = existing.get("secret_expires_at")
    return HeldSecret(
        key_id=str(existing["secret_key_id"]).lower(),
        client_id=str(existing.get("client_id", "")).lower(),
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


def held_certificate(existing: dict[str, Any] | None) -> HeldCertificate | None:
    """The certificate the file holds (credential_type certificate), if its private key file
    still exists: a certificate whose key is gone is of no use to KODO."""
    if not existing or existing.get("credential_type") != "certificate":
        return None
    cert_path, key_id, thumbprint = (existing.get(k) for k in ("certificate_path", "key_id",
                                                               "certificate_thumbprint"))
    if not cert_path or not key_id or not thumbprint or not Path(str(cert_path)).is_file():
        return None
    expires = existing.get("certificate_expires_at")
    return HeldCertificate(key_id=str(key_id).lower(), client_id=str(existing.get("client_id", "")).lower(),
                           thumbprint=str(thumbprint).upper(),
                           expires_at=datetime.fromisoformat(expires) if expires else None)


def process_gone(pid: object) -> bool:
    """True only when certain that no process `pid` runs on this machine. On Windows os.kill(pid, 0)
    would end the process (it calls TerminateProcess), so there the answer is always False."""
    if os.name == "nt" or not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's live process
        return False
    return False


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files of an earlier write of `path` whose process was killed between writing and renaming:
    they may hold a whole secret (an orphan the next run removes from Entra), so they must not linger."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and process_gone(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_private_file(path: Path, data: bytes) -> None:
    """Write bytes (a private key PEM, a PFX) like write_credentials: 0600 from the first byte,
    temp file in the same folder (named with this process's ID, so a later write can tell a killed
    writer's leftover from a live one's), fsync, atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def certificate_file_paths(credentials_path: Path, thumbprint: str) -> tuple[Path, Path]:
    """(PEM with private key + certificate, PFX) next to the credentials file, named by the
    certificate's thumbprint so a new certificate never overwrites the key of the one in use."""
    stem = credentials_path.name.removesuffix(".json")
    base = credentials_path.with_name(f"{stem}.cert-{thumbprint[:16].lower()}")
    return base.with_name(base.name + ".pem"), base.with_name(base.name + ".pfx")


def open_private_log(path: Path, what: str) -> Any:
    """Open a log-like file (the --log-file, the bulk journal) for appending: mode 0600, and never through
    a symbolic link (O_NOFOLLOW), so nobody can point it at a file of theirs beforehand."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise UsageError(f"{what} {path} is a symbolic link; refusing to follow it",
                             hint="pass the path of a regular file") from None
        raise UsageError(f"cannot open {what} {path}", detail=exc.strerror,
                         hint="pass a path in a folder you can write") from None
    with contextlib.suppress(OSError):  # an existing file of ours that others could read: tighten it
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def write_credentials(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically with mode 0600: a temp file in the same folder, fsync, rename.
    The file is never readable by others, not even for an instant."""
    payload = json.dumps({"schema_version": CREDENTIALS_SCHEMA_VERSION, **data}, indent=2) + "\n"
    write_private_file(path, payload.encode("utf-8"))


def state_dir() -> Path:
    """Per-user state that must outlive any working directory: $XDG_STATE_HOME/kodo-provision
    (default ~/.local/state/kodo-provision; %LOCALAPPDATA%\\kodo-provision on Windows)."""
    local_app_data = environment.getenv("LOCALAPPDATA")
    if os.name == "nt" and local_app_data:
        return Path(local_app_data) / "kodo-provision"
    base = environment.getenv("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kodo-provision"


def _pending_path(tenant_id: str, unique_name: str) -> Path:
    # uniqueName is restricted to [A-Za-z0-9._-] by the manifest schema: safe in a file name.
    return state_dir() / "pending" / f"{tenant_id.lower()}--{unique_name}.json"


def _legacy_pending_path(credentials_path: Path) -> Path:
    return credentials_path.with_name(credentials_path.name + ".pending")


# How long an interrupted run stays in the pending record after a later run handed off its own credential:
# a request the killed process had in flight can still commit (a gateway may hold it for a minute or more),
# and its credential must then be found by the next command. Well beyond Graph's gateway timeouts.
PENDING_HORIZON = timedelta(minutes=15)


def _read_pending(path: Path) -> dict[str, str]:
    """run ID -> when it was marked (ISO 8601; "" when an older version did not record it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    times = data.get("marked_at") if isinstance(data.get("marked_at"), dict) else {}
    return {str(r): str(times.get(r) or "") for r in data.get("run_ids", []) if isinstance(r, str)}


def read_pending_runs(tenant_id: str, unique_name: str, legacy: Path | None = None) -> frozenset[str]:
    """Runs that were about to add a credential to this tenant's app and never confirmed the hand-off
    (a crash or kill between adding it and writing the credentials file): their credentials are orphans.
    Kept per user, by tenant and app, so any later command from any folder finds them; `legacy`: a
    credentials file beside which older versions kept them."""
    return frozenset(_read_pending(_pending_path(tenant_id, unique_name))) | (
        frozenset(_read_pending(_legacy_pending_path(legacy))) if legacy else frozenset())


def mark_pending_runs(tenant_id: str, unique_name: str, run_ids: frozenset[str]) -> None:
    """Record, before a credential is added, which runs may leave one behind (0600, atomic); runs already
    recorded keep their time."""
    path = _pending_path(tenant_id, unique_name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = environment.clock().now().isoformat()
    marked = _read_pending(path)
    marked.update({r: marked.get(r) or now for r in run_ids})
    write_credentials(path, {"run_ids": sorted(marked), "marked_at": marked})


def clear_pending_runs(tenant_id: str, unique_name: str, legacy: Path | None = None, *,
                       handed_off: frozenset[str] = frozenset()) -> None:
    """The runs in `handed_off` have no credential left unrecorded (this run's, handed off or removed).
    Interrupted runs stay for PENDING_HORIZON after they were marked (a request of theirs may still land),
    then go; a record without times (an older version's) goes at once."""
    path = _pending_path(tenant_id, unique_name)
    now = environment.clock().now()
    keep = {r: t for r, t in _read_pending(path).items()
            if r not in handed_off and t and now - datetime.fromisoformat(t) < PENDING_HORIZON}
    if keep:
        write_credentials(path, {"run_ids": sorted(keep), "marked_at": keep})
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if legacy:
        with contextlib.suppress(FileNotFoundError):
            _legacy_pending_path(legacy).unlink()


def check_writable(path: Path) -> None:
    """Refuse, before any sign-in or change, a credentials path that cannot be written: the
    secret would otherwise exist in the tenant with nowhere to go."""
    if path.is_dir():
        raise UsageError(f"credentials path {path} is a folder", hint="pass a file name, e.g. --credentials-out "
                         f"{path / 'kodo-credentials.json'}")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the credentials file {path} ({ancestor} is not a writable folder)",
                         hint="pass --credentials-out with a path in a folder you can write")
