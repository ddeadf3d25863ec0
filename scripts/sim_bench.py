"""Benchmark: Graph requests per second the tenant simulator serves with all faults off.

The simulator runs in its own process (`kodo-provision simulate --json`, as users run it) so the
load generator does not share its interpreter lock. Usage:

    .venv/bin/python scripts/sim_bench.py [--seconds 5] [--clients 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import signal
import ssl
import subprocess
import sys
import time

import httpx

PATHS = ["/v1.0/organization", "/v1.0/applications?$filter=displayName%20eq%20'bench'", "/v1.0/me",
         "/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$select=id,appId"]

CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
SCOPES = "https://graph.microsoft.com/Application.ReadWrite.All https://graph.microsoft.com/User.Read offline_access"


def sign_in(url: str, ctx: ssl.SSLContext) -> str:
    """A delegated token through the device-code endpoints (auto-approved by the default scenario)."""
    with httpx.Client(verify=ctx, base_url=url) as c:
        dc = c.post("/contoso.onmicrosoft.com/oauth2/v2.0/devicecode", data={"client_id": CLIENT_ID, "scope": SCOPES})
        tok = c.post("/contoso.onmicrosoft.com/oauth2/v2.0/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": CLIENT_ID,
            "device_code": dc.json()["device_code"]})
        tok.raise_for_status()
        token = tok.json()["access_token"]
        c.post("/v1.0/applications", json={"displayName": "bench"}, headers={"Authorization": f"Bearer {token}"})
        return token


def _worker(url: str, ca: str, token: str, seconds: float, out: multiprocessing.Queue) -> None:
    """One keep-alive HTTPS connection (stdlib http.client: a light client, so the server is measured)."""
    host, port = url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx)
    headers = {"Authorization": f"Bearer {token}"}
    ok = failed = n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("GET", PATHS[n % len(PATHS)], headers=headers)
        resp = conn.getresponse()
        resp.read()
        n += 1
        if resp.status == 200:
            ok += 1
        else:
            failed += 1
    conn.close()
    out.put((ok, failed))


def load(url: str, ca: str, token: str, seconds: float, workers: int) -> tuple[int, int]:
    """Run `workers` client processes in parallel; returns (ok, failed) summed."""
    out: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_worker, args=(url, ca, token, seconds, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 30) for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=3, help="client processes, one connection each")
    args = parser.parse_args()
    proc = subprocess.Popen([sys.executable, "-c", "from kodo_provision.cli.simulate import simulate; simulate()",
                             "--json", "--no-proxy"], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        ctx = ssl.create_default_context(cafile=info["ca_bundle_path"])
        token = sign_in(info["url"], ctx)
        start = time.monotonic()
        ok, failed = load(info["url"], info["ca_bundle_path"], token, args.seconds, args.clients)
        elapsed = time.monotonic() - start
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    rate = ok / elapsed
    print(f"Graph requests/s (faults off, TLS, {args.clients} keep-alive connections, {elapsed:.1f} s): {rate:.0f} "
          f"({ok} ok, {failed} failed)")
    print("target >= 500/s:", "met" if rate >= 500 and not failed else "NOT met")
    return 0 if rate >= 500 and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
