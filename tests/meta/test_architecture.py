"""The layout's promises, checked: import boundaries and a --help for every command."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import click
from click.testing import CliRunner

from kodo_provision.cli.main import cli

PACKAGE = Path(__file__).parents[2] / "kodo_provision"


@functools.cache
def imports_of(path: Path) -> frozenset[str]:
    """Every module `path` imports (absolute names). Cached: several meta tests walk every module."""
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
    return frozenset(names)


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


def test_only_output_logging_imports_structlog():
    """structlog costs ~0.1 s to import; it loads with the first event (output/logging.py, issue 17)."""
    offenders = [str(p) for p in modules(exclude=("simulator",))
                 if p.name != "logging.py" and any(i.startswith("structlog") for i in imports_of(p))]
    assert offenders == []


def test_onboard_loads_no_graph_stack_and_no_structlog_before_its_sign_in():
    """What `onboard` imports before its first request (the sign-in) decides how soon the prompt appears
    (`make bench`: start-up). The Graph stack, the flows after sign-in and structlog load later. The
    module list is read in a fresh interpreter, after the command module and its parsing are loaded."""
    import subprocess
    import sys

    code = ("import sys\nfrom kodo_provision.cli.main import cli\nimport kodo_provision.cli.onboard\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=True).stdout.split()
    heavy = ("msgraph", "msgraph_core", "kiota_http", "httpx", "structlog", "rich", "tenacity",
             "kodo_provision.graph.gateway", "kodo_provision.flows.onboard", "kodo_provision.apply")
    assert [m for m in loaded if m.split(".")[0] in heavy or m.startswith(heavy)] == []
    assert "azure.identity" in loaded and "kodo_provision.manifest.model" in loaded  # what sign-in needs


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


def test_the_core_reads_streams_and_variables_only_through_the_environment():
    """sys.stdin/stdout/stderr and os.environ outside environment.py would be a stream or a variable a test
    (or an embedding program) cannot hand in with Environment(stdin=..., variables=...)."""
    forbidden = ("sys.stdin", "sys.stdout", "sys.stderr", "os.environ", "os.getenv(")
    offenders = [f"{p.relative_to(PACKAGE)}: {name}" for p in modules(exclude=("simulator",))
                 if p.name != "environment.py" for name in forbidden if name in p.read_text()]
    assert offenders == []


# The layer order, bottom to top (issue 17). A module may import from its own layer and the ones below.
# Longest prefix wins: state.model is data every layer shares, state.read reads the tenant through graph.
LAYERS: dict[str, int] = {
    "errors": 0, "cloud": 0, "environment": 0, "data": 0,
    "state.model": 1, "state.policy": 1, "output.logging": 1, "manifest.identity": 1, "manifest.durations": 1,
    "credentials": 2, "manifest": 2, "graph": 2, "auth": 2,
    "plan": 3, "state": 3,
    "apply": 4,
    "flows": 5,
    "partner": 6,
    "bulk": 7,
    "cli": 8, "output": 8,
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")[1:]  # without "kodo_provision"
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return LAYERS[".".join(parts[:n])]
    return None


def core_modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in modules(exclude=("simulator",))}


def test_every_core_module_has_a_layer():
    assert [m for m in core_modules() if m != "kodo_provision" and layer_of(m) is None] == []


def test_no_import_points_up_a_layer():
    upward = []
    for module, path in core_modules().items():
        mine = layer_of(module)
        for imported in imports_of(path):
            theirs = layer_of(imported) if imported.startswith("kodo_provision.") else None
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} ({mine}) imports {imported} ({theirs})")
    assert upward == []


def part_of(module: str) -> str | None:
    """The LAYERS key a module belongs to (state.model and state.read are different parts)."""
    parts = module.split(".")[1:]
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in LAYERS), None)


def test_no_import_cycle_between_parts():
    """Between the parts the layer map names: a cycle (graph <-> state, before state.read and state.model
    were told apart) means the layers are not layers."""
    edges: dict[str, set[str]] = {}
    for module, path in core_modules().items():
        mine = part_of(module)
        for imported in imports_of(path):
            theirs = part_of(imported) if imported.startswith("kodo_provision.") else None
            if mine and theirs and theirs != mine:
                edges.setdefault(mine, set()).add(theirs)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges.get(start, ()))

    assert [part for part in edges if reaches(part, part, {part})] == []


def test_at_most_five_modules_at_the_top_level():
    assert len([p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]) <= 5


def test_no_function_of_the_core_is_over_60_lines():
    """The house rule (brief: small functions); the simulator aside."""
    long = [f"{p.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for p in modules(exclude=("simulator",))
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60]
    assert long == []


def test_no_private_name_is_used_from_outside_its_object():
    """The gateway is one public surface (issue 17: batched.py and lifecycle_ops.py called its private
    methods). `x._name` is allowed on self/cls only (and os._exit)."""
    uses = [f"{p.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}"
            for p in modules(exclude=("simulator",))
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls", "os"))]
    assert uses == []


SIMULATOR_STACK = ("starlette", "uvicorn", "trustme")


def test_a_plain_install_leaves_the_simulator_stack_out():
    """Issue 15: starlette, uvicorn and trustme come only with the `simulator` extra (which dev includes)."""
    import re
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=\[; ]", r, maxsplit=1)[0].lower() for r in requirements}

    assert not names(project["dependencies"]) & set(SIMULATOR_STACK)
    assert set(SIMULATOR_STACK) <= names(project["optional-dependencies"]["simulator"])
    assert "kodo_provision[simulator]" in project["optional-dependencies"]["dev"]


def test_without_the_simulator_extra_the_cli_runs_and_simulate_says_how_to_get_it():
    """The stack hidden as if not installed: --help and the commands' help work; simulate and demo are one
    line with the install command, exit 2."""
    import subprocess
    import sys

    block = f"import sys\nfor m in {SIMULATOR_STACK!r}: sys.modules[m] = None\n"
    run = "from kodo_provision.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", block + run, *args], capture_output=True, text=True,
                              timeout=60, cwd=PACKAGE.parent)

    assert cli("--help").returncode == 0
    assert cli("onboard", "--help").returncode == 0
    for command in ("simulate", "demo"):
        result = cli(command)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            "error: the built-in tenant simulator is not installed (it needs starlette) — "
            "pip install 'kodo_provision[simulator]' (a clone: make install)"], result.stderr


def test_the_lock_pins_every_dependency_with_hashes():
    """Issue 15: requirements.lock (make lock) pins every runtime and development requirement of pyproject.toml,
    each with sha256 hashes, so `make install` can use --require-hashes. Fails when pyproject gains a
    dependency the lock does not have: run `make lock`."""
    import re
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    names = {re.split(r"[<>=\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in wanted} - {"kodo-provision"}
    lock = (PACKAGE.parent / "requirements.lock").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+) \\", lock, flags=re.M))
    assert not names - {n.lower().replace("_", "-") for n in pinned}, "run `make lock`"
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock)
    assert len([e for e in entries if "==" in e]) == len(pinned)
    assert all("--hash=sha256:" in e for e in entries if "==" in e)


def test_every_secret_bearing_field_is_left_out_of_repr():
    """Issue 15: a dataclass field that holds a secret is `field(repr=False)`, so a repr in a traceback or a
    debug log never shows it."""
    import re

    secret_name = re.compile(r"(secret_text|client_secret|password|private_pem|refresh_token|access_token)$")
    shown = []
    for path in modules(exclude=("simulator",)):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and \
                        secret_name.search(item.target.id):
                    value = ast.unparse(item.value) if item.value else ""
                    if "repr=False" not in value:
                        shown.append(f"{path.relative_to(PACKAGE)}: {node.name}.{item.target.id}")
    assert shown == []
