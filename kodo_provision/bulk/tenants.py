"""The tenants file of `kodo-provision bulk`: CSV or YAML, validated whole before any tenant is touched.

CSV: a header line, then one tenant per line. YAML: a list of mappings (or `tenants: [...]`).
Columns: `tenant` (required: GUID or verified domain), `app_name`, `secret_lifetime`, `manifest`
(optional, per tenant; a relative manifest path is relative to the tenants file, or a bundled profile's name:
kodo, kodo-graph), `credential`
(optional: `secret` or `certificate`; overrides the run's --credential for this tenant).

Every problem is collected and reported in ONE UsageError naming each bad line: an operator
fixing a 500-line file should not have to run the command once per typo.

A UTF-8 byte-order mark (Excel's "CSV UTF-8" writes one) is accepted and stripped silently;
UTF-16/32 files are refused with a hint to save as UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from ..auth import validate_tenant
from ..errors import KodoError, UsageError
from ..manifest.durations import parse_duration
from ..manifest.load import BUNDLED_PROFILES, load_manifest, manifest_path_for
from ..manifest.model import Manifest

COLUMNS = ("tenant", "app_name", "secret_lifetime", "manifest", "credential")
CREDENTIAL_TYPES = ("secret", "certificate")
REQUIRED = ("tenant",)
_OTHER_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
               b"\xfe\xff": "UTF-16"}


@dataclass(frozen=True)
class TenantRow:
    """One tenant to onboard, as the file asked for it."""

    line: int
    tenant: str
    app_name: str | None = None
    secret_lifetime: timedelta | None = None
    manifest_path: Path | None = None
    manifest: Manifest | None = None
    credential_type: str | None = None  # None: the run's --credential

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "tenant": self.tenant, "app_name": self.app_name,
                "secret_lifetime_days": self.secret_lifetime.days if self.secret_lifetime else None,
                "manifest": str(self.manifest_path) if self.manifest_path else None,
                "credential": self.credential_type}


def _default_duration(value: str) -> timedelta | None:
    return parse_duration(value)  # the one duration syntax of every command (manifest/durations.py)


class _Collector:
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append((line, message))


def _decode(path: Path, raw: bytes) -> str:
    for bom, name in _OTHER_BOMS.items():
        if raw.startswith(bom):
            raise UsageError(f"tenants file {path} is {name}-encoded", hint="save it as UTF-8 (CSV UTF-8) and retry")
    try:
        return raw.decode("utf-8-sig")  # strips a UTF-8 BOM if present
    except UnicodeDecodeError as exc:
        raise UsageError(f"tenants file {path} is not UTF-8", detail=f"byte {exc.start}",
                         hint="save it as UTF-8 (CSV UTF-8) and retry") from None


def _csv_records(text: str, bad: _Collector) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line, {column: value})]); blank lines inside the data are problems, trailing ones are not."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return [], []
    reader = csv.reader(io.StringIO("\n".join(lines) + "\n"))
    header: list[str] = []
    records: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not header:
                header = [v.strip().lower() for v in values]
                continue
            if not any(v.strip() for v in values):
                bad.add(line, "empty row")
                continue
            if len(values) > len(header):
                bad.add(line, f"{len(values)} fields but the header has {len(header)}")
                continue
            records.append((line, {h: v for h, v in zip(header, values, strict=False)}))
    except csv.Error as exc:
        bad.add(reader.line_num, f"not valid CSV ({exc})")
    return header, records


def _yaml_records(text: str, bad: _Collector) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """YAML list of mappings; line numbers come from the parser's marks."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        bad.add(mark.line + 1 if mark else 1, f"not valid YAML ({getattr(exc, 'problem', exc)})")
        return [], []
    if root is None:
        return [], []
    if isinstance(root, yaml.MappingNode):
        items = {k.value: v for k, v in root.value}
        if set(items) != {"tenants"}:
            bad.add(root.start_mark.line + 1, "expected a list of tenants, or a mapping with only `tenants:`")
            return [], []
        root = items["tenants"]
    if not isinstance(root, yaml.SequenceNode):
        bad.add(root.start_mark.line + 1, "expected a list of tenants")
        return [], []
    header: set[str] = set()
    records: list[tuple[int, dict[str, str]]] = []
    for node in root.value:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):  # `- contoso.onmicrosoft.com` short form
            if not node.value.strip():
                bad.add(line, "empty row")
                continue
            records.append((line, {"tenant": node.value}))
            header.add("tenant")
            continue
        if not isinstance(node, yaml.MappingNode):
            bad.add(line, "expected a mapping such as `tenant: contoso.onmicrosoft.com`")
            continue
        record: dict[str, str] = {}
        for key, value in node.value:
            if not isinstance(value, yaml.ScalarNode):
                bad.add(value.start_mark.line + 1, f"{key.value}: expected a single value")
                continue
            name = str(key.value).strip().lower()
            if name in record:
                bad.add(key.start_mark.line + 1, f"column {name!r} given twice")
            record[name] = "" if value.value is None else str(value.value)
        if not any(v.strip() for v in record.values()):
            bad.add(line, "empty row")
            continue
        header |= set(record)
        records.append((line, record))
    return sorted(header, key=lambda h: (h not in COLUMNS, h)), records


def parse_tenants_file(path: str | Path, *,
                       parse_duration: Callable[[str], timedelta | None] = _default_duration
                       ) -> list[TenantRow]:
    """Read and validate the whole file; raise one UsageError listing every bad line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"tenants file {path} does not exist", hint="pass a CSV or YAML file") from None
    except OSError as exc:
        raise UsageError(f"cannot read tenants file {path}", detail=exc.strerror) from None
    text = _decode(path, raw)
    bad = _Collector()
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    header, records = (_yaml_records if is_yaml else _csv_records)(text, bad)
    _check_columns(header, records, is_yaml, bad)
    if not records and not bad.problems:
        raise UsageError(f"tenants file {path} lists no tenants",
                         hint="the first line is the header (tenant,app_name,...), then one tenant per line")
    rows: list[TenantRow] = []
    if "tenant" in header:
        reader = _RowReader(path, bad, parse_duration)
        rows = [row for line, record in records if (row := reader.row(line, record)) is not None]
    if bad.problems:
        problems = sorted(bad.problems)
        items = tuple(f"line {line}: {message}" for line, message in problems)
        raise UsageError(f"tenants file {path} has {len(problems)} problem(s); nothing was changed",
                         detail="; ".join(items), items=items,
                         hint="fix every line listed below and run again (columns: " + ", ".join(COLUMNS) + ")")
    return rows


def _check_columns(header: list[str], records: list[tuple[int, dict[str, Any]]], is_yaml: bool,
                   bad: _Collector) -> None:
    """Unknown, repeated or missing columns (the CSV header, or each YAML entry's keys)."""
    known = ", ".join(COLUMNS)
    if is_yaml:
        for line, record in records:
            if unknown := [k for k in record if k not in COLUMNS]:
                bad.add(line, f"unknown column(s) {', '.join(repr(u) for u in unknown)}; known: {known}")
        return
    if not header:
        return
    if unknown := [h for h in header if h not in COLUMNS]:
        bad.add(1, f"unknown column(s) {', '.join(repr(u) for u in unknown)}; known: {known}")
    if dupes := sorted({h for h in header if header.count(h) > 1}):
        bad.add(1, f"column(s) {', '.join(dupes)} given twice in the header")
    if "tenant" not in header:
        bad.add(1, "the header has no `tenant` column")


class _RowReader:
    """Validates one record at a time; remembers tenants seen and manifests loaded."""

    def __init__(self, path: Path, bad: _Collector, parse_duration: Callable[[str], timedelta | None]) -> None:
        self.path, self.bad, self.parse_duration = path, bad, parse_duration
        self.seen: dict[str, int] = {}
        self.manifests: dict[Path, Manifest | KodoError] = {}

    def row(self, line: int, record: dict[str, Any]) -> TenantRow | None:
        """The record as a TenantRow, or None after adding its problems."""
        tenant = self._tenant(line, record)
        if tenant is None:
            return None
        problems_before = len(self.bad.problems)
        app_name = (record.get("app_name") or "").strip() or None
        lifetime = None
        if (value := (record.get("secret_lifetime") or "").strip()):
            try:
                lifetime = self.parse_duration(value)
            except Exception as exc:  # click.BadParameter or ValueError: both carry the reason
                self.bad.add(line, f"secret_lifetime: {getattr(exc, 'message', None) or exc}")
        manifest_path, manifest = self._manifest(line, (record.get("manifest") or "").strip())
        credential_type = (record.get("credential") or "").strip().lower() or None
        if credential_type is not None and credential_type not in CREDENTIAL_TYPES:
            self.bad.add(line, f"credential: {credential_type!r} is not one of {', '.join(CREDENTIAL_TYPES)}")
        if len(self.bad.problems) > problems_before:
            return None
        return TenantRow(line, tenant, app_name, lifetime, manifest_path, manifest, credential_type)

    def _tenant(self, line: int, record: dict[str, Any]) -> str | None:
        tenant_raw = (record.get("tenant") or "").strip()
        if not tenant_raw:
            self.bad.add(line, "the tenant column is empty")
            return None
        try:
            tenant = validate_tenant(tenant_raw)
        except UsageError:
            self.bad.add(line, f"{tenant_raw!r} is not a tenant ID (GUID) or domain")
            return None
        if tenant in self.seen:
            self.bad.add(line, f"{tenant} is listed twice (first on line {self.seen[tenant]})")
            return None
        self.seen[tenant] = line
        return tenant

    def _manifest(self, line: int, value: str) -> tuple[Path | None, Manifest | None]:
        if not value:
            return None, None
        manifest_path = (self.path.parent / value).resolve() if not Path(value).is_absolute() else Path(value)
        if not manifest_path.exists():  # a bundled profile's name (kodo, kodo-graph), as --manifest takes it
            manifest_path = manifest_path_for(value) if value in BUNDLED_PROFILES else manifest_path
        if manifest_path not in self.manifests:
            try:
                self.manifests[manifest_path] = load_manifest(manifest_path)
            except KodoError as exc:
                self.manifests[manifest_path] = exc
        loaded = self.manifests[manifest_path]
        if isinstance(loaded, KodoError):
            self.bad.add(line, f"manifest: {loaded.summary}" + (f" ({loaded.detail})" if loaded.detail else ""))
            return manifest_path, None
        return manifest_path, loaded
