"""The simulator imports nothing from kodo_provision outside kodo_provision.simulator (checked on the AST)."""

from __future__ import annotations

import ast
from pathlib import Path

SIMULATOR = Path(__file__).parents[2] / "kodo_provision" / "simulator"
ROOT = SIMULATOR.parents[1]


def _imports(path: Path) -> list[str]:
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join([*base, node.module] if node.module else base))
            else:
                names.append(node.module or "")
    return names


def test_simulator_imports_only_itself_from_the_product():
    files = sorted(SIMULATOR.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        f"{p.relative_to(ROOT)}: {name}"
        for p in files
        for name in _imports(p)
        if (name == "kodo_provision" or name.startswith("kodo_provision."))
        and not (name == "kodo_provision.simulator" or name.startswith("kodo_provision.simulator."))
    }
    assert offenders == set()


def test_relative_imports_are_resolved():
    assert "kodo_provision.simulator.faults" in _imports(SIMULATOR / "scenario.py")
    assert "kodo_provision.simulator.store" in _imports(SIMULATOR / "graph" / "common.py")
