"""The tenants file: the whole file is validated first; one error lists every bad line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kodo_provision.bulk.tenants import parse_tenants_file
from kodo_provision.errors import UsageError

GUID = "6f1c4b1e-2a57-4c43-9d1e-1c0ffee00001"


def write(tmp_path, text: str, name: str = "tenants.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_optional_columns(tmp_path):
    path = write(tmp_path, f"tenant,app_name,secret_lifetime\nContoso.onmicrosoft.com,KODO Contoso,90d\n{GUID},,\n")
    rows = parse_tenants_file(path)
    assert [r.tenant for r in rows] == ["contoso.onmicrosoft.com", GUID]
    assert rows[0].app_name == "KODO Contoso" and rows[0].secret_lifetime == timedelta(days=90)
    assert rows[1].app_name is None and rows[1].secret_lifetime is None
    assert [r.line for r in rows] == [2, 3]


def test_utf8_bom_is_accepted(tmp_path):
    path = write(tmp_path, "\ufefftenant\ncontoso.onmicrosoft.com\n")
    assert [r.tenant for r in parse_tenants_file(path)] == ["contoso.onmicrosoft.com"]


def test_utf16_is_refused_with_a_hint(tmp_path):
    path = write(tmp_path, "\ufefftenant\ncontoso.onmicrosoft.com\n", encoding="utf-16")
    with pytest.raises(UsageError, match="UTF-16") as info:
        parse_tenants_file(path)
    assert "UTF-8" in info.value.hint


def test_every_bad_line_is_listed_in_one_error(tmp_path):
    path = write(tmp_path, "tenant,app_name,colour\n"
                           "contoso.onmicrosoft.com,,\n"
                           "not a tenant,,\n"
                           ",,\n"
                           "CONTOSO.onmicrosoft.com,,\n"
                           ",x,\n"
                           "fabrikam.onmicrosoft.com,,,extra\n")
    with pytest.raises(UsageError) as info:
        parse_tenants_file(path)
    detail = info.value.detail
    assert "6 problem(s)" in info.value.summary and "nothing was changed" in info.value.summary
    assert "line 1: unknown column(s) 'colour'" in detail
    assert "line 3: 'not a tenant' is not a tenant ID" in detail
    assert "line 4: empty row" in detail
    assert "line 5: contoso.onmicrosoft.com is listed twice (first on line 2)" in detail
    assert "line 6: the tenant column is empty" in detail
    assert "line 7: 4 fields but the header has 3" in detail


def test_missing_tenant_column_and_bad_lifetime(tmp_path):
    with pytest.raises(UsageError) as info:
        parse_tenants_file(write(tmp_path, "domain\ncontoso.onmicrosoft.com\n"))
    assert "line 1: the header has no `tenant` column" in info.value.detail
    with pytest.raises(UsageError) as info:
        parse_tenants_file(write(tmp_path, "tenant,secret_lifetime\ncontoso.onmicrosoft.com,forever\n"))
    assert "line 2: secret_lifetime:" in info.value.detail


def test_empty_file_and_trailing_blank_lines(tmp_path):
    with pytest.raises(UsageError, match="lists no tenants"):
        parse_tenants_file(write(tmp_path, "tenant\n"))
    rows = parse_tenants_file(write(tmp_path, "tenant\ncontoso.onmicrosoft.com\n\n\n"))
    assert len(rows) == 1


def test_manifest_column_is_loaded_relative_to_the_file(tmp_path):
    path = write(tmp_path, "tenant,manifest\ncontoso.onmicrosoft.com,missing.yaml\n")
    with pytest.raises(UsageError) as info:
        parse_tenants_file(path)
    assert "line 2: manifest:" in info.value.detail and "missing.yaml" in info.value.detail


def test_yaml_list_with_line_numbers(tmp_path):
    path = write(tmp_path, "tenants:\n"
                           "  - tenant: contoso.onmicrosoft.com\n"
                           "    app_name: KODO\n"
                           "  - fabrikam.onmicrosoft.com\n"
                           "  - tenant: nope\n"
                           "    colour: red\n", name="tenants.yaml")
    with pytest.raises(UsageError) as info:
        parse_tenants_file(path)
    assert "line 5: unknown column(s) 'colour'" in info.value.detail
    assert "line 5: 'nope' is not a tenant ID" in info.value.detail
    ok = write(tmp_path, "- tenant: contoso.onmicrosoft.com\n  app_name: KODO\n- fabrikam.onmicrosoft.com\n",
               name="ok.yml")
    rows = parse_tenants_file(ok)
    assert [(r.line, r.tenant, r.app_name) for r in rows] == [(1, "contoso.onmicrosoft.com", "KODO"),
                                                              (3, "fabrikam.onmicrosoft.com", None)]


# --- property: any mix of good and bad lines -> either all rows, or one error naming exactly the bad lines
label = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
good = st.builds(lambda a, b: f"{a}.{b}.onmicrosoft.com", label, label) | st.uuids().map(str)
bad = st.sampled_from(["not a tenant", "x", "-bad-.com", "contoso..com", "12345"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), good, bad), min_size=1, max_size=25), st.booleans())
def test_property_bad_lines_are_exactly_reported(tmp_path_factory, entries, bom):
    tmp = tmp_path_factory.mktemp("prop")
    values, expected_bad, seen = [], set(), set()
    for i, (is_good, g, b) in enumerate(entries):
        value = g if is_good else b
        values.append(value)
        if not is_good or value.lower() in seen:
            expected_bad.add(i + 2)
        seen.add(value.lower())
    path = tmp / "t.csv"
    path.write_text(("\ufeff" if bom else "") + "tenant\n" + "".join(v + "\n" for v in values), encoding="utf-8")
    if not expected_bad:
        rows = parse_tenants_file(path)
        assert [r.tenant for r in rows] == [v.lower() for v in values]
        return
    with pytest.raises(UsageError) as info:
        parse_tenants_file(path)
    reported = {int(part.split(":")[0].split()[1]) for part in info.value.detail.split("; ")}
    assert reported == expected_bad


def test_a_bundled_profile_by_name_in_the_manifest_column(tmp_path):
    rows = parse_tenants_file(write(tmp_path, "tenant,manifest\ncontoso.onmicrosoft.com,kodo-graph\n"))
    assert rows[0].manifest is not None and rows[0].manifest.manifest_version.endswith("-graph")
