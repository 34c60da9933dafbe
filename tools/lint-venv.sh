#!/usr/bin/env bash
# Creates .cache/lint-venv and installs tools/requirements-lint.txt into it; reinstalls only when
# an installed version differs from its pin (a second run costs one python start).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/lint-venv req=tools/requirements-lint.txt
pins_installed() {
  "$venv/bin/python" - "$req" <<'PY'
import re, sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    pin = re.match(r"\s*([A-Za-z0-9_.-]+)==(\S+)", line)
    if not pin:
        continue
    try:
        if version(pin[1]) != pin[2]:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
# A venv's scripts name its python by absolute path: one copied or moved from another checkout
# does not run here, so it is made again.
made_here() { [ "$(head -1 "$venv/bin/ansible-lint" 2>/dev/null)" = "#!$PWD/$venv/bin/python" ]; }
if [ -x "$venv/bin/python" ] && made_here && pins_installed; then
  exit 0
fi
echo "[lint-venv] installing $req into $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$req"
pins_installed || { echo "[lint-venv] $venv does not hold the versions $req pins" >&2; exit 1; }
