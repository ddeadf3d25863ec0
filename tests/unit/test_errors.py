"""Error texts the user reads: details never cut mid-word (issue 16), items one per line."""

from __future__ import annotations

from kodo_provision.errors import UsageError, clip


def test_clip_cuts_at_a_word_boundary():
    text = "User account 'admin@contoso.onmicrosoft.com' does not exist in tenant 'Fabrikam' and cannot access it"
    short = clip(text, 60)
    assert len(short) <= 60 and short.endswith(" …")
    assert text.startswith(short.removesuffix(" …")) and text[len(short.removesuffix(" …"))] == " "
    assert clip("short text", 60) == "short text"


def test_items_print_one_per_line_under_the_error():
    error = UsageError("tenants file t.csv has 2 problem(s)", detail="line 2: x; line 3: y", hint="fix them",
                       items=("line 2: x", "line 3: y"))
    assert error.cli_lines() == ["error: tenants file t.csv has 2 problem(s) — fix them", "  line 2: x", "  line 3: y"]
    assert UsageError("bad", detail="d", hint="h").cli_lines() == ["error: bad (d) — h"]
    assert "line 2: x; line 3: y" in error.error_object()["error"]["message"]  # JSON keeps the whole list

