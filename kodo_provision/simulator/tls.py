"""TLS material for the simulator: a throwaway trustme CA and one leaf certificate.

The leaf covers loopback and the real Microsoft host names so that, through the CONNECT proxy
(proxy.py), clients that trust our CA talk to the simulator under the names they use in
production (graph-facts §7 for CA trust in azure-identity and httpx).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

# Host names the simulator impersonates (login + Graph for the four clouds, AAD Graph, Exchange,
# Partner Center).
# https://learn.microsoft.com/en-us/graph/deployments
REAL_HOST_NAMES: tuple[str, ...] = (
    "login.microsoftonline.com",
    "graph.microsoft.com",
    "login.microsoftonline.us",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "login.chinacloudapi.cn",
    "microsoftgraph.chinacloudapi.cn",
    "graph.windows.net",
    "outlook.office365.com",
    "api.partnercenter.microsoft.com",
)


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the PEM files written for one simulator instance."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def create_tls_material(directory: Path) -> TlsMaterial:
    """Create a CA and a leaf certificate for loopback + REAL_HOST_NAMES in `directory`."""
    ca = trustme.CA(organization_name="KODO tenant simulator")
    leaf = ca.issue_cert("127.0.0.1", "localhost", *REAL_HOST_NAMES)
    material = TlsMaterial(
        ca_path=directory / "ca.pem",
        cert_path=directory / "server-chain.pem",
        key_path=directory / "server-key.pem",
    )
    ca.cert_pem.write_to_path(str(material.ca_path))
    # The key is the simulator's only secret: 0600 from the first byte (like the tool's own files).
    fd = os.open(material.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(leaf.private_key_pem.bytes())
    for i, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(material.cert_path), append=i > 0)
    return material
