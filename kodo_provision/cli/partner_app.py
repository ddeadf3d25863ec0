"""`kodo-provision partner-app`: the CSP partner's own sign-in app (show, setup, remove-consent, remove)."""

from __future__ import annotations

import asyncio

import click

from .. import environment
from ..auth import validate_tenant
from ..errors import ExitStatus
from ..partner import manage
from .common import connection_settings, echo_json
from .interrupts import mark_changing
from .options import configured_logging, connection_options, output_options

GROUP_HELP = """The CSP partner's own sign-in app, which `bulk` uses to reach customers.

\b
A partner admin's sign-in cannot consent in a customer tenant (Entra answers AADSTS65001
to every silent request there). Partner Center can consent an app of the partner's own
tenant in a customer, on the strength of the admin's GDAP role there. So the first bulk run
of a partner creates "KODO Provisioning (partner sign-in)" in the partner tenant: a
multi-tenant public client with only delegated permissions (no secret), consented there,
and consented in each customer through Partner Center. It is remembered in
$XDG_CONFIG_HOME/kodo-provision/partner-sign-in.json.

\b
Examples:
  kodo-provision partner-app show
  kodo-provision partner-app setup --home-tenant msp.onmicrosoft.com
  kodo-provision partner-app remove-consent --tenant customer.onmicrosoft.com
  kodo-provision partner-app remove
"""


def _home(home_tenant: str) -> str:
    return home_tenant if home_tenant.lower() in ("organizations", "common") else validate_tenant(home_tenant)


def home_tenant_option(func):
    return click.option("--home-tenant", default="organizations", show_default=True,
                        help="The partner tenant (as given to bulk --home-tenant).")(func)


@click.group("partner-app", help=GROUP_HELP)
def partner_app_group() -> None:
    """The partner's sign-in app."""


@partner_app_group.command("show", help="Show the remembered sign-in app and its permissions (no sign-in).")
@home_tenant_option
@connection_options
@output_options
def show(home_tenant: str, cloud: str, authority_host: str | None, graph_endpoint: str | None,
         ca_bundle: str | None, client_id: str | None, output_format: str, log_format: str, log_level: str | None,
         log_file: str | None) -> int:
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id)
    view = manage.show(settings, _home(home_tenant))
    if output_format == "json":
        echo_json(view.to_dict())
        return ExitStatus.SUCCESS
    data = view.to_dict()
    if view.app is None:
        click.echo(f"No partner sign-in app set up for {home_tenant} yet (a partner's first bulk run, or "
                   "`kodo-provision partner-app setup`, creates it).")
    else:
        click.echo(f"{data['display_name']}  client ID {view.app.client_id}  partner tenant {view.app.tenant_id}")
    for resource, scopes in view.delegated.items():
        click.echo(f"  {resource} (delegated): {', '.join(scopes)}")
    return ExitStatus.SUCCESS


@partner_app_group.command("setup", help="Create or adopt the sign-in app in the partner tenant (one sign-in).")
@home_tenant_option
@connection_options
@output_options
def setup(home_tenant: str, cloud: str, authority_host: str | None, graph_endpoint: str | None,
          ca_bundle: str | None, client_id: str | None, output_format: str, log_format: str, log_level: str | None,
          log_file: str | None) -> int:
    mark_changing()
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id)
    with configured_logging(log_format, log_level, log_file):
        app = asyncio.run(manage.setup(settings, _home(home_tenant)))
    if output_format == "json":
        echo_json({"schema_version": 1, "client_id": app.client_id, "tenant_id": app.tenant_id})
    else:
        click.echo(f"{app.display_name} is ready: client ID {app.client_id} in tenant {app.tenant_id}")
    return ExitStatus.SUCCESS


@partner_app_group.command("remove-consent", help="Remove the sign-in app's consent from customers (Partner Center).")
@click.option("--tenant", "tenants", multiple=True, required=True, metavar="TENANT",
              help="Customer tenant ID or domain (repeatable).")
@click.option("--partner-center-endpoint", metavar="URL", help="Custom Partner Center endpoint (e.g. the simulator).")
@home_tenant_option
@connection_options
@output_options
def remove_consent(tenants: tuple[str, ...], partner_center_endpoint: str | None, home_tenant: str, cloud: str,
                   authority_host: str | None,
                   graph_endpoint: str | None, ca_bundle: str | None, client_id: str | None, output_format: str,
                   log_format: str, log_level: str | None, log_file: str | None) -> int:
    customers = [validate_tenant(t) for t in tenants]
    mark_changing()
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id,
                                   partner_center_endpoint=partner_center_endpoint)
    with configured_logging(log_format, log_level, log_file):
        stderr = environment.current().err()
        removed = asyncio.run(manage.remove_consent(settings, _home(home_tenant), customers, stderr))
    if output_format == "json":
        echo_json({"schema_version": 1, "removed": removed})
    else:
        for tenant, was in removed.items():
            click.echo(f"- {tenant}: " + ("consent removed" if was else "no consent there"))
    return ExitStatus.SUCCESS


@partner_app_group.command("remove", help="Delete the sign-in app from the partner tenant and forget it.")
@home_tenant_option
@connection_options
@output_options
def remove(home_tenant: str, cloud: str, authority_host: str | None, graph_endpoint: str | None,
           ca_bundle: str | None, client_id: str | None, output_format: str, log_format: str, log_level: str | None,
           log_file: str | None) -> int:
    mark_changing()
    settings = connection_settings(cloud, authority_host, graph_endpoint, ca_bundle, client_id)
    with configured_logging(log_format, log_level, log_file):
        app = asyncio.run(manage.remove_app(settings, _home(home_tenant), environment.current().err()))
    if output_format == "json":
        echo_json({"schema_version": 1, "removed_client_id": app.client_id})
    else:
        click.echo(f"- {app.display_name} ({app.client_id}) deleted from tenant {app.tenant_id}; its consent in "
                   "customers stays until `kodo-provision partner-app remove-consent --tenant T` removes it")
    return ExitStatus.SUCCESS
