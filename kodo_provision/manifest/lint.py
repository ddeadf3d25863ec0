"""Manifest lint: what can be said about a manifest without a tenant.

Findings come from data files kept in the repo (`kodo_provision/data/deprecations.yaml`,
`kodo_provision/data/permission_hints.yaml`), each with a stable code (README, "Manifest lint"):

    KP101  warning  permission on a retired API (no request works any more)
    KP102  warning  permission on an API with an announced retirement date
    KP103  warning  permission on an API blocked by default: the tenant admin must act (command given)
    KP201  error    delegated-only permission listed under `application`
    KP202  error    application-only permission listed under `delegated`
    KP203  error    case variant of a known permission name (names are case-sensitive)
    KP301  warning  permission broader than the manifest's stated `purpose` needs
    KP302  warning  `purpose` is not one lint knows (so KP301 cannot be checked)

The date is an input (`today`) so "retired" / "retiring in N days" is reproducible in tests.
Deprecations are warnings: Entra still accepts such grants (graph-facts §8), they are just
useless or need tenant action. Errors are mistakes that would fail at resolve time anyway,
caught here before anyone signs in.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from .load import load_yaml
from .model import Manifest

ERROR = "error"
WARNING = "warning"
CLIENT_ID_PLACEHOLDER = "<client-id>"
LINT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Finding:
    """One lint finding; `path` names the manifest entry (e.g. resources[2].application[0])."""

    code: str
    severity: str
    path: str
    message: str
    hint: str = ""
    # Machine-readable extras: dates, sources, the admin command.
    data: dict[str, Any] = field(default_factory=dict)
    # The finding in a few words (permission, date, the fix), for the one line plan/onboard print;
    # `manifest lint` shows the whole message and hint.
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def one_line(self) -> str:
        text = f"{self.code} {self.path}: {self.message}"
        return text + (f" — {self.hint}" if self.hint else "")

    def short_line(self) -> str:
        """The finding in one short line (the summary where there is one)."""
        return f"{self.code} {self.summary}" if self.summary else self.one_line()


@dataclass(frozen=True)
class LintReport:
    """Every finding, in manifest order; `as_of` is the date the dates were judged against."""

    as_of: date
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == WARNING)

    def admin_commands(self) -> list[str]:
        """The tenant-admin commands findings ask for (e.g. the EWS allow list), in order, once each."""
        out: list[str] = []
        for finding in self.findings:
            command = finding.data.get("admin_command")
            if command and command not in out:
                out.append(command)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": LINT_SCHEMA_VERSION, "as_of": self.as_of.isoformat(),
                "errors": len(self.errors), "warnings": len(self.warnings),
                "findings": [f.to_dict() for f in self.findings]}


def _load(name: str) -> dict[str, Any]:
    text = resources.files("kodo_provision.data").joinpath(name).read_text(encoding="utf-8")
    return load_yaml(text)


@cache
def deprecations() -> tuple[dict[str, Any], ...]:
    """The retired/retiring APIs (data/deprecations.yaml)."""
    return tuple(_load("deprecations.yaml")["apis"])


@cache
def permission_hints() -> dict[str, Any]:
    """Known names, types and purposes (data/permission_hints.yaml)."""
    return _load("permission_hints.yaml")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _days(n: int) -> str:
    return f"{n} day" + ("" if n == 1 else "s")


def _deprecation_finding(api: dict[str, Any], resource_name: str, kind: str, name: str, path: str,
                         today: date, client_id: str | None) -> Finding:
    milestones = sorted(api["milestones"], key=lambda m: _as_date(m["date"]))
    passed = [m for m in milestones if _as_date(m["date"]) <= today]
    upcoming = [m for m in milestones if _as_date(m["date"]) > today]
    data: dict[str, Any] = {"api": api["id"], "milestones": [
        {"date": _as_date(m["date"]).isoformat(), "status": m["status"]} for m in milestones],
        "sources": list(api.get("sources", []))}
    replacement = api.get("replacement") or {}
    instead = (replacement.get("permissions") or {}).get(name)
    hint = ""
    if instead:
        hint = f"use {replacement['resource']} {instead} instead"
        data["replacement"] = {"resource_app_id": replacement.get("resource_app_id"), "permissions": instead.split()}
    elif replacement:
        hint = f"use the {replacement['resource']} equivalent instead"
    current = passed[-1] if passed else None
    if current is None:
        nxt = upcoming[0]
        when = _as_date(nxt["date"])
        code, message = "KP102", (f"{resource_name} {kind} permission {name!r}: {api['name']} retiring — "
                                  f"{nxt['status'].replace('_', ' ')} from {when.isoformat()} "
                                  f"(in {_days((when - today).days)})")
    elif current["status"] == "retired":
        when = _as_date(current["date"])
        code, message = "KP101", (f"{resource_name} {kind} permission {name!r}: {api['name']} retired on "
                                  f"{when.isoformat()} ({_days((today - when).days)} ago): {current['note']}")
        hint = (hint + "; " if hint else "") + "remove it from the manifest (granting it still works but is useless)"
    else:
        when = _as_date(current["date"])
        code, message = "KP103", f"{resource_name} {kind} permission {name!r}: {api['name']} {current['note']}"
        if upcoming:
            nxt_when = _as_date(upcoming[0]["date"])
            label = "permanent shutdown" if upcoming[0]["status"] == "retired" else upcoming[0]["status"]
            message += (f"; {label.replace('_', ' ')} on {nxt_when.isoformat()} "
                        f"(in {_days((nxt_when - today).days)})")
    action = api.get("admin_action")
    # Before the block and while blocked the admin can still keep the API working; once retired, nothing helps.
    if action and (current is None or current["status"] == action.get("from_status")):
        command = action["command"].replace("{client_id}", client_id or CLIENT_ID_PLACEHOLDER)
        data["admin_command"] = command
        data["admin_check"] = action.get("check")
        hint = (hint + "; " if hint else "") + f"until then the tenant admin must run: {command}"
    summary = _summary(code, f"{name} ({api.get('short_name', api['name'])})", milestones, today,
                       admin_action="admin_command" in data, instead=instead)
    return Finding(code, WARNING, path, message, hint, data, summary)


def _summary(code: str, what: str, milestones: list[dict[str, Any]], today: date, *, admin_action: bool,
             instead: str | None) -> str:
    """A deprecation finding in a few words: the permission, its dates, the fix."""
    dated = [(m["status"].replace("_", " "), _as_date(m["date"]).isoformat()) for m in milestones]
    if code == "KP101":
        return f"{what}: retired {dated[-1][1]} — remove it"
    fix = "the tenant admin must allow-list the app" if admin_action else (
        f"move to {instead}" if instead else "plan the move")
    if code == "KP102":
        return f"{what}: {dated[0][0]} from {dated[0][1]} — {fix}"
    passed = [d for d, m in zip(dated, milestones, strict=True) if _as_date(m["date"]) <= today]
    later = [d for d, m in zip(dated, milestones, strict=True) if _as_date(m["date"]) > today]
    text = f"{what}: {passed[-1][0]} since {passed[-1][1]}"
    return text + (f", {later[0][0]} {later[0][1]}" if later else "") + f" — {fix}"


def _type_findings(resource_app_id: str, resource_name: str, kind: str, name: str, path: str) -> list[Finding]:
    hints = permission_hints()["resources"].get(resource_app_id)
    if not hints:
        return []
    delegated_only = set(hints.get("delegated_only") or ())
    application_only = set(hints.get("application_only") or ())
    if kind == "application" and name in delegated_only:
        return [Finding("KP201", ERROR, path, f"{resource_name} has no application permission {name!r}; "
                        "it exists only as a delegated permission", "move it to `delegated`")]
    if kind == "delegated" and name in application_only:
        return [Finding("KP202", ERROR, path, f"{resource_name} has no delegated permission {name!r}; "
                        "it exists only as an application permission", "move it to `application`")]
    known = delegated_only | application_only | set(hints.get("known") or ())
    if name not in known:
        variant = next((k for k in sorted(known) if k.lower() == name.lower()), None)
        if variant:
            return [Finding("KP203", ERROR, path, f"{resource_name} permission {name!r} is a case variant of "
                            f"{variant!r}; permission names are case-sensitive", f"write {variant!r}")]
    return []


def _purpose_findings(purpose: str, resource_name: str, kind: str, name: str, path: str) -> list[Finding]:
    rules = permission_hints()["purposes"].get(purpose)
    if rules is None:
        return []
    for rule in rules["over_broad"]:
        if fnmatch.fnmatchcase(name, rule["pattern"]):
            return [Finding("KP301", WARNING, path,
                            f"{resource_name} {kind} permission {name!r} is broader than purpose {purpose!r} "
                            f"({rules['description']}) needs", f"consider {rule['instead']}",
                            {"purpose": purpose, "rule": rule["pattern"]})]
    return []


def lint_manifest(manifest: Manifest, *, today: date, client_id: str | None = None) -> LintReport:
    """Every finding for `manifest`, judged on `today`. `client_id` fills admin commands
    (e.g. the EWS allow list) once the app exists; otherwise they show `<client-id>`."""
    findings: list[Finding] = []
    purpose = getattr(manifest, "purpose", None)
    if purpose and purpose not in permission_hints()["purposes"]:
        known = ", ".join(sorted(permission_hints()["purposes"]))
        findings.append(Finding("KP302", WARNING, "purpose", f"unknown purpose {purpose!r}; over-broad permissions "
                                "are not checked", f"use one of: {known}"))
    by_app = {api["resource_app_id"]: api for api in deprecations()}
    for index, resource in enumerate(manifest.resources):
        api = by_app.get(resource.app_id)
        for kind in ("application", "delegated"):
            for pos, name in enumerate(getattr(resource, kind)):
                path = f"resources[{index}].{kind}[{pos}]"
                findings.extend(_type_findings(resource.app_id, resource.name, kind, name, path))
                if api and (api["permissions"] == "*" or name in api["permissions"]):
                    findings.append(_deprecation_finding(api, resource.name, kind, name, path, today, client_id))
                if purpose:
                    findings.extend(_purpose_findings(purpose, resource.name, kind, name, path))
    return LintReport(today, tuple(findings))
