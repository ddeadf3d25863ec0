"""`kodo-provision simulate`: run the tenant simulator in the foreground and say how to use it.

Parse and render only; the simulator lives in kodo_provision.simulator.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click
import pydantic

from ..errors import UsageError
from ..simulator import Faults, Scenario, Simulator
from ..simulator.tls import REAL_HOST_NAMES

_FAULT_FLAGS: dict[str, tuple[str, Any, str]] = {
    "latency_ms": ("--latency-ms", int, "Added to every Graph request."),
    "replication_lag_ms": ("--replication-lag-ms", int, "New objects are invisible this long."),
    "replication_model": ("--replication-model", click.Choice(["global", "session"]),
                          "global: every request waits out the lag; session: a signed-in user reads their "
                          "own writes at once (Entra's documented delegated behaviour)."),
    "affinity_loss_rate": ("--affinity-loss-rate", float,
                           "With --replication-model session: fraction of requests served by another datacenter."),
    "throttle_rate": ("--throttle-rate", float, "Fraction of Graph requests answered 429."),
    "retry_after_s": ("--retry-after", int, "Retry-After seconds of a 429."),
    "server_error_rate": ("--server-error-rate", float, "Fraction answered 503/504."),
    "tenant_rps": ("--tenant-rps", float, "Per-tenant requests per second before 429."),
    "lost_response_rate": ("--lost-response-rate", float, "Fraction of writes whose response is dropped."),
    "new_secret_delay_ms": ("--new-secret-delay-ms", int, "A new secret is refused this long."),
    "seed": ("--seed", int, "Seed of the fault RNG."),
}


def _fault_options(func: Any) -> Any:
    for name, (flag, typ, help_) in reversed(_FAULT_FLAGS.items()):
        func = click.option(flag, name, type=typ, default=None, help=help_)(func)
    return func


def describe(sim: Simulator) -> dict[str, Any]:
    """Endpoints, tenants and the exact settings that point kodo-provision at `sim`."""
    tenants = []
    for t in sim.core.directory.tenants.values():
        user = t.sign_in_user
        tenants.append({"domain": t.default_domain, "id": t.id, "sign_in_user": user.upn if user else None,
                        "users": [u.upn for u in t.users.values()]})
    ca = sim.ca_bundle_path
    return {
        "url": sim.url,
        "graph_url": sim.graph_url,
        "proxy_url": sim.proxy_url,
        "ca_bundle_path": ca,
        "control_url": f"{sim.url}/_sim/",
        "tenants": tenants,
        "flags": ["--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle", ca],
        # bulk also talks to Partner Center (a CSP partner's customers), served on the same port
        "bulk_flags": ["--authority-host", sim.url, "--graph-endpoint", sim.url, "--partner-center-endpoint", sim.url,
                       "--ca-bundle", ca],
        "env": {"KODO_AUTHORITY_HOST": sim.url, "KODO_GRAPH_ENDPOINT": sim.url,
                "KODO_PARTNER_CENTER_ENDPOINT": sim.url, "KODO_CA_BUNDLE": ca},
        "proxy_env": {"HTTPS_PROXY": sim.proxy_url, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca}
        if sim.proxy_url else None,
    }


def _render(info: dict[str, Any]) -> str:
    first = info["tenants"][0]["domain"] if info["tenants"] else "contoso.onmicrosoft.com"
    lines = [
        "KODO tenant simulator is running (Ctrl-C to stop).",
        "",
        f"  Sign-in + Graph  {info['url']}   (Graph v1.0: {info['graph_url']})",
        f"  CA bundle        {info['ca_bundle_path']}",
        f"  Control API      {info['control_url']}  (state, requests, faults, device-codes, sign-in, reset)",
    ]
    if info["proxy_url"]:
        lines.append(f"  CONNECT proxy    {info['proxy_url']}   (for {', '.join(REAL_HOST_NAMES[:2])}, ...)")
    lines += ["", "Tenants:"]
    for t in info["tenants"]:
        lines.append(f"  {t['domain']:<32} {t['id']}  signs in as {t['sign_in_user']}")
    lines += [
        "",
        "Point kodo-provision at it with flags:",
        f"  kodo-provision onboard --tenant {first} " + " ".join(info["flags"]),
        "and a CSP partner's customers (Partner Center, GDAP) with bulk:",
        "  kodo-provision bulk --all-customers --home-tenant msp-partner.onmicrosoft.com --out kodo-bulk "
        + " ".join(info["bulk_flags"]),
        "or with environment variables:",
        "  " + " ".join(f"export {k}={v};" for k, v in info["env"].items()),
    ]
    if info["proxy_env"]:
        lines += [
            "or keep the default cloud (login.microsoftonline.com / graph.microsoft.com) through the proxy:",
            "  " + " ".join(f"export {k}={v};" for k, v in info["proxy_env"].items()),
            f"  kodo-provision onboard --tenant {first}",
        ]
    lines += ["", "Device codes are approved automatically as the tenant's sign-in user unless --manual-approval;",
              f"approve by hand with: curl --cacert {info['ca_bundle_path']} -X POST "
              f"{info['url']}/_sim/device-codes/CODE/approve -d '{{\"upn\": \"...\"}}'"]
    return "\n".join(lines)


def _start_failure(exc: BaseException, port: int, proxy_port: int | None) -> UsageError:
    """One line naming the port that is taken and the fix (errno 98/48: EADDRINUSE on Linux/macOS)."""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        taken = [f"--{name} {value}" for name, value in (("port", port), ("proxy-port", proxy_port)) if value]
        which = " or ".join(taken) or "the port"
        return UsageError(f"cannot start the simulator: {which} is already in use",
                          hint="pick another port, or --port 0 --proxy-port 0 for free ones")
    return UsageError(f"cannot start the simulator: {exc}", hint="see kodo-provision simulate --help")


def write_endpoints(workdir: Path, info: dict[str, Any]) -> None:
    """endpoints.json and env.sh in --workdir, written once the simulator serves (a background start waits
    for them): `. DIR/env.sh` points kodo-provision at this simulator."""
    exports = "".join(f"export {k}={v}\n" for k, v in info["env"].items())
    (workdir / "env.sh").write_text(f"# kodo-provision simulate (PID {os.getpid()}): point kodo-provision at it\n"
                                    + exports)
    temp = workdir / "endpoints.json.tmp"
    temp.write_text(json.dumps({**info, "pid": os.getpid()}, indent=2))
    temp.replace(workdir / "endpoints.json")  # complete when it appears


@click.command("simulate")
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Scenario file (YAML or JSON) merged over the built-in default scenario.")
@click.option("--replace-default", is_flag=True, help="Use only --scenario, not the built-in tenants.")
@click.option("--port", type=int, default=0, show_default=True, help="TLS port (0: a free port).")
@click.option("--proxy-port", type=int, default=0, show_default=True, help="CONNECT proxy port (0: a free port).")
@click.option("--no-proxy", is_flag=True, help="Do not start the CONNECT proxy.")
@click.option("--manual-approval", is_flag=True, help="Do not auto-approve device codes.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the CA bundle and server certificate (default: a temporary directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the endpoints as one JSON object.")
@click.option("--background", is_flag=True,
              help="Start it as a background process and return once it serves (needs --workdir, where it "
                   "writes env.sh: `. DIR/env.sh` points kodo-provision at it).")
@click.option("--stop", is_flag=True, help="Stop the background simulator of --workdir.")
@_fault_options
def simulate(scenario_path: Path | None, replace_default: bool, port: int, proxy_port: int, no_proxy: bool,
             manual_approval: bool, workdir: Path | None, as_json: bool, background: bool, stop: bool,
             **fault_values: Any) -> None:
    """Run a local Entra ID + Microsoft Graph (the tenant simulator) over TLS on 127.0.0.1.

    Rehearse onboarding without a real tenant: sign-in, app registration, consent and faults
    (throttling, replication lag, lost responses) behave like Microsoft's services.
    """
    if background or stop:
        from . import simulate_background

        if stop:
            return simulate_background.stop(workdir)
        return simulate_background.start(click.get_current_context(), workdir)
    try:
        scenario = Scenario.default()
        if scenario_path is not None:
            loaded = Scenario.load(scenario_path)
            scenario = loaded if replace_default else scenario | loaded
        if manual_approval:
            scenario = scenario | Scenario.model_validate({"sign_in": {"auto_approve": False}})
        changes = {k: v for k, v in fault_values.items() if v is not None}
        faults = Faults.model_validate(scenario.faults.model_dump() | changes)
    except (pydantic.ValidationError, ValueError, OSError) as exc:
        raise click.ClickException(f"Invalid scenario or fault settings: {exc}") from exc

    sim = Simulator(scenario, faults, port=port, proxy_port=None if no_proxy else proxy_port, workdir=workdir)
    try:
        sim.start()
    except (OSError, RuntimeError) as exc:
        raise _start_failure(exc, port, None if no_proxy else proxy_port) from exc
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        info = describe(sim)
        if workdir is not None:
            write_endpoints(workdir, info)
        click.echo(json.dumps(info) if as_json else _render(info))
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.stop()
        if not as_json:
            click.echo("Simulator stopped.", err=True)
