"""The layout's promises, checked: import boundaries and a --help for every command."""

from __future__ import annotations

import ast
from pathlib import Path

import click
from click.testing import CliRunner

from kodo_provision.cli.main import cli

PACKAGE = Path(__file__).parents[2] / "kodo_provision"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            else:
                names.add(node.module or "")
    return names


def modules(exclude: tuple[str, ...] = ()) -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if not any(part in exclude for part in p.relative_to(PACKAGE).parts)]


def test_core_never_imports_the_simulator():
    offenders = [str(p) for p in modules(exclude=("simulator", "cli"))
                 if any(i.startswith("kodo_provision.simulator") for i in imports_of(p))]
    assert offenders == []


def test_only_graph_imports_msgraph():
    offenders = [str(p) for p in modules(exclude=("graph", "simulator"))
                 if any(i.split(".")[0] in {"msgraph", "msgraph_core", "kiota_abstractions", "kiota_http",
                                            "kiota_authentication_azure"} for i in imports_of(p))]
    assert offenders == []


def test_only_auth_imports_azure_identity():
    offenders = [str(p) for p in modules(exclude=("simulator", "auth"))
                 if any(i.startswith("azure.identity") for i in imports_of(p))]
    assert offenders == []
    assert any(i.startswith("azure.identity") for p in (PACKAGE / "auth").glob("*.py") for i in imports_of(p))


def test_plan_is_pure():
    io_modules = {"httpx", "asyncio", "os", "socket", "msgraph", "kodo_provision.graph", "kodo_provision.auth"}
    for path in (PACKAGE / "plan").glob("*.py"):
        assert not {i for i in imports_of(path) if i.split(".")[0] in io_modules or i in io_modules}, path


def test_every_command_has_help():
    runner = CliRunner()
    names = cli.list_commands(click.Context(cli))
    assert {"onboard", "plan", "verify", "rotate-secret", "offboard", "bulk", "manifest", "demo"} <= set(names)
    for name in names:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.name == name, name
        assert command.help or command.short_help or command.callback.__doc__, name
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_every_wait_of_the_core_goes_through_the_environment_clock():
    """asyncio.sleep / time.sleep / time.monotonic outside environment.py would be a wait or a deadline
    the injected clock (tests/virtual_time.py) cannot see: a test would then wait in real time, or a
    budget would run on another clock than the waits it bounds."""
    forbidden = ("asyncio.sleep(", "time.sleep(", "time.monotonic(")
    offenders = [f"{p.relative_to(PACKAGE)}: {call}" for p in modules(exclude=("simulator",))
                 if p.name != "environment.py" for call in forbidden if call in p.read_text()]
    assert offenders == []
