#!/usr/bin/env bash
# Re-resolve every runtime and development dependency and write requirements.lock with the sha256 of every
# distribution file (pip-tools' pip-compile --generate-hashes, in a throwaway venv so the project's own
# environment stays as the lock says). `make install` and CI install from the lock with --require-hashes.
# Upgrade: run `make lock`, review the diff, run `make test`, commit requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
"$PY" -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q "pip-tools>=7.4"
"$tools/venv/bin/pip-compile" -q --generate-hashes --allow-unsafe --no-strip-extras --extra dev --extra simulator \
  --no-emit-index-url --no-emit-find-links --output-file requirements.lock.new pyproject.toml
# The dev extra names the project itself (kodo_provision[simulator]); the project is installed from the
# working tree (pip install --no-deps -e .), never from the lock.
python3 - <<'PY'
import re
from pathlib import Path
text = Path("requirements.lock.new").read_text()
text = re.sub(r"^kodo-provision(\[[^]]*\])? @ [^\n]*\n(    #[^\n]*\n)*", "", text, flags=re.M)
text = text.replace("requirements.lock.new", "requirements.lock")
Path("requirements.lock").write_text(text)
Path("requirements.lock.new").unlink()
PY
echo "requirements.lock: $(grep -c '==' requirements.lock) pinned distributions"
