#!/usr/bin/env bash
# ansible-test sanity on the collection as it is installed: the checkout's files (tracked and
# new, not ignored) copied into a scratch ansible_collections/vectorops/milvus outside the
# checkout, since ansible-test needs that layout, resolves the collections/ symlink back out of
# it, and inside a git work tree would skip whatever that tree ignores.
# Waivers, each with its reason: tests/sanity/ignore-2.19.txt.
#
# ansible-test makes each test's venv with pip's bootstrap script from ci-files.testing.ansible.com,
# which this network does not reach; a stand-in in its cache installs pip from the interpreter's
# own ensurepip bundle instead, and the requirements then come from PyPI as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vectorops-sanity.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
tree=$scratch/ansible_collections/vectorops/milvus
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$tree"

site=$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" "$site/ansible_test/_internal/python_requirements.py" | head -1)
stub="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ -n "$pip_version" ] && [ ! -s "$stub" ]; then
  mkdir -p "$(dirname "$stub")"
  printf '%s\n' "import subprocess, sys" \
    "sys.exit(subprocess.call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip']))" > "$stub"
fi
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$tree"
ansible-test sanity --local --python "$py" --color no "$@"
