"""Property tests: no input makes the manifest loader crash with anything but a ManifestError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kodo_provision.errors import ManifestError
from kodo_provision.manifest.load import load_manifest, parse_manifest

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["schema_version", "manifest_version", "app", "secret", "resources", "name",
                                     "app_id", "application", "delegated", "display_name", "unique_name",
                                     "lifetime_days", "x"]), inner, max_size=6)), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_document_is_accepted_or_refused_cleanly(data):
    try:
        parse_manifest(data, source="fuzz.yaml")
    except ManifestError as exc:
        assert exc.one_line()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_file_is_accepted_or_refused_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_manifest(path)
    except ManifestError as exc:
        assert exc.one_line()
