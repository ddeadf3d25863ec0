"""`kodo-provision demo`: a full onboarding against the built-in tenant simulator.

The simulator stands in for Entra ID and Graph over real TLS on loopback; the product runs
exactly as against Microsoft, pointed at it through its custom-endpoint settings. The device
code is approved by the simulator as its demo Global Administrator.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cloud import resolve_cloud
from ..errors import ExitStatus
from ..flows.options import OnboardOptions
from ..flows.session import ConnectionSettings
from ..manifest.load import load_manifest
from .onboard import run_onboard

DEMO_TENANT = "contoso.onmicrosoft.com"


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True, help="Folder for the demo's credentials file.")
@click.option("--rerun/--no-rerun", default=True, show_default=True,
              help="Run onboarding a second time to show that a re-run changes nothing.")
def demo(out_dir: Path, rerun: bool) -> int:
    """Onboard the simulator's contoso tenant end to end (no Microsoft account needed)."""
    from ..simulator import Scenario, Simulator

    with Simulator(scenario=Scenario.default()) as sim:
        click.echo(f"Simulator: Entra ID + Graph at {sim.url} (CA {sim.ca_bundle_path})", err=True)
        settings = ConnectionSettings(cloud=resolve_cloud("global", authority_host=sim.url,
                                                          graph_endpoint=sim.url),
                                      ca_bundle=str(sim.ca_bundle_path))
        options = OnboardOptions(tenant=DEMO_TENANT, manifest=load_manifest(),
                                 credentials_path=out_dir / f"kodo-credentials-{DEMO_TENANT}.json")
        click.echo(f"== Onboarding {DEMO_TENANT} (the simulator approves the device code as "
                   f"admin@{DEMO_TENANT}, its demo Global Administrator)", err=True)
        status = run_onboard(settings, options, output_format="text", yes=True, show_secret=False)
        if status == ExitStatus.SUCCESS and rerun:
            click.echo("\n== Running again: nothing should change", err=True)
            status = run_onboard(settings, options, output_format="text", yes=True, show_secret=False)
        return status
