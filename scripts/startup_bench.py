"""`make bench`: how soon `kodo-provision onboard` makes its first network request (issue 17).

A real process, started the way a user starts it (the console script), pointed at a bare TCP listener on
loopback (a configured endpoint: loopback is allowed). The figure is the time from just before the process
is spawned to the moment the listener accepts its first connection (the sign-in's first request), the
median of several runs. The listener answers nothing, so the figure is free of any server's work. Printed,
never asserted.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15


def first_connection_after_start(script: str, home: Path) -> float:
    """Seconds from spawning `onboard` to its first connection; the process is then stopped."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}"
        argv = [script, "onboard", "--yes", "--tenant", "contoso.onmicrosoft.com", "--authority-host", url,
                "--graph-endpoint", url]
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=home,  # noqa: S603
                                env={**os.environ, "HOME": str(home)})
        try:
            connection, _ = listener.accept()
            elapsed = time.perf_counter() - started
            connection.close()
            return elapsed
        finally:
            proc.kill()
            proc.wait()


def main() -> int:
    script = shutil.which("kodo-provision", path=str(Path(sys.executable).parent))
    if script is None:
        print("kodo-provision is not installed in this environment: run `make install`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        first_connection_after_start(script, Path(tmp))  # warm the OS file cache, as on a second run
        figures = sorted(first_connection_after_start(script, Path(tmp)) for _ in range(RUNS))
    print("\n## Startup: process start → first network request of `onboard`\n")
    print(f"median {statistics.median(figures) * 1000:.0f} ms, min {figures[0] * 1000:.0f} ms, "
          f"max {figures[-1] * 1000:.0f} ms ({RUNS} runs, console script, Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
