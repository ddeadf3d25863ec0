"""Issue 16: the README's walkthrough (simulate → onboard → plan → verify → bulk) runs exactly as written,
as a user's shell runs it: docs that cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
MARK = "<!-- walkthrough:"


def walkthrough() -> str:
    """The fenced block right after the walkthrough marker."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text[text.index(MARK):], re.S)
    assert block, "the README has no walkthrough block"
    return block.group(1)


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    script = walkthrough()
    assert "kodo-provision onboard" in script and "kodo-provision bulk" in script
    bin_dir = str(Path(sys.executable).parent)  # where `make install` put the console script
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KODO_", "HTTPS_PROXY", "https_proxy"))}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        run = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    finally:
        if (tmp_path / ".kodo-sim" / "endpoints.json").exists():  # a failed step left it running
            subprocess.run([f"{bin_dir}/kodo-provision", "simulate", "--stop", "--workdir", ".kodo-sim"],
                           cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert "2 tenant(s): 2 succeeded" in run.stdout
    assert (tmp_path / "kodo-credentials-contoso.onmicrosoft.com.json").exists()
    assert "Simulator stopped" in run.stdout and not (tmp_path / ".kodo-sim" / "endpoints.json").exists()
    assert "Traceback" not in run.stderr
