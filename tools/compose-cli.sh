#!/usr/bin/env bash
# Puts the Docker Compose v2 CLI at .cache/tools/docker-compose for the unit tier's
# `docker compose config` checks of every rendered compose file (the controller's Debian 12
# has only Compose v1). It is the same Compose the sandbox hosts run: Debian 13's
# docker-compose package, found in trixie's package index and checked against the index's
# SHA256. Kept once fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/tools/docker-compose
mirror=${VECTOROPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -x "$out" ] && "$out" version >/dev/null 2>&1; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "[compose-cli] fetching docker-compose from Debian trixie ($mirror)"
curl -fsS --retry 3 -o "$work/Packages.xz" "$mirror/dists/trixie/main/binary-amd64/Packages.xz"
entry=$(python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$work/Packages.xz" | awk '/^Package: docker-compose$/ {p = 1} p && /^$/ {p = 0} p')
file=$(awk '/^Filename: / {print $2}' <<<"$entry")
sum=$(awk '/^SHA256: / {print $2}' <<<"$entry")
if [ -z "$file" ] || [ -z "$sum" ]; then
  echo "[compose-cli] docker-compose is not in trixie's package index" >&2
  exit 1
fi
curl -fsS --retry 3 -o "$work/compose.deb" "$mirror/$file"
echo "$sum  $work/compose.deb" | sha256sum -c --quiet -
dpkg-deb -x "$work/compose.deb" "$work/x"
mkdir -p "$(dirname "$out")"
install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$out"
echo "[compose-cli] $("$out" version)"
