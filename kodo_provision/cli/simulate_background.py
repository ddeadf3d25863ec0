"""`kodo-provision simulate --background` / `--stop`: the simulator as a process of its own, for a shell
session or a script (the README's walkthrough). The child is the same command in the foreground, its output
in DIR/simulate.log; it writes DIR/endpoints.json (with its PID) and DIR/env.sh once it serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404  # the background simulator is this same CLI
import sys
from pathlib import Path

import click

from .. import environment
from ..errors import UsageError

START_BUDGET_S = 60.0
STOP_BUDGET_S = 15.0
MODE_FLAGS = ("background", "stop", "as_json")


def _child_argv(ctx: click.Context) -> list[str]:
    """The same `simulate` options, in the foreground."""
    args = ["simulate"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if not isinstance(param, click.Option) or param.name in MODE_FLAGS or value in (None, False, ()):
            continue
        if value == param.default and not param.is_flag:
            continue
        args += [param.opts[0]] if param.is_flag else [param.opts[0], str(value)]
    return args


def start(ctx: click.Context, workdir: Path | None) -> None:
    """Start the simulator in the background; return once it serves, with how to use and stop it."""
    if workdir is None:
        raise UsageError("--background needs --workdir DIR (where its endpoints, env.sh and log go)",
                         hint="e.g. kodo-provision simulate --background --workdir .kodo-sim")
    workdir.mkdir(parents=True, exist_ok=True)
    endpoints = workdir / "endpoints.json"
    if endpoints.exists() and _alive(json.loads(endpoints.read_text()).get("pid")):
        raise UsageError(f"a simulator from {workdir} is already running",
                         hint=f"stop it first: kodo-provision simulate --stop --workdir {workdir}")
    endpoints.unlink(missing_ok=True)
    with open(workdir / "simulate.log", "w", encoding="utf-8") as log:
        child = subprocess.Popen(  # noqa: S603  # nosec B603
            [sys.executable, "-m", "kodo_provision.cli.main", *_child_argv(ctx), "--workdir", str(workdir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_until_serving(child, endpoints, workdir)
    info = json.loads(endpoints.read_text())
    click.echo(f"Simulator running in the background (PID {info['pid']}): {info['url']}")
    click.echo(f"  . {workdir / 'env.sh'}    # points kodo-provision at it")
    click.echo(f"  kodo-provision simulate --stop --workdir {workdir}    # stops it")


def _wait_until_serving(child: subprocess.Popen[bytes], endpoints: Path, workdir: Path) -> None:
    clock = environment.clock()
    deadline = clock.monotonic() + START_BUDGET_S
    while not endpoints.exists():
        try:
            child.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            if clock.monotonic() > deadline:
                child.terminate()
                raise UsageError("the simulator did not start in time",
                                 hint=f"see {workdir / 'simulate.log'}") from None
            continue
        last = (workdir / "simulate.log").read_text(errors="replace").strip().splitlines()[-1:]
        raise UsageError(f"the simulator exited ({child.returncode})", detail=" ".join(last) or None,
                         hint=f"see {workdir / 'simulate.log'}")


def stop(workdir: Path | None) -> None:
    """Stop the background simulator of `workdir` (SIGTERM, then wait for it to go)."""
    endpoints = (workdir or Path(".")) / "endpoints.json"
    pid = json.loads(endpoints.read_text()).get("pid") if endpoints.exists() else None
    if workdir is None or not _alive(pid):
        endpoints.unlink(missing_ok=True)
        raise UsageError(f"no simulator running from {workdir or 'this folder'}",
                         hint="start one with kodo-provision simulate --background --workdir DIR")
    assert isinstance(pid, int)  # _alive said so
    os.kill(pid, signal.SIGTERM)
    clock = environment.clock()
    deadline = clock.monotonic() + STOP_BUDGET_S
    while _alive(pid) and clock.monotonic() < deadline:
        environment.pause(0.1)
    endpoints.unlink(missing_ok=True)
    (workdir / "env.sh").unlink(missing_ok=True)
    click.echo(f"Simulator stopped (PID {pid}).")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
